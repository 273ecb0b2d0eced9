package parking

import (
	"context"
	"fmt"
	"time"
)

// PickupRequest asks to ring a person's phone and connect it to a parked
// call: the board's "pick up on my phone".
type PickupRequest struct {
	Call      CallID
	Extension string // the phone to ring, in place of {parker} in the lot's recall dial template
	By        string // who asked, "web:<name>": the retrieved row's Retriever
}

// Pickup rings req.Extension like a recall rings the parker (the lot's
// recall dial template with the extension as {parker}, its caller-ID
// templates and ring time, but no distinctive ring) and, once answered,
// bridges it to the parked call and records retrieved with req.By as the
// retriever. It returns the call as it was parked.
//
// While the phone rings the recall timer is stopped and a recall that was
// ringing is cancelled. Of the races, each has one outcome:
//   - a retrieve dialled for the call's slot wins: the pickup's phone stops
//     ringing and Pickup fails with ErrMovedOn;
//   - the caller hanging up stops the phone, is recorded abandoned, and
//     Pickup fails with ErrMovedOn; so does a switch shutdown;
//   - busy, no answer or a failed bridge leave the call parked and fail
//     with ErrPickupFailed (wrapping the *CallFailure, for its cause); the
//     recall timer is re-armed (a deadline that passed waits one
//     retry_after) and a recall the pickup cancelled gets its recall_failed
//     row;
//   - Shutdown cancels the ringing phone.
//
// The ring outlives ctx: a client that stops waiting does not leave the
// phone to ring into a call that is no longer connected.
func (s *Service) Pickup(ctx context.Context, req PickupRequest) (Occupant, error) {
	if req.Extension == "" {
		return Occupant{}, fmt.Errorf("pickup %s: %w: no extension to ring", req.Call, ErrInvalid)
	}
	s.mu.Lock()
	e, err := s.actionable(req.Call, true)
	if err != nil {
		s.mu.Unlock()
		return Occupant{}, fmt.Errorf("pickup %s: %w", req.Call, err)
	}
	cfg := s.cfgOf(e)
	if cfg.Recall.Dial == "" {
		s.mu.Unlock()
		return Occupant{}, fmt.Errorf("pickup %s: lot %s has no recall dial template to ring a phone with", req.Call, cfg.Name)
	}
	e.recallCut = s.claimFor(e, statePickup)
	e.recallLeg = s.sw.NewCallID()
	e.recallStop = make(chan struct{})
	o := s.pickupLeg(e, cfg, req.Extension)
	gen, stop := e.gen, e.recallStop
	s.busy.Add(1)
	s.mu.Unlock()
	defer s.busy.Done()
	s.flush(ctx)

	rctx, cancel := context.WithTimeout(s.bgCtx, o.RingFor+bridgeSlack)
	defer cancel()
	done := make(chan struct{})
	go s.killWhenStopped(o.Leg, stop, done)
	err = s.sw.Originate(rctx, o)
	close(done)

	s.mu.Lock()
	if !s.current(e, gen, statePickup) {
		// Retrieved by a dialled code, hung up, or the switch shut down:
		// whoever did it stopped the ring; an answer racing them is hung up.
		s.mu.Unlock()
		if err == nil {
			s.kill(rctx, o.Leg, "ORIGINATOR_CANCEL")
		}
		return Occupant{}, fmt.Errorf("pickup %s/%d on %s: %w: retrieved or hung up while the phone rang", o.Lot, o.Slot, req.Extension, ErrMovedOn)
	}
	if err != nil {
		s.unclaim(e, e.recallCut, "cancelled for a pickup that then failed")
		s.mu.Unlock()
		s.flush(ctx)
		if !isFailure(err) {
			s.kill(rctx, o.Leg, "NORMAL_CLEARING") // outcome unknown: do not leave it ringing
			return Occupant{}, fmt.Errorf("pickup %s/%d on %s: %w", o.Lot, o.Slot, req.Extension, err)
		}
		return Occupant{}, fmt.Errorf("pickup %s/%d on %s: %w: %w", o.Lot, o.Slot, req.Extension, ErrPickupFailed, err)
	}
	e.state = statePickupBridge // recallLeg stays: Reconcile knows the leg as ours
	s.mu.Unlock()

	bctx, bcancel := context.WithTimeout(s.bgCtx, bridgeSlack)
	defer bcancel()
	err = s.sw.Bridge(bctx, e.occ.Call, o.Leg)

	s.mu.Lock()
	if !s.current(e, gen, statePickupBridge) {
		s.mu.Unlock() // a switch shutdown settled it
		if err != nil {
			s.kill(bctx, o.Leg, "NORMAL_CLEARING")
		}
		return Occupant{}, fmt.Errorf("pickup %s/%d on %s: %w", o.Lot, o.Slot, req.Extension, ErrMovedOn)
	}
	occ := e.occ
	switch {
	case err == nil:
		e.recallCut = false
		s.release(e)
		s.commit(Transition{Event: EventRetrieved, Retriever: req.By, Reason: "picked up on " + req.Extension}, e)
	case e.hungUp != "":
		s.release(e)
		s.commit(Transition{Event: EventAbandoned, Reason: e.hungUp}, e)
		err = fmt.Errorf("%w: the caller hung up: %w", ErrMovedOn, err)
	default:
		s.unclaim(e, e.recallCut, "cancelled for a pickup that then failed")
		err = fmt.Errorf("%w: bridge failed: %w", ErrPickupFailed, err)
	}
	s.mu.Unlock()
	s.flush(ctx)
	if err != nil {
		s.kill(bctx, o.Leg, "NORMAL_CLEARING")
		return Occupant{}, fmt.Errorf("pickup %s/%d on %s: %w", o.Lot, o.Slot, req.Extension, err)
	}
	return occ, nil
}

// pickupLeg is the leg that rings ext for e. Called with s.mu held.
func (s *Service) pickupLeg(e *entry, cfg LotConfig, ext string) Origination {
	r := cfg.Recall
	vals := templateValues(e.occ, cfg)
	vals["parker"] = ext
	ring := r.RingFor
	if ring <= 0 {
		ring = defaultPickupRing
	}
	return Origination{
		Leg: e.recallLeg, Parked: e.occ.Call, Lot: e.occ.Lot, Slot: e.occ.Slot,
		Dial:           expand(r.Dial, vals),
		CallerIDName:   expand(r.CallerIDName, vals),
		CallerIDNumber: expand(r.CallerIDNumber, vals),
		RingFor:        ring,
	}
}

// defaultPickupRing is how long a pickup rings when the lot sets no recall
// ring time.
const defaultPickupRing = 30 * time.Second
