package esl_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
)

// flakyCalls fails its first reconciles.
type flakyCalls struct {
	recordingCalls
	mu    sync.Mutex
	fails int
	calls int
}

func (f *flakyCalls) Reconcile(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.calls <= f.fails {
		return errors.New("show calls: timeout")
	}
	return nil
}

func (f *flakyCalls) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// Ensure a reconcile that fails after connecting is retried at the next
// liveness probes until it succeeds, not only after the next reconnect.
func TestClient_RetriesFailedReconcile(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{})
	calls := &flakyCalls{fails: 2}
	c := esl.NewClient(sim.Addr(), "ClueCon")
	c.Calls = calls
	c.ProbeEvery = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	deadline := time.Now().Add(5 * time.Second)
	for calls.count() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d reconciles, want the failed ones retried until one succeeds", calls.count())
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := calls.count(); n != 3 {
		t.Fatalf("%d reconciles, want 3: none after the one that succeeded", n)
	}
}
