package lease

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
)

// fakeDB is the lease as a database keeps it, on the bubble's clock.
type fakeDB struct {
	mu       sync.Mutex
	gen      int64 // the last generation handed out
	holder   string
	current  int64 // the lease's generation; 0: never taken
	deadline time.Time
}

// client is one parkd's connection to fakeDB; cut makes its calls hang
// until their context ends, as over a network partition.
type client struct {
	db   *fakeDB
	name string
	mu   sync.Mutex
	cut  bool
}

var errCut = errors.New("connection timed out")

func (c *client) partitioned(ctx context.Context) error {
	c.mu.Lock()
	cut := c.cut
	c.mu.Unlock()
	if !cut {
		return nil
	}
	<-ctx.Done()
	return errCut
}

func (c *client) setCut(cut bool) {
	c.mu.Lock()
	c.cut = cut
	c.mu.Unlock()
}

func (c *client) Acquire(ctx context.Context, ttl time.Duration) (int64, time.Duration, bool, error) {
	if err := c.partitioned(ctx); err != nil {
		return 0, 0, false, err
	}
	d := c.db
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.current != 0 && time.Now().Before(d.deadline) {
		return 0, time.Until(d.deadline), false, nil
	}
	d.gen++
	d.current, d.holder, d.deadline = d.gen, c.name, time.Now().Add(ttl)
	return d.current, 0, true, nil
}

func (c *client) Renew(ctx context.Context, gen int64, ttl time.Duration) (bool, error) {
	if err := c.partitioned(ctx); err != nil {
		return false, err
	}
	d := c.db
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.current != gen || !time.Now().Before(d.deadline) {
		return false, nil
	}
	d.deadline = time.Now().Add(ttl)
	return true, nil
}

func (c *client) Release(ctx context.Context, gen int64) error {
	if err := c.partitioned(ctx); err != nil {
		return err
	}
	d := c.db
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.current == gen && time.Now().Before(d.deadline) {
		d.deadline = time.Now()
	}
	return nil
}

// fence is what parkd_fence checks: gen is the current, unexpired lease.
func (d *fakeDB) fence(gen int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.current == gen && time.Now().Before(d.deadline)
}

// term is one time a parkd was active: from lead's call to the moment its
// context was cancelled (zero: still active), and why.
type term struct {
	who        string
	gen        int64
	start, end time.Time
	cause      error
}

// pair is two parkd campaigning for one lease.
type pair struct {
	t      *testing.T
	db     *fakeDB
	mu     sync.Mutex
	terms  []*term
	cancel map[string]context.CancelFunc
	done   map[string]chan error
	// fenced counts the writes each leader tried while its context was
	// still running and the fence refused (must stay 0).
	fenced int
}

func newPair(t *testing.T) *pair {
	return &pair{t: t, db: &fakeDB{}, cancel: map[string]context.CancelFunc{}, done: map[string]chan error{}}
}

// start runs an elector for name; its leader writes through the fence
// every 100 ms while it is active.
func (p *pair) start(name string) *client {
	c := &client{db: p.db, name: name}
	e := &Elector{Store: c, Renew: time.Second, TTL: 3 * time.Second, Logger: zerolog.Nop()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	p.cancel[name], p.done[name] = cancel, done
	go func() {
		done <- e.Run(ctx, func(ctx context.Context, gen int64) error {
			tm := &term{who: name, gen: gen, start: time.Now()}
			p.mu.Lock()
			p.terms = append(p.terms, tm)
			p.mu.Unlock()
			tick := time.NewTicker(100 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-ctx.Done():
					p.mu.Lock()
					tm.end, tm.cause = time.Now(), context.Cause(ctx)
					p.mu.Unlock()
					return nil
				case <-tick.C:
					if !p.db.fence(gen) {
						p.mu.Lock()
						p.fenced++
						p.mu.Unlock()
					}
				}
			}
		})
	}()
	return c
}

func (p *pair) stop(name string) error {
	p.cancel[name]()
	return <-p.done[name]
}

