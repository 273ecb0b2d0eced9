package daemon

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/testkit"
	"github.com/parkd/parkd/parking"
)

// Ensure parks and retrieves work while the inbound connection to
// FreeSWITCH is down: they only need the call's own socket.
func TestE2E_InboundDown(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	h := &harness{t: t, sim: sim}
	c := startConfig(t, sim)
	c.ESL.FreeSWITCH = testkit.FreeAddr(t) // nothing listens there
	m := &Main{Config: c, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.m = m
	t.Cleanup(func() { m.Close() })
	jane := h.park("202")
	r := h.call("retrieve", "main", "202")
	h.waitFor(jane, "retrieved without the inbound connection", bridgedTo(r))
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// failingStore fails every write while broken is set, like a full disk.
type failingStore struct {
	parking.Store
	mu     sync.Mutex
	broken bool
}

func (f *failingStore) Record(ctx context.Context, t parking.Transition) error {
	f.mu.Lock()
	broken := f.broken
	f.mu.Unlock()
	if broken {
		return fmt.Errorf("disk I/O error: database or disk is full")
	}
	return f.Store.Record(ctx, t)
}

func (f *failingStore) set(b bool) {
	f.mu.Lock()
	f.broken = b
	f.mu.Unlock()
}

// Ensure a failing disk never costs a caller: parks and retrieves go on,
// the failure is logged loudly, and the history catches up in order once
// the disk works again.
func TestE2E_DiskFull(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim)}
	fs := &failingStore{}
	logs := &testkit.Buffer{}
	m := &Main{Config: h.cfg, Logger: zerolog.New(logs).Level(zerolog.InfoLevel), RetryEvery: 20 * time.Millisecond,
		WrapStore: func(s parking.Store) parking.Store { fs.Store = s; return fs }}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.m = m
	t.Cleanup(func() { m.Close() })
	testkit.WaitUntil(t, 5*time.Second, "connected", func() bool {
		select {
		case <-m.Client.Connected():
			return true
		default:
			return false
		}
	})

	fs.set(true)
	jane := h.park("202")
	r := h.call("retrieve", "main", "202")
	h.waitFor(jane, "retrieved while the disk is full", bridgedTo(r))
	tom := h.park("203")
	// The music starts before the row is queued: wait for the queue.
	testkit.WaitUntil(t, 5*time.Second, "3 rows pending", func() bool { return m.Service.Pending() == 3 })
	if !strings.Contains(logs.String(), `"level":"error"`) || !strings.Contains(logs.String(), "history write failed") {
		t.Fatalf("no loud error logged:\n%s", logs)
	}
	// Nothing happens on the calls now: the daemon's retry writes the rows.
	fs.set(false)
	testkit.WaitUntil(t, 5*time.Second, "the held-back rows written", func() bool { return m.Service.Pending() == 0 })
	if got, want := h.history(jane.UUID()), []parking.Event{parking.EventParked, parking.EventRetrieved}; !slices.Equal(got, want) {
		t.Fatalf("jane: history=%v, want %v", got, want)
	}
	if occ := h.occupied(); len(occ) != 1 || occ[0].Call != parking.CallID(tom.UUID()) {
		t.Fatalf("occupancy=%+v", occ)
	}
}

// Ensure a FreeSWITCH restart is noticed: its parked calls are closed as
// lost (not abandoned), the slots are free, and parkd carries on once the
// switch is back.
func TestE2E_SwitchRestart(t *testing.T) {
	h := startHarness(t)
	a, b := h.park("201"), h.park("202")
	if err := h.sim.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []*fstest.Channel{a, b} {
		h.waitHistory(ch.UUID(), parking.EventParked, parking.EventLost)
		if r := h.lastRow(ch.UUID()); !strings.Contains(r.Reason, "FreeSWITCH shut down") {
			t.Fatalf("lost reason %q", r.Reason)
		}
	}
	if len(h.occupied()) != 0 {
		t.Fatal("slots not freed")
	}
	testkit.WaitUntil(t, 5*time.Second, "reconnected", func() bool {
		select {
		case <-h.m.Client.Connected():
			return true
		default:
			return false
		}
	})
	c := h.park("201")
	r := h.call("retrieve", "main", "201")
	h.waitFor(c, "parkd works after the switch restart", bridgedTo(r))
}

// Ensure a database locked by another process (a supervisor's tool holding
// a write transaction) never costs a caller: the park and the retrieve go
// on, the failed writes are logged and wait, and the history is written in
// order once the lock is released. A real SQLite lock, not a stand-in.
func TestE2E_DatabaseLocked(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim)}
	logs := &testkit.Buffer{}
	m := &Main{Config: h.cfg, Logger: zerolog.New(logs).Level(zerolog.InfoLevel), BusyTimeout: 50 * time.Millisecond}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.m = m
	t.Cleanup(func() { m.Close() })

	other, err := sql.Open("sqlite3", h.cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	if _, err := other.Exec("BEGIN IMMEDIATE"); err != nil { // the write lock, held
		t.Fatal(err)
	}
	jane := h.park("202")
	r := h.call("retrieve", "main", "202")
	h.waitFor(jane, "retrieved while the database is locked", bridgedTo(r))
	testkit.WaitUntil(t, 5*time.Second, "2 rows pending", func() bool { return m.Service.Pending() == 2 })
	if !strings.Contains(logs.String(), "database is locked") {
		t.Fatalf("the lock was not logged:\n%s", logs)
	}
	if _, err := other.Exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := m.Service.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := h.history(jane.UUID()), []parking.Event{parking.EventParked, parking.EventRetrieved}; !slices.Equal(got, want) {
		t.Fatalf("history=%v, want %v", got, want)
	}
}

// Ensure a reconnect whose survey does not list a call parked a moment
// before (FreeSWITCH's `show calls` lags behind new channels, seen on the
// real switch just after it started) does not take that call for gone:
// parkd looks the calls it holds up by themselves, and the call stays
// parked and retrievable.
func TestE2E_ReconnectWhileListingLags(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond, ListLag: time.Hour})
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim)}
	h.boot()
	jane := h.park("202")
	surveys := func() (n int, lookedUp bool) {
		for _, c := range sim.Commands() {
			if strings.HasPrefix(c, "in: api show calls") {
				n++
				lookedUp = false
			}
			if c == "in: api uuid_getvar "+jane.UUID()+" parkd_instance" { // read by itself, not from the listing
				lookedUp = true
			}
		}
		return n, lookedUp
	}
	before, _ := surveys()
	sim.DropInbound()
	testkit.WaitUntil(t, 5*time.Second, "a survey after the reconnect that looks the unlisted call up", func() bool {
		n, lookedUp := surveys()
		return n > before && lookedUp
	})
	r := h.call("retrieve", "main", "202")
	h.waitFor(jane, "the call stayed parked and is retrieved", bridgedTo(r))
	h.waitHistory(jane.UUID(), parking.EventParked, parking.EventRetrieved)
}
