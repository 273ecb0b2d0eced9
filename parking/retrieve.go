package parking

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// RetrieveRequest asks to connect a phone to a parked call.
type RetrieveRequest struct {
	Leg       Leg    // the retrieving phone's channel
	Retriever string // who retrieves, e.g. its caller-ID number
	Lot       string // "" for the domain's default lot
	Slot      int    // 0 for the call that has waited longest
	// Domain is the retrieving channel's domain (domain_name): when lots
	// have domains, only its own domain's calls can be retrieved.
	Domain string
	// Call, if set, is the only call this request may take (a retriever
	// sent from another node with a token for it).
	Call CallID
	// Via names the node a retriever was sent from (nodes.go); "" for a
	// retriever on this node.
	Via string
}

// Retrieve answers the retriever, bridges it to the parked call and frees
// the slot. If there is nothing to retrieve the retriever hears an error
// tone and is hung up, and ErrSlotEmpty (or ErrUnknownLot, ErrBadSlot,
// ErrClosed) is returned. A retriever that is itself parked gets
// ErrAlreadyParked and is left alone. Of several retrievers racing for one call exactly
// one gets it; no call is ever bridged twice.
func (s *Service) Retrieve(ctx context.Context, req RetrieveRequest) (Occupant, error) {
	// For the lot's longest-waiting call (no slot, no call) the other
	// nodes are asked first, once; for a slot or a call, only when it is
	// not here (nodes.go).
	longest := req.Slot == 0 && req.Call == ""
	if longest && req.Via == "" && s.Nodes != nil {
		if rc, ok := s.olderRemote(ctx, req); ok {
			return s.hop(ctx, req, rc)
		}
	}
	s.mu.Lock()
	e, cancelled, err := s.take(req)
	for errors.Is(err, errStillParking) {
		// The call is between its slot's claim and its music: wait for
		// its park to end, then try again, rather than play the error
		// tone to a retriever who was told the slot a moment early.
		settled := e.awaitSettled()
		s.mu.Unlock()
		werr := s.awaitPark(ctx, settled)
		s.mu.Lock()
		if werr != nil {
			err = fmt.Errorf("%w: %s/%d: %w", ErrSlotEmpty, e.occ.Lot, e.occ.Slot, werr)
			break
		}
		e, cancelled, err = s.take(req)
	}
	if err != nil && errors.Is(err, ErrSlotEmpty) && s.Nodes != nil && req.Via == "" && !longest {
		s.mu.Unlock()
		// Not parked here: perhaps on another node (nodes.go).
		if occ, herr, ok := s.retrieveRemote(ctx, req); ok {
			return occ, herr
		}
		s.mu.Lock()
	}
	if err != nil {
		s.mu.Unlock()
		s.Logger.Info().Err(err).Str("lot", req.Lot).Int("slot", req.Slot).Str("retriever", req.Retriever).
			Msg("nothing to retrieve")
		s.refuse(ctx, req.Leg, "", err)
		return Occupant{}, err
	}
	s.busy.Add(1)
	s.mu.Unlock()
	defer s.busy.Done()

	err = req.Leg.Answer(ctx)
	if err == nil {
		err = req.Leg.Bridge(ctx, e.occ.Call)
	}

	s.mu.Lock()
	if err != nil {
		gone := e.hungUp
		if gone != "" {
			s.release(e)
			s.commit(Transition{Event: EventAbandoned, Reason: gone}, e)
		} else {
			// Still parked: someone may try again, and the recall timer
			// runs on (a deadline that passed meanwhile waits one retry).
			e.state = stateParked
			if now := time.Now(); e.occ.Deadline.Before(now) {
				e.occ.Deadline = now.Add(s.retryAfter(e))
			}
			if cancelled {
				// The ringing recall this retrieve cancelled gets its
				// outcome row, so its attempt is accounted for.
				occ := e.occ
				s.commit(Transition{Event: EventRecallFailed, Reason: "cancelled for a retrieve that then failed", Occupancy: &occ}, e)
			}
			s.arm(e)
		}
		s.mu.Unlock()
		s.flush(ctx)
		s.refuse(ctx, req.Leg, "", err)
		return Occupant{}, fmt.Errorf("retrieve %s/%d: %w", e.occ.Lot, e.occ.Slot, err)
	}
	s.release(e)
	occ := e.occ
	t := Transition{Event: EventRetrieved, Retriever: req.Retriever}
	if req.Via != "" {
		t.Reason = fmt.Sprintf("across nodes: parked on node %s, retrieved from node %s", s.Node, req.Via)
	}
	s.commit(t, e)
	s.mu.Unlock()
	s.flush(ctx)
	return occ, nil
}

