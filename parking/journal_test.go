package parking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
)

// batchMem is a memStore that also writes batches, as store.DB does.
type batchMem struct {
	*memStore
	batches int
}

func (b *batchMem) RecordAll(ctx context.Context, ts []Transition) ([]error, error) {
	b.mu.Lock()
	fail := b.fail
	b.mu.Unlock()
	if fail != nil {
		return nil, fail
	}
	b.batches++
	refused := make([]error, len(ts))
	for i, t := range ts {
		refused[i] = b.Record(ctx, t)
	}
	return refused, nil
}

// Ensure the journal writes through RecordAll when the store has it: rows
// queued while the store fails go out in order, in one batch, once it
// works; a row the store refuses is dropped alone.
func TestJournal_Batches(t *testing.T) {
	st := &batchMem{memStore: newMemStore()}
	svc, _ := mustService(t, st)
	st.fail = errDisk
	park(t, svc, "a", 201)
	park(t, svc, "b", 202)
	if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("r"), Slot: 201}); err != nil {
		t.Fatal(err)
	}
	if got := svc.Pending(); got != 3 {
		t.Fatalf("pending=%d, want 3", got)
	}
	st.fail = nil
	st.occ["intruder"] = Occupant{Lot: "main", Slot: 203, Call: "intruder"}
	park(t, svc, "c", 203) // the store says 203 is taken: that row is refused
	if got := svc.Pending(); got != 0 {
		t.Fatalf("pending=%d after the store came back, want 0", got)
	}
	if st.batches != 1 {
		t.Fatalf("%d batches, want the 4 rows in 1", st.batches)
	}
	if got, want := st.events("a"), []Event{EventParked, EventRetrieved}; !slices.Equal(got, want) {
		t.Fatalf("a: history=%v, want %v", got, want)
	}
	if got := st.events("c"); len(got) != 0 {
		t.Fatalf("c: history=%v, want the refused row dropped", got)
	}
	if !errors.Is(svc.Flush(ctx), nil) {
		t.Fatal("flush of an empty queue failed")
	}
}

// Ensure a store without RecordAll gets one row per write, and a row it
// refuses (the slot holds another call) is dropped alone, not retried.
func TestJournal_RecordRefused(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	st.occ["intruder"] = Occupant{Lot: "main", Slot: 203, Call: "intruder"}
	park(t, svc, "c", 203) // the store says 203 is taken: that row is refused
	park(t, svc, "d", 204)
	if got := svc.Pending(); got != 0 {
		t.Fatalf("pending=%d, want the refused row dropped", got)
	}
	if got := st.events("c"); len(got) != 0 {
		t.Fatalf("c: history=%v, want the refused row dropped", got)
	}
	if got, want := st.events("d"), []Event{EventParked}; !slices.Equal(got, want) {
		t.Fatalf("d: history=%v, want %v", got, want)
	}
}

// gatedBatches is a BatchStore whose transactions each wait for their own
// gate (gates[i] for the i-th), and which records what each one held.
type gatedBatches struct {
	gates   [2]chan struct{}
	entered [2]chan struct{}
	mu      sync.Mutex
	batches [][]CallID
}

func (g *gatedBatches) Record(ctx context.Context, t Transition) error { return errors.New("unused") }
func (g *gatedBatches) Occupied(context.Context) ([]Occupant, error)   { return nil, nil }
func (g *gatedBatches) RecordAll(ctx context.Context, ts []Transition) ([]error, error) {
	g.mu.Lock()
	i := len(g.batches)
	var calls []CallID
	for _, t := range ts {
		calls = append(calls, t.Call)
	}
	g.batches = append(g.batches, calls)
	g.mu.Unlock()
	if i < len(g.gates) {
		close(g.entered[i])
		<-g.gates[i]
	}
	return make([]error, len(ts)), nil
}

