package parking

import "context"

// Store persists occupancy and the append-only history. store.DB implements it.
type Store interface {
	// Record applies t as one transaction: it appends t to the history and
	// sets (t.Occupancy != nil) or clears (t.Occupancy == nil) t.Call's
	// occupancy row. Returns ErrSlotTaken if t.Occupancy names a slot that
	// holds another call; then nothing is written.
	Record(ctx context.Context, t Transition) error

	// Occupied returns every occupied slot, ordered by lot and slot, for
	// recovery after a restart.
	Occupied(ctx context.Context) ([]Occupant, error)
}
