package esl_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// eventually polls cond for what happens asynchronously.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// Ensure Stats says connected and reconciled once Run is up, counts a
// dropped inbound connection as one reconnect, and counts a command that
// could not be sent as a command error.
func TestClient_StatsReconnectsAndErrors(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{})
	c := esl.NewClient(sim.Addr(), "ClueCon")
	c.Calls = &recordingCalls{}
	c.MinBackoff, c.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	eventually(t, "connected and reconciled", func() bool { return c.Stats().Reconciled })
	if st := c.Stats(); !st.Connected || st.Reconnects != 0 || st.CommandErrors != 0 {
		t.Fatalf("after connecting: %+v", st)
	}
	sim.DropInbound()
	eventually(t, "a reconnect counted and the connection back", func() bool {
		st := c.Stats()
		return st.Reconnects == 1 && st.Reconciled
	})

	cancel()
	<-done
	if st := c.Stats(); st.Connected || st.Reconciled {
		t.Fatalf("after Run ended: %+v", st)
	}
	if _, err := c.API(context.Background(), command.API{Command: "status"}); !errors.Is(err, esl.ErrNotConnected) {
		t.Fatalf("API while down: %v", err)
	}
	if st := c.Stats(); st.CommandErrors != 1 || st.Reconnects != 1 {
		t.Fatalf("after a command while down: %+v, want 1 command error, still 1 reconnect", st)
	}
}

// Ensure a connection whose reconcile failed is connected but not
// reconciled: parkd is not ready until it has caught up with the switch.
func TestClient_StatsNotReconciled(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{})
	calls := &flakyCalls{fails: 1 << 30}
	c := esl.NewClient(sim.Addr(), "ClueCon")
	c.Calls = calls
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	eventually(t, "a reconcile tried", func() bool { return calls.count() >= 1 })
	if st := c.Stats(); !st.Connected || st.Reconciled {
		t.Fatalf("after a failed reconcile: %+v, want connected and not reconciled", st)
	}
}

// observed records what the server's Observe hook is told.
type observed struct {
	mu  sync.Mutex
	ops []string // "op lot"
}

func (o *observed) observe(op, lot string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if d <= 0 {
		op += " non-positive"
	}
	o.ops = append(o.ops, op+" "+lot)
}

func (o *observed) get() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.ops)
}

// Ensure the server tells Observe of a park once the call hears music and
// of a retrieve once the retriever is bridged, with the lot and a
// positive duration, and of nothing for a refused retrieve.
func TestServer_ObservesParkAndRetrieve(t *testing.T) {
	var obs observed
	r := startKeyRig(t, func(s *esl.Server) { s.Observe = obs.observe })
	caller := r.press(t, "5550100", "302", "", reception)
	r.parkedIn(t, caller, "vip", 302)
	eventually(t, "the park observed", func() bool { return len(obs.get()) == 1 })
	phone := r.press(t, "1001", "302", "", "")
	retrieved(t, phone, caller)
	eventually(t, "the retrieve observed", func() bool { return len(obs.get()) == 2 })
	r.empty(t)
	empty := r.press(t, "1002", "302", "", "")
	if _, err := empty.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.Alive }); err != nil {
		t.Fatalf("refused retriever not hung up: %v", err)
	}
	if got, want := obs.get(), []string{"park vip", "retrieve vip"}; !slices.Equal(got, want) {
		t.Fatalf("observed %q, want %q", got, want)
	}
}

// slowHistory is a Parking whose Park starts the music on the call and
// then waits, as the Service waits for the park's history row to be
// written (longer with a commit period, parking.Service.CommitEvery).
type slowHistory struct {
	entered chan time.Time // when the music was on and the wait began
	release chan struct{}
}

func (p *slowHistory) Park(ctx context.Context, req parking.ParkRequest) (parking.Occupant, error) {
	occ := parking.Occupant{Lot: "main", Slot: 201, Call: req.Leg.Call(), ParkedAt: time.Now()}
	if err := req.Leg.Hold(ctx, parking.Hold{Lot: occ.Lot, Slot: occ.Slot, ParkedAt: occ.ParkedAt, Music: "local_stream://moh"}); err != nil {
		return parking.Occupant{}, err
	}
	p.entered <- time.Now()
	<-p.release
	return occ, nil
}

func (p *slowHistory) Retrieve(context.Context, parking.RetrieveRequest) (parking.Occupant, error) {
	return parking.Occupant{}, parking.ErrSlotEmpty
}

func (p *slowHistory) LotOfSlot(string, int) (string, bool) { return "", false }

// Ensure Observe is told parkd's time to the music, not to the end of the
// park: the history write that follows the music (and the commit period
// it may wait for) is no part of what the caller waits for. The wait after
// the music is made longer than twice the whole time to it, so a duration
// that included it could not pass.
func TestServer_ObserveEndsAtTheMusic(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	p := &slowHistory{entered: make(chan time.Time, 1), release: make(chan struct{})}
	srv := esl.NewServer(p)
	srv.Logger = zerolog.Nop()
	var mu sync.Mutex
	var got []time.Duration
	srv.Observe = func(op, lot string, d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, d)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	})
	t0 := time.Now()
	if _, err := sim.Call(fstest.CallSpec{
		SocketAddr: ln.Addr().String(), CallerNumber: "4101", CallerName: "Patient", Destination: "*70",
		Vars:     map[string]string{esl.VarAction: esl.ActionPark, esl.VarLot: "main"},
		Answered: true, ReferredBy: "<sip:1000@127.0.0.1>",
	}); err != nil {
		t.Fatal(err)
	}
	var entered time.Time
	select {
	case entered = <-p.entered:
	case <-time.After(5 * time.Second):
		t.Fatal("the music did not start")
	}
	toMusic := entered.Sub(t0) // at least the observed time, if it ends at the music
	time.Sleep(2*toMusic + 10*time.Millisecond)
	close(p.release)
	eventually(t, "the park observed", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) == 1 })
	mu.Lock()
	defer mu.Unlock()
	if got[0] <= 0 || got[0] > toMusic {
		t.Fatalf("observed %v, want at most %v: the time to the music, without the wait after it", got[0], toMusic)
	}
}