// errStillParking is take's answer for a call whose park is under way;
// Retrieve waits for it (awaitPark) and never returns it.
var errStillParking = errors.New("the call is still being parked")

// MaxParkWait bounds how long a retriever waits for a park under way in
// the slot it asked for (answer, announcement, music): longer than any
// announcement, and the switch's commands time out before it.
const MaxParkWait = 30 * time.Second

// awaitPark waits until settled is closed, ctx ends or MaxParkWait has
// passed.
func (s *Service) awaitPark(ctx context.Context, settled <-chan struct{}) error {
	t := time.NewTimer(MaxParkWait)
	defer t.Stop()
	select {
	case <-settled:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("still being parked after %s", MaxParkWait)
	}
}

// take finds the call req wants and marks it as being retrieved; a call
// whose recall is ringing is taken too, the ring is cancelled, and
// cancelled says so. Called with s.mu held.
func (s *Service) take(req RetrieveRequest) (e *entry, cancelled bool, err error) {
	if s.closed {
		return nil, false, ErrClosed
	}
	if _, parked := s.calls[req.Leg.Call()]; parked {
		// A parked channel asking to retrieve is a loop in the dialplan;
		// never bridge two parked callers to each other.
		return nil, false, fmt.Errorf("%w: retriever %s is itself parked", ErrAlreadyParked, req.Leg.Call())
	}
	domain := s.domainOf(req.Domain)
	l, err := s.lot(domain, req.Lot)
	if r, ok := s.retired[lotKey{domain, req.Lot}]; ok && err != nil {
		l, err = r, nil // removed by a reload; its calls can still be retrieved
	}
	if err != nil {
		return nil, false, err
	}
	if req.Call != "" {
		if e = s.calls[req.Call]; e != nil && e.occ.lotKey() != l.cfg.key() {
			e = nil
		}
	} else if req.Slot == 0 {
		e = l.longest()
	} else if e = l.at(req.Slot); e == nil && !l.cfg.Contains(req.Slot) {
		return nil, false, fmt.Errorf("%w: slot %d, lot %s has %d-%d", ErrBadSlot, req.Slot, l.cfg.Name, l.cfg.First, l.cfg.Last)
	}
	if e != nil && e.state == stateParking {
		return e, false, errStillParking
	}
	if e == nil || (e.state != stateParked && e.state != stateRecalling && e.state != statePickup) {
		return nil, false, fmt.Errorf("%w: %s/%d", ErrSlotEmpty, l.cfg.Name, req.Slot)
	}
	// The retriever wins over a recall ringing for this call: stop the
	// parker's phone. Should the parker answer at this very moment, the
	// recall finds the call taken and hangs that leg up. A pickup ringing
	// a phone from the board loses the same way (see Pickup); a recall it
	// had cancelled is accounted for here should this retrieve fail.
	cancelled = e.state == stateRecalling || (e.state == statePickup && e.recallCut)
	wasRinging := e.state == stateRecalling
	e.recallCut = false
	e.stopRecall()
	e.recallLeg = ""
	e.gen++ // the pending timer or recall no longer applies
	if e.timer != nil {
		e.timer.Stop()
	}
	e.state = stateRetrieving
	if wasRinging {
		s.relight(e.occ.lotKey(), e.occ.Slot) // no longer ringing
	}
	return e, cancelled, nil
}