func (p *pair) snapshot() []term {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]term, len(p.terms))
	for i, t := range p.terms {
		out[i] = *t
	}
	return out
}

// check fails if two terms overlap or a leader acted outside its lease.
func (p *pair) check() {
	p.t.Helper()
	ts := p.snapshot()
	for i := 1; i < len(ts); i++ {
		prev := ts[i-1]
		if prev.end.IsZero() || ts[i].start.Before(prev.end) {
			p.t.Fatalf("two active at once: %+v then %+v", prev, ts[i])
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fenced != 0 {
		p.t.Fatalf("a leader wrote %d times while the fence would have refused it", p.fenced)
	}
}

// Ensure the first parkd takes the lease and keeps it by renewing, while
// the second stands by without ever leading.
func TestElector_AcquireAndRenew(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t)
		p.start("a")
		synctest.Wait()
		p.start("b")
		time.Sleep(time.Minute)
		ts := p.snapshot()
		if len(ts) != 1 || ts[0].who != "a" || !ts[0].end.IsZero() {
			t.Fatalf("terms=%+v, want a active throughout", ts)
		}
		p.check()
		p.stop("b")
		p.stop("a")
	})
}

// Ensure a parkd cut off from the database stops acting before its lease
// lapses in the database, and the standby takes over right after the
// lapse: never two active at once, never a write the fence would refuse.
func TestElector_LapseAndTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t)
		a := p.start("a")
		synctest.Wait()
		p.start("b")
		time.Sleep(10 * time.Second)
		cutAt := time.Now()
		a.setCut(true)
		p.db.mu.Lock()
		lapse := p.db.deadline // a cannot renew it any more
		p.db.mu.Unlock()
		time.Sleep(10 * time.Second)
		ts := p.snapshot()
		if len(ts) != 2 || ts[0].who != "a" || ts[1].who != "b" {
			t.Fatalf("terms=%+v, want a then b", ts)
		}
		if !errors.Is(ts[0].cause, ErrLost) {
			t.Fatalf("a's term ended by %v, want %v", ts[0].cause, ErrLost)
		}
		// a renewed last at most one second before the cut: it stops by
		// three seconds (its TTL) after that renewal.
		if d := ts[0].end.Sub(cutAt); d > 3*time.Second {
			t.Fatalf("a went on acting %v after the cut", d)
		}
		if !ts[0].end.Before(lapse) {
			t.Fatalf("a stopped at %v, after its lease lapsed in the database (%v)", ts[0].end, lapse)
		}
		// b, told how long the lease had left, tries right after it lapses.
		if d := ts[1].start.Sub(lapse); d < 0 || d > 2*lapseSlack {
			t.Fatalf("b took over %v after the lease lapsed, want within %v", d, 2*lapseSlack)
		}
		if ts[1].gen <= ts[0].gen {
			t.Fatalf("b's generation %d is not newer than a's %d", ts[1].gen, ts[0].gen)
		}
		p.check()

		// a comes back: it is the standby now, and b keeps the lease.
		a.setCut(false)
		time.Sleep(10 * time.Second)
		if ts := p.snapshot(); len(ts) != 2 || !ts[1].end.IsZero() {
			t.Fatalf("terms=%+v, want b still active", ts)
		}
		p.check()
		p.stop("a")
		p.stop("b")
	})
}

// Ensure a holder whose renewal is refused (its generation is stale: the
// lease was taken from it) stops at once, at that renewal, without
// waiting for its own deadline.
func TestElector_StaleGenerationStopsAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t)
		p.start("a")
		time.Sleep(1500 * time.Millisecond) // between two renewals
		// Another parkd forced the lease (an operator, a clock jump):
		// a's generation is stale.
		p.db.mu.Lock()
		p.db.gen++
		p.db.current, p.db.holder, p.db.deadline = p.db.gen, "intruder", time.Now().Add(time.Hour)
		p.db.mu.Unlock()
		taken := time.Now()
		time.Sleep(5 * time.Second)
		ts := p.snapshot()
		if len(ts) != 1 || !errors.Is(ts[0].cause, ErrLost) {
			t.Fatalf("terms=%+v, want a's ended by %v", ts, ErrLost)
		}
		if d := ts[0].end.Sub(taken); d > time.Second {
			t.Fatalf("a stopped %v after its lease was taken, want at its next renewal (<= 1s)", d)
		}
		p.stop("a")
	})
}