// Ensure group commit: a flush returns once its own transitions are
// written, without waiting for the transaction of those queued after it;
// those go out together in the next transaction, and the flushes whose
// transitions it wrote need none of their own.
func TestJournal_GroupCommit(t *testing.T) {
	st := &gatedBatches{}
	for i := range st.gates {
		st.gates[i], st.entered[i] = make(chan struct{}), make(chan struct{})
	}
	j := newJournal(st)
	j.logger = zerolog.Nop()
	j.add(Transition{Event: EventParked, Call: "first"})
	firstDone := make(chan error, 1)
	go func() { firstDone <- j.flush(ctx) }()
	<-st.entered[0] // "first" is being written

	const n = 20
	var wg sync.WaitGroup
	for i := range n {
		j.add(Transition{Event: EventParked, Call: CallID(fmt.Sprint("c", i))})
		wg.Go(func() {
			if err := j.flush(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	close(st.gates[0])
	<-st.entered[1] // the others' transaction has begun, and is held
	select {
	case err := <-firstDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first flush waits for a transaction of rows queued after it")
	}
	close(st.gates[1])
	wg.Wait()
	if len(st.batches) != 2 || len(st.batches[0]) != 1 || len(st.batches[1]) != n {
		t.Fatalf("batches %v: want [first] then the %d others in one", st.batches, n)
	}
	if j.pending() != 0 {
		t.Fatalf("pending=%d", j.pending())
	}
}

// countingBatches is a BatchStore that records each transaction's calls
// and when it began.
type countingBatches struct {
	mu      sync.Mutex
	batches [][]CallID
	at      []time.Time
}

func (c *countingBatches) Record(ctx context.Context, t Transition) error {
	return errors.New("unused")
}
func (c *countingBatches) Occupied(context.Context) ([]Occupant, error) { return nil, nil }
func (c *countingBatches) RecordAll(ctx context.Context, ts []Transition) ([]error, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var calls []CallID
	for _, t := range ts {
		calls = append(calls, t.Call)
	}
	c.batches = append(c.batches, calls)
	c.at = append(c.at, time.Now())
	return make([]error, len(ts)), nil
}

// Ensure CommitEvery: an idle journal writes at once; flushes that come
// within the period after a write wait for its end and share one
// transaction, each returning with its own rows written; after a quiet
// period a flush writes at once again.
func TestJournal_CommitEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const every = 20 * time.Millisecond
		st := &countingBatches{}
		j := newJournal(st)
		j.logger, j.every = zerolog.Nop(), every
		start := time.Now()
		j.add(Transition{Event: EventParked, Call: "first"})
		if err := j.flush(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d != 0 {
			t.Fatalf("an idle journal's flush took %v, want no wait", d)
		}
		// Three calls decided 5 ms apart, within the period.
		var wg sync.WaitGroup
		for i := range 3 {
			time.Sleep(5 * time.Millisecond)
			call := CallID(fmt.Sprint("c", i))
			j.add(Transition{Event: EventParked, Call: call})
			wg.Go(func() {
				if err := j.flush(ctx); err != nil {
					t.Error(err)
				}
				j.mu.Lock()
				done := j.done
				j.mu.Unlock()
				if done < uint64(i)+2 {
					t.Errorf("%s: flush returned with %d rows written, before its own", call, done)
				}
			})
		}
		wg.Wait()
		if got, want := fmt.Sprint(st.batches), "[[first] [c0 c1 c2]]"; got != want {
			t.Fatalf("batches %s, want %s", got, want)
		}
		if d := st.at[1].Sub(st.at[0]); d != every {
			t.Fatalf("second transaction %v after the first, want %v", d, every)
		}
		// Quiet for longer than the period: the next flush writes at once.
		time.Sleep(time.Second)
		j.add(Transition{Event: EventParked, Call: "later"})
		before := time.Now()
		if err := j.flush(ctx); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(before); d != 0 {
			t.Fatalf("a flush after a quiet second took %v, want no wait", d)
		}
		if len(st.batches) != 3 {
			t.Fatalf("batches %v, want a third", st.batches)
		}
	})
}
