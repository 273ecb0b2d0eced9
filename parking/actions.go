package parking

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Actions a person takes on a parked call from the reception board or the
// API: pick it up on a phone (Pickup, pickup.go), move it to another slot,
// extend its wait before the recall, hang it up. Each takes the call only
// from a state where nothing else is settling it (parked, or ringing a
// recall, which the action cancels), records one history row naming who
// acted in Transition.Retriever ("web:<name>"), and answers ErrNoCall,
// ErrMovedOn or the switch's error (wrapping ErrSwitchDown) otherwise.

// Extension bounds.
const (
	MinExtend = time.Second
	MaxExtend = time.Hour
)

// Occupant returns the call parked as call: ErrNoCall if there is none (or
// its park is not complete yet).
func (s *Service) Occupant(call CallID) (Occupant, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.calls[call]
	if !ok || e.state == stateParking {
		return Occupant{}, fmt.Errorf("%w: %s", ErrNoCall, call)
	}
	return e.occ, nil
}

// actionable finds call for an action and checks it is parked or ringing a
// recall (when recalling is true). Called with s.mu held.
func (s *Service) actionable(call CallID, recalling bool) (*entry, error) {
	if s.closed {
		return nil, ErrClosed
	}
	e, ok := s.calls[call]
	if !ok || e.state == stateParking {
		return nil, fmt.Errorf("%w: %s", ErrNoCall, call)
	}
	if e.state == stateParked || (recalling && e.state == stateRecalling) {
		return e, nil
	}
	return nil, fmt.Errorf("%w: %s/%d is %s", ErrMovedOn, e.occ.Lot, e.occ.Slot, e.state.busyWith())
}

// busyWith says what a call that cannot take an action is doing.
func (st state) busyWith() string {
	switch st {
	case stateRecalling:
		return "ringing a recall"
	case stateRecallBridge:
		return "being connected to the parker's recall"
	case stateRetrieving:
		return "being retrieved"
	case statePickup, statePickupBridge:
		return "being picked up"
	case stateTransferring:
		return "being sent to the fallback"
	case stateHangingUp:
		return "being hung up"
	case stateHandoff:
		return "being replaced by an attended transfer"
	}
	return "busy"
}

// claimFor takes a parked or recalling e for an operation that runs outside
// the lock, in state st: the timer stops and a ringing recall is cancelled
// (cancelled says so). Called with s.mu held.
func (s *Service) claimFor(e *entry, st state) (cancelled bool) {
	cancelled = e.state == stateRecalling
	e.stopRecall()
	e.recallLeg = ""
	e.gen++ // the pending timer or recall no longer applies
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	e.state = st
	if cancelled {
		s.relight(e.occ.lotKey(), e.occ.Slot) // no longer ringing
	}
	return cancelled
}

// unclaim puts e back to parked after a failed operation: the recall timer
// runs on (a deadline that passed meanwhile waits one retry), and a recall
// the operation cancelled gets its recall_failed row with why. Called with
// s.mu held.
func (s *Service) unclaim(e *entry, cancelled bool, why string) {
	e.state = stateParked
	e.recallLeg = ""
	e.recallStop = nil
	e.recallCut = false
	e.gen++
	if now := time.Now(); e.occ.Deadline.Before(now) {
		e.occ.Deadline = now.Add(s.retryAfter(e))
	}
	if cancelled {
		occ := e.occ
		s.commit(Transition{Event: EventRecallFailed, Reason: why, Occupancy: &occ}, e)
	} else {
		s.relight(e.occ.lotKey(), e.occ.Slot)
	}
	s.arm(e)
}

// Move puts the parked call into slot of lot ("" for its own lot), a lot
// of the call's own domain: it
// keeps its deadline and recall attempts, and both slots' lamps change.
// Only a call that is parked (not ringing a recall, not being retrieved)
// moves: else ErrMovedOn. A slot taken fails with ErrSlotTaken, a slot
// outside the lot's range with ErrBadSlot, a lot not configured with
// ErrUnknownLot. by names who moved it ("web:<name>").
//
// The new lot and slot are also written on the channel (Switch.MarkSlot),
// so that a parkd whose store lost the call re-adopts it there; a failure
// to do so is logged, not returned: the move itself is parkd's alone.
func (s *Service) Move(ctx context.Context, call CallID, lotName string, slot int, by string) (Occupant, error) {
	if s.Claims != nil {
		// Lots shared with other nodes: the store has the last word on
		// the new slot (nodes.go).
		return s.moveShared(ctx, call, lotName, slot, by)
	}
	return s.move(ctx, call, lotName, slot, by)
}