// Ensure stopping the active parkd hands the lease over: its leader is
// told ErrShutdown, the lease is released, and the standby takes it at
// its next try rather than when it would have lapsed.
func TestElector_ShutdownHandsOver(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newPair(t)
		p.start("a")
		synctest.Wait()
		p.start("b")
		time.Sleep(5 * time.Second)
		stopped := time.Now()
		if err := p.stop("a"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
		ts := p.snapshot()
		if len(ts) != 2 || !errors.Is(ts[0].cause, ErrShutdown) || ts[1].who != "b" {
			t.Fatalf("terms=%+v, want a ended by shutdown, then b", ts)
		}
		if d := ts[1].start.Sub(stopped); d > time.Second {
			t.Fatalf("b took over %v after a stopped, want within one try (1s)", d)
		}
		p.check()
		p.stop("b")
	})
}

// Ensure a leader that takes longer than the lease to stop gracefully
// keeps the lease until it has stopped: the standby takes over only then,
// at once.
func TestElector_SlowStopKeepsTheLease(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{}
		ctx, cancel := context.WithCancel(context.Background())
		var stoppedAt time.Time // written before a's Run returns, read after
		bAt := make(chan time.Time, 1)
		aDone := make(chan error, 1)
		a := &Elector{Store: &client{db: db, name: "a"}, Renew: time.Second, TTL: 3 * time.Second, Logger: zerolog.Nop()}
		go func() {
			aDone <- a.Run(ctx, func(ctx context.Context, gen int64) error {
				<-ctx.Done()
				time.Sleep(10 * time.Second) // a graceful stop, longer than the TTL
				if !db.fence(gen) {
					t.Error("the lease lapsed while the leader was still stopping")
				}
				stoppedAt = time.Now()
				return nil
			})
		}()
		synctest.Wait()
		bctx, bcancel := context.WithCancel(context.Background())
		bDone := make(chan error, 1)
		b := &Elector{Store: &client{db: db, name: "b"}, Renew: time.Second, TTL: 3 * time.Second, Logger: zerolog.Nop()}
		go func() {
			bDone <- b.Run(bctx, func(ctx context.Context, gen int64) error {
				bAt <- time.Now()
				<-ctx.Done()
				return nil
			})
		}()
		time.Sleep(2 * time.Second)
		cancel()
		if err := <-aDone; err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		select {
		case at := <-bAt:
			if at.Before(stoppedAt) || at.Sub(stoppedAt) > time.Second {
				t.Fatalf("a stopped at %v, b took over at %v: want b after a, within one try", stoppedAt, at)
			}
		default:
			t.Fatal("b never took over")
		}
		bcancel()
		<-bDone
	})
}

// Ensure a leader that fails ends Run with its error and lets the lease go.
func TestElector_LeadFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := &fakeDB{}
		c := &client{db: db, name: "a"}
		e := &Elector{Store: c, Renew: time.Second, TTL: 3 * time.Second, Logger: zerolog.Nop()}
		boom := errors.New("cannot listen")
		if err := e.Run(context.Background(), func(context.Context, int64) error { return boom }); !errors.Is(err, boom) {
			t.Fatalf("Run=%v, want %v", err, boom)
		}
		if db.fence(db.current) {
			t.Fatal("the lease still runs after the leader failed")
		}
	})
}

// Ensure a TTL no longer than the renewal is refused.
func TestElector_BadTimings(t *testing.T) {
	e := &Elector{Store: &client{db: &fakeDB{}}, Renew: time.Second, TTL: time.Second}
	if err := e.Run(context.Background(), func(context.Context, int64) error { return nil }); err == nil {
		t.Fatal("Run accepted ttl == renew")
	}
}
