package parking

import (
	"context"
	"errors"
	"slices"
	"testing"
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
	svc, _, _ := mustService(t, st)
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
