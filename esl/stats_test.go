package esl_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/percipia/eslgo/command"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
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
