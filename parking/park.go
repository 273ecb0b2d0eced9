package parking

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ParkRequest asks to park a call.
type ParkRequest struct {
	Leg    Leg
	Caller Caller
	Parker string // who parked it; "" if unknown
	// ParkerDomain is the parker's SIP domain, for recalls; "" if unknown.
	ParkerDomain string
	Lot          string // "" for the domain's default lot
	Slot         int    // 0 for the lowest free slot
	// Domain is the calling channel's domain (domain_name): which tenant's
	// lots the call may be parked in when lots have domains (see
	// Service.domainOf); ignored when none has.
	Domain string

	// Dialog identifies the call's SIP dialog (its Call-ID), so that a call
	// that replaces it later can take its slot; "" if unknown.
	Dialog string
	// Replaces is the Dialog of a parked call this call takes the place of:
	// an attended transfer completed into a parked consult call sends the
	// transferred caller to the park with it. The caller then takes that
	// call's slot, whatever Lot and Slot say. "" for none.
	Replaces string
	// SelfPark says the call dialled the park code itself rather than being
	// transferred there: the person parking it is on this channel (the
	// consult call of an attended transfer), so the slot is always
	// announced to it.
	SelfPark bool
}

// Park claims a slot for req's call, answers it, announces the slot when
// the lot says so for a park into the next free slot, when the call did
// not get the slot it asked for, or always to a call that parks itself
// (SelfPark), starts the music and records the park. A call that replaces
// a parked one (Replaces) takes its slot and parker, and hears no
// announcement: the parker heard it (see claimReplaced). A request that cannot be parked is
// refused on the leg (error tone, then back to the parker, or hung up when the
// call parked itself) and returned as an
// error: ErrUnknownLot, ErrBadSlot, ErrSlotTaken, ErrLotFull, ErrCallGone,
// ErrAlreadyParked or ErrClosed.
func (s *Service) Park(ctx context.Context, req ParkRequest) (Occupant, error) {
	call := req.Leg.Call()
	s.mu.Lock()
	c, err := s.claim(call, req)
	if err != nil {
		if !errors.Is(err, ErrAlreadyParked) {
			lotName, domain := req.Lot, s.domainOf(req.Domain)
			if l, lerr := s.lot(domain, req.Lot); lerr == nil {
				lotName = l.cfg.Name
			}
			s.commit(Transition{Event: EventRejected, Reason: err.Error()}, &entry{occ: Occupant{
				Lot: lotName, Domain: domain, Slot: req.Slot, Call: call, Caller: req.Caller, Parker: req.Parker,
			}})
		}
		s.mu.Unlock()
		s.flush(ctx)
		s.refuse(ctx, req.Leg, req.returnTo(), err)
		return Occupant{}, err
	}
	s.busy.Add(1)
	s.mu.Unlock()
	defer s.busy.Done()
	if s.Claims != nil {
		// Lots shared with other nodes: the store has the last word
		// on the slot (nodes.go).
		if c, err = s.claimShared(ctx, req, c); err != nil {
			s.refuse(ctx, req.Leg, req.returnTo(), err)
			return Occupant{}, err
		}
	}
	e := c.entry

	err = req.Leg.Answer(ctx)
	if err == nil && !c.replaces && (c.moved || req.SelfPark || (c.lot.cfg.Announce && req.Slot == 0)) {
		err = req.Leg.Announce(ctx, e.occ.Slot)
	}
	if err == nil {
		err = req.Leg.Hold(ctx, Hold{
			Lot: e.occ.Lot, Domain: e.occ.Domain, Slot: e.occ.Slot, Parker: e.occ.Parker, ParkedAt: e.occ.ParkedAt, Music: c.lot.cfg.Music,
		})
	}

	s.mu.Lock()
	if err != nil || e.hungUp != "" {
		s.release(e)
		if gone := e.hungUp != "" || errors.Is(err, ErrCallGone); gone {
			// The caller hung up while being parked (during the slot
			// announcement, say): the slot is free again at once and the
			// history says the call was abandoned, with no parked row
			// since it never heard the music.
			reason := "caller left before the park completed"
			if e.hungUp != "" {
				reason += ": " + e.hungUp
			}
			s.commit(Transition{Event: EventAbandoned, Reason: reason}, e)
			s.mu.Unlock()
			s.flush(ctx)
			s.Logger.Info().Str("lot", e.occ.Lot).Int("slot", e.occ.Slot).Str("call", string(call)).
				Msg("caller left before the park completed")
			return Occupant{}, fmt.Errorf("park %s/%d: %w", e.occ.Lot, e.occ.Slot, ErrCallGone)
		}
		s.mu.Unlock()
		s.giveBackClaim(ctx, call)
		s.refuse(ctx, req.Leg, req.returnTo(), err)
		return Occupant{}, fmt.Errorf("park %s/%d: %w", e.occ.Lot, e.occ.Slot, err)
	}
	if l := s.lotOf(e); l != nil && l.at(e.occ.Slot) == e {
		l.parked(e)
	} else {
		e.state = stateParked
		e.settle()
	}
	s.arm(e)
	occ := e.occ
	s.commit(Transition{Event: EventParked, Occupancy: &occ}, e)
	s.mu.Unlock()
	s.flush(ctx)
	return occ, nil
}

// claimed is a slot taken for a call being parked.
type claimed struct {
	*entry
	lot      *lot
	moved    bool
	replaces bool // took the slot of the call it replaces
}

// claim picks and takes a slot for req. Called with s.mu held.
func (s *Service) claim(call CallID, req ParkRequest) (claimed, error) {
	// A call already parked is never refused (that would play the error
	// tone to a parked caller and clear its slot), shutdown or not.
	if _, ok := s.calls[call]; ok {
		return claimed{}, fmt.Errorf("%w: %s", ErrAlreadyParked, call)
	}
	if s.closed {
		return claimed{}, ErrClosed
	}
	if req.Replaces != "" {
		if c, ok := s.claimReplaced(call, req); ok {
			return c, nil
		}
	}
	return s.claimAvoiding(call, req, nil)
}

// take1 puts call in the slot c chose for req. Called with s.mu held.
func (s *Service) take1(call CallID, req ParkRequest, c choice) claimed {
	now := time.Now()
	e := &entry{state: stateParking, occ: Occupant{
		Lot: c.lot.cfg.Name, Domain: c.lot.cfg.Domain, Slot: c.slot, Call: call, Caller: req.Caller, Parker: req.Parker,
		ParkerDomain: req.ParkerDomain, ParkedAt: now, Deadline: now.Add(c.lot.cfg.Timeout), Dialog: req.Dialog,
	}}
	c.lot.set(c.slot, e)
	s.calls[call] = e
	return claimed{entry: e, lot: c.lot, moved: c.moved}
}

// returnTo is where a refused park goes after the error tone: back to the
// parker who transferred the call, or nowhere (hang up) when the call
// parked itself, since its parker is the very phone on this channel and
// sending it there would ring the caller's own phone.
func (r ParkRequest) returnTo() string {
	if r.SelfPark {
		return ""
	}
	return r.Parker
}