// move is Move once the new slot is this node's to take.
func (s *Service) move(ctx context.Context, call CallID, lotName string, slot int, by string) (Occupant, error) {
	s.mu.Lock()
	e, err := s.actionable(call, false)
	if err != nil {
		s.mu.Unlock()
		return Occupant{}, fmt.Errorf("move %s: %w", call, err)
	}
	if lotName == "" {
		lotName = e.occ.Lot
	}
	to, err := s.lot(e.occ.Domain, lotName)
	if err == nil && !to.cfg.Contains(slot) {
		err = fmt.Errorf("%w: slot %d, lot %s has %d-%d", ErrBadSlot, slot, to.cfg.Name, to.cfg.First, to.cfg.Last)
	} else if err == nil && to.at(slot) != nil {
		err = fmt.Errorf("%w: %s/%d", ErrSlotTaken, to.cfg.Name, slot)
	}
	if err != nil {
		s.mu.Unlock()
		return Occupant{}, fmt.Errorf("move %s: %w", call, err)
	}
	fromKey, fromLot, fromSlot := e.occ.lotKey(), e.occ.Lot, e.occ.Slot
	if from := s.lotOf(e); from != nil && from.at(fromSlot) == e {
		from.set(fromSlot, nil)
	}
	to.set(slot, e)
	e.occ.Lot, e.occ.Slot = to.cfg.Name, slot
	s.relight(fromKey, fromSlot)
	if l, ok := s.retired[fromKey]; ok && l.empty() {
		delete(s.retired, fromKey) // a lot a reload removed goes with its last call
	}
	// The timer follows the lot's configuration (another lot may recall
	// differently); the deadline stays. A timer that fired meanwhile no
	// longer applies.
	e.gen++
	s.arm(e)
	occ := e.occ
	s.commit(Transition{Event: EventMoved, Retriever: by, Reason: fmt.Sprintf("from %s/%d", fromLot, fromSlot), Occupancy: &occ}, e)
	s.mu.Unlock()
	s.flush(ctx)

	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.sw.MarkSlot(mctx, call, occ.Lot, occ.Slot); err != nil && !errors.Is(err, ErrCallGone) {
		s.Logger.Warn().Err(err).Str("call", string(call)).Str("lot", occ.Lot).Int("slot", occ.Slot).
			Msg("moved, but the new slot could not be written on the channel: a parkd that lost its store would re-adopt it in its old slot")
	}
	return occ, nil
}

// Extend pushes the call's recall deadline back by d (MinExtend to
// MaxExtend, else ErrInvalid): to max(deadline, now)+d. A recall ringing
// for the call is cancelled (recorded as recall_failed) and the deadline
// becomes now+d. by names who extended it ("web:<name>").
func (s *Service) Extend(ctx context.Context, call CallID, d time.Duration, by string) (Occupant, error) {
	if d < MinExtend || d > MaxExtend {
		return Occupant{}, fmt.Errorf("extend %s: %w: %v, want %v to %v", call, ErrInvalid, d, MinExtend, MaxExtend)
	}
	s.mu.Lock()
	e, err := s.actionable(call, true)
	if err != nil {
		s.mu.Unlock()
		return Occupant{}, fmt.Errorf("extend %s: %w", call, err)
	}
	now := time.Now()
	if s.claimFor(e, stateParked) {
		e.occ.Deadline = now.Add(d)
		occ := e.occ
		s.commit(Transition{Event: EventRecallFailed, Reason: "cancelled: extended by " + by, Occupancy: &occ}, e)
	} else {
		if e.occ.Deadline.Before(now) {
			e.occ.Deadline = now
		}
		e.occ.Deadline = e.occ.Deadline.Add(d)
	}
	occ := e.occ
	s.commit(Transition{Event: EventExtended, Retriever: by,
		Reason: "recall at " + occ.Deadline.UTC().Format(time.RFC3339), Occupancy: &occ}, e)
	s.arm(e)
	s.mu.Unlock()
	s.flush(ctx)
	return occ, nil
}

// HangUpParked hangs the parked call up (NORMAL_CLEARING) and records
// hungup, with by ("web:<name>") as who did it; the CHANNEL_HANGUP that
// follows finds the call gone and adds no abandoned row. A call parked or
// ringing a recall (cancelled) can be hung up; one being retrieved, picked
// up or recalled fails with ErrMovedOn. If the caller hung up first, the
// call is recorded abandoned and ErrMovedOn returned. If the switch fails
// (ErrSwitchDown) the call stays parked.
func (s *Service) HangUpParked(ctx context.Context, call CallID, by string) (Occupant, error) {
	s.mu.Lock()
	e, err := s.actionable(call, true)
	if err != nil {
		s.mu.Unlock()
		return Occupant{}, fmt.Errorf("hang up %s: %w", call, err)
	}
	cancelled := s.claimFor(e, stateHangingUp)
	gen := e.gen
	s.busy.Add(1)
	s.mu.Unlock()
	s.flush(ctx)
	defer s.busy.Done()

	kctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err = s.sw.Kill(kctx, call, "NORMAL_CLEARING")

	s.mu.Lock()
	if !s.current(e, gen, stateHangingUp) {
		s.mu.Unlock() // settled meanwhile (a switch shutdown)
		return Occupant{}, fmt.Errorf("hang up %s: %w", call, ErrMovedOn)
	}
	occ := e.occ
	switch {
	case err == nil:
		s.release(e)
		s.commit(Transition{Event: EventHungup, Retriever: by, Reason: "hung up by " + by}, e)
	case errors.Is(err, ErrCallGone):
		cause := e.hungUp
		if cause == "" {
			cause = "gone before the hangup"
		}
		s.release(e)
		s.commit(Transition{Event: EventAbandoned, Reason: cause}, e)
		err = fmt.Errorf("%w: the caller hung up first: %w", ErrMovedOn, err)
	default:
		s.unclaim(e, cancelled, "cancelled for a hangup that then failed")
	}
	s.mu.Unlock()
	s.flush(ctx)
	if err != nil {
		return Occupant{}, fmt.Errorf("hang up %s: %w", call, err)
	}
	return occ, nil
}
