package parking

import (
	"context"
	"fmt"
)

// Resync makes the Store's occupancy match the calls the Service holds,
// for a Store that lost it: its database file was deleted and created
// anew, or replaced by another file. Rows already queued are written first;
// then a call the Store lists that the Service does not hold is closed as
// lost, and a call the Service holds that the Store lacks (or has in
// another slot) gets a parked row, both with reason. The Service is the
// truth: it is what FreeSWITCH is doing. Returns the Store's error, if it
// still fails; the rows then wait in the queue like any other.
func (s *Service) Resync(ctx context.Context, reason string) error {
	if err := s.jour.flush(ctx); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	stored, err := s.jour.store.Occupied(ctx)
	if err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	byCall := make(map[CallID]Occupant, len(stored))
	s.mu.Lock()
	for _, o := range stored {
		byCall[o.Call] = o
		if _, held := s.calls[o.Call]; !held {
			s.commit(Transition{Event: EventLost, Reason: "not parked by this parkd; " + reason}, &entry{occ: o})
		}
	}
	for _, e := range s.calls {
		if e.state == stateParking {
			continue // its park writes its row when it completes
		}
		if o, ok := byCall[e.occ.Call]; ok && o.lotKey() == e.occ.lotKey() && o.Slot == e.occ.Slot {
			continue
		}
		occ := e.occ
		s.commit(Transition{Event: EventParked, Reason: reason, Occupancy: &occ}, e)
	}
	s.mu.Unlock()
	s.logCommitted()
	if err := s.jour.flush(ctx); err != nil {
		return fmt.Errorf("resync: %w", err)
	}
	return nil
}
