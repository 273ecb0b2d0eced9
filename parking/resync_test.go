package parking

import (
	"errors"
	"maps"
	"slices"
	"testing"
)

// Ensure Resync makes a store that lost its occupancy (a new, empty file)
// or holds another one (a file put in its place) match the calls parked,
// writing rows held back meanwhile first, and touching nothing that
// already matches.
func TestService_Resync(t *testing.T) {
	for _, tc := range []struct {
		name       string
		file       map[CallID]Occupant // the store's occupancy once its file changed
		wantEvents map[CallID][]Event  // rows written by Resync, per call
	}{
		{
			name:       "EmptyFile",
			file:       map[CallID]Occupant{},
			wantEvents: map[CallID][]Event{"a": {EventParked}, "b": {EventParked}},
		},
		{
			name: "OtherFile",
			file: map[CallID]Occupant{
				"y": {Lot: "main", Slot: 201, Call: "y"}, // stale: holds a's slot
				"b": {Lot: "main", Slot: 202, Call: "b"}, // matches
				"z": {Lot: "main", Slot: 205, Call: "z"}, // stale
			},
			wantEvents: map[CallID][]Event{"y": {EventLost}, "z": {EventLost}, "a": {EventParked}},
		},
		{
			name:       "SameFile",
			file:       nil, // unchanged
			wantEvents: map[CallID][]Event{},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore()
			svc, _ := mustService(t, st)
			park(t, svc, "a", 201)
			park(t, svc, "b", 202)
			st.mu.Lock()
			if tc.file != nil {
				st.occ = maps.Clone(tc.file)
			}
			st.history = nil
			st.mu.Unlock()

			if err := svc.Resync(ctx, "the database file was deleted"); err != nil {
				t.Fatal(err)
			}
			got := map[CallID][]Event{}
			for _, r := range st.rows() {
				got[r.Call] = append(got[r.Call], r.Event)
				if r.Reason == "" {
					t.Errorf("row %+v without a reason", r)
				}
			}
			if !maps.EqualFunc(got, tc.wantEvents, slices.Equal) {
				t.Fatalf("rows written %v, want %v", got, tc.wantEvents)
			}
			occ, _ := st.Occupied(ctx)
			if len(occ) != 2 || occ[0].Call != "a" || occ[0].Slot != 201 || occ[1].Call != "b" || occ[1].Slot != 202 {
				t.Fatalf("store occupancy %+v, want a in 201 and b in 202", occ)
			}
		})
	}
}

// Ensure rows held back while the store failed are written before the
// occupancy is compared, so a call parked and retrieved meanwhile is not
// written twice, and a store that still fails is reported.
func TestService_Resync_HeldRowsFirst(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	st.mu.Lock()
	st.fail = errDisk
	st.mu.Unlock()
	park(t, svc, "a", 201)
	if err := svc.Resync(ctx, "re-created"); !errors.Is(err, errDisk) {
		t.Fatalf("Resync on a failing store: %v, want %v", err, errDisk)
	}
	st.mu.Lock()
	st.fail = nil
	st.mu.Unlock()
	if err := svc.Resync(ctx, "re-created"); err != nil {
		t.Fatal(err)
	}
	if got := st.events("a"); !slices.Equal(got, []Event{EventParked}) {
		t.Fatalf("a's rows %v, want its one parked row", got)
	}
}
