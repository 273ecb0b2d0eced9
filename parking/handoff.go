package parking

import (
	"time"
)

// Attended-transfer park. The person parking a call puts it on hold, dials
// the park code herself (the consult call, parked with SelfPark so she hears
// the slot), then completes the transfer with a REFER carrying Replaces.
// FreeSWITCH then hangs the consult call up with cause ATTENDED_TRANSFER and
// sends the held caller's channel to the park with a request whose Replaces
// is the consult call's Dialog. The caller must take the consult call's
// slot, with its parker: that is the slot she heard.
//
// The hangup usually comes a few tens of milliseconds before the caller's
// request, but the order is not guaranteed, so both orders meet here:
//   - hangup first: the consult call's slot is held (stateHandoff) for
//     handoffWait; the request then finds it by its Dialog;
//   - request first: it finds the consult call still parked, takes its
//     slot, and the consult call's later hangup finds nothing to do.
//
// Either way the consult call's stay ends as EventReplaced and the caller's
// park is recorded as any other. A consult call hung up by an attended
// transfer that nobody replaces within handoffWait is abandoned; one hung up
// for any other reason (the transfer was given up) frees its slot at once.

// causeAttendedTransfer is the hangup cause FreeSWITCH gives the consult
// call of a completed attended transfer.
const causeAttendedTransfer = "ATTENDED_TRANSFER"

// handoffWait is how long the slot of a consult call hung up by an attended
// transfer waits for the call replacing it.
const handoffWait = 10 * time.Second

// awaitReplacement holds the slot of e, whose channel an attended transfer
// hung up, for the call that replaces it, and reports whether it did (e was
// parked). A recall ringing for it is cancelled. Called with s.mu held.
func (s *Service) awaitReplacement(e *entry) bool {
	if e.state != stateParked && e.state != stateRecalling {
		return false
	}
	recalling := e.state == stateRecalling
	e.stopRecall()
	e.recallLeg = ""
	e.gen++ // the pending timer or recall no longer applies
	if e.timer != nil {
		e.timer.Stop()
	}
	e.state = stateHandoff
	gen := e.gen
	e.timer = time.AfterFunc(handoffWait, func() { s.handoffExpired(e, gen) })
	if recalling {
		s.relight(e.occ.lotKey(), e.occ.Slot) // no longer ringing
	}
	s.Logger.Info().Str("lot", e.occ.Lot).Int("slot", e.occ.Slot).Str("call", string(e.occ.Call)).
		Msg("parked call hung up by an attended transfer; its slot waits for the transferred call")
	return true
}

// handoffExpired frees the slot of a consult call nobody replaced.
func (s *Service) handoffExpired(e *entry, gen uint64) {
	s.mu.Lock()
	if !s.current(e, gen, stateHandoff) {
		s.mu.Unlock()
		return
	}
	s.release(e)
	s.commit(Transition{Event: EventAbandoned, Reason: causeAttendedTransfer}, e)
	s.mu.Unlock()
	s.flush(s.bgCtx)
}

// claimReplaced gives call the slot of the parked call whose Dialog is
// req.Replaces, with that call's parker, and closes that call's stay as
// replaced. It reports false, changing nothing, when no call parked (or
// waiting for its replacement) has that Dialog: the request then parks as
// any other. Called with s.mu held, s open, call not parked.
func (s *Service) claimReplaced(call CallID, req ParkRequest) (claimed, bool) {
	old := s.byDialog(req.Replaces)
	if old == nil {
		return claimed{}, false
	}
	l := s.lotOf(old)
	if l == nil {
		return claimed{}, false // unreachable: every call is in a lot
	}
	// Take old out of the tables by hand rather than with release, which
	// could drop a retired lot that is left empty: the slot goes straight
	// to the new call.
	old.gen++
	if old.timer != nil {
		old.timer.Stop()
		old.timer = nil
	}
	old.stopRecall()
	old.recallLeg = ""
	delete(s.calls, old.occ.Call)
	if s.surveys > 0 {
		if s.letGo == nil {
			s.letGo = map[CallID]struct{}{}
		}
		s.letGo[old.occ.Call] = struct{}{}
	}
	if old.state != stateHandoff {
		// The transfer reached parkd before the switch hung the consult
		// call up: end it now, as Replaces means (RFC 3891), so that it
		// never stays on hold music outside the park.
		s.bg.Add(1)
		go func(leg CallID) {
			defer s.bg.Done()
			s.kill(s.bgCtx, leg, causeAttendedTransfer)
		}(old.occ.Call)
	}
	now := time.Now()
	e := &entry{state: stateParking, occ: Occupant{
		Lot: old.occ.Lot, Domain: old.occ.Domain, Slot: old.occ.Slot, Call: call, Caller: req.Caller,
		Parker: old.occ.Parker, ParkerDomain: old.occ.ParkerDomain,
		ParkedAt: now, Deadline: now.Add(l.cfg.Timeout), Dialog: req.Dialog,
	}}
	l.set(e.occ.Slot, e)
	s.calls[call] = e
	s.commit(Transition{Event: EventReplaced, Reason: "attended transfer: replaced by " + string(call)}, old)
	return claimed{entry: e, lot: l, replaces: true}, true
}

// byDialog returns the consult call parked with dialog, or waiting for its
// replacement, or nil. Only a call that parked itself (its parker is its
// own number, as for a consult call) can be replaced: a caller someone
// else parked is never a consult call, and a REFER naming its dialog must
// not take its slot. A call in the middle of an operation (being parked,
// retrieved, bridged to a recall, sent to the fallback) is not found: that
// operation owns it. Called with s.mu held.
func (s *Service) byDialog(dialog string) *entry {
	for _, e := range s.calls {
		if e.occ.Dialog != dialog || e.occ.Parker != e.occ.Caller.Number {
			continue
		}
		switch e.state {
		case stateParked, stateRecalling, stateHandoff:
			return e
		}
	}
	return nil
}
