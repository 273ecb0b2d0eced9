package parking

import "time"

// CallID identifies a call: the FreeSWITCH channel UUID of the parked caller.
type CallID string

// Event names one kind of transition in a parked call's life. The values are
// stored verbatim in the history table and are part of its stable schema.
type Event string

// The events a parked call's history is made of.
const (
	// EventParked: the call took a slot and hears music.
	EventParked Event = "parked"
	// EventRetrieved: someone dialled the retrieve code and was bridged to the call.
	EventRetrieved Event = "retrieved"
	// EventAbandoned: the parked caller hung up.
	EventAbandoned Event = "abandoned"
	// EventRejected: a park request was refused (lot full, slot occupied, bad input).
	EventRejected Event = "rejected"
	// EventRecall: a recall leg started ringing the parker.
	EventRecall Event = "recall"
	// EventRecalled: the parker answered a recall and was bridged to the call.
	EventRecalled Event = "recalled"
	// EventRecallFailed: a recall leg ended without an answer (busy, no answer, ...).
	EventRecallFailed Event = "recall_failed"
	// EventFallback: the call was sent to its lot's fallback destination.
	EventFallback Event = "fallback"
	// EventLost: the call vanished while parkd was not watching (restart, switch restart).
	EventLost Event = "lost"
	// EventReplaced: the parked call was the consult call of an attended
	// transfer and handed its slot to the transferred caller, who is
	// parked there in its place. It ends the consult call's stay.
	EventReplaced Event = "replaced"
	// EventMoved: a person moved the parked call to another slot (the
	// row's lot and slot are the new ones, Reason names the old one). It
	// does not end the stay.
	EventMoved Event = "moved"
	// EventExtended: a person pushed the call's recall deadline back
	// (Reason names the new deadline). It does not end the stay.
	EventExtended Event = "extended"
	// EventHungup: a person hung the parked call up from the board. It
	// ends the stay; the caller's own hangup that follows adds no
	// abandoned row.
	EventHungup Event = "hungup"
	// EventPINFailed: an outside caller entered a wrong PIN, or any PIN
	// while locked out (Reason says which). The row names the calling
	// number and the lot, never the digits. The call is the outside
	// caller's, which never held a slot.
	EventPINFailed Event = "pin_failed"
	// EventPINLocked: wrong PINs locked a calling number (Caller) or the
	// whole lot (no caller number) out of the lot's outside pick-up.
	EventPINLocked Event = "pin_locked"
)

// Events lists every event, in the order of a call's life.
var Events = []Event{
	EventParked, EventRetrieved, EventAbandoned, EventRejected, EventRecall,
	EventRecalled, EventRecallFailed, EventFallback, EventLost, EventReplaced,
	EventMoved, EventExtended, EventHungup, EventPINFailed, EventPINLocked,
}

// Valid reports whether e is one of the known events.
func (e Event) Valid() bool {
	for _, known := range Events {
		if e == known {
			return true
		}
	}
	return false
}

// Caller is the party that was parked, as its caller ID presented it.
type Caller struct {
	Name   string
	Number string
}

// Occupant is a call that holds a slot: one row of the occupancy table.
type Occupant struct {
	Lot string
	// Domain is the lot's domain (LotConfig.Domain); "" for a
	// single-tenant lot.
	Domain   string
	Slot     int
	Call     CallID
	Caller   Caller
	Parker   string    // who parked it; "" when unknown
	ParkedAt time.Time // when it took the slot
	Deadline time.Time // when the next recall is due: ParkedAt+timeout, then after each failed attempt now+retry_after

	// ParkerDomain is the parker's SIP domain, for the recall dial string's
	// {domain}; "" when unknown.
	ParkerDomain string
	// Attempts counts the recalls placed so far.
	Attempts int
	// Dialog is the parked call's SIP dialog (Call-ID), by which a call
	// replacing it (attended transfer) finds it; "" when unknown.
	Dialog string
}

func (o Occupant) lotKey() lotKey { return lotKey{o.Domain, o.Lot} }

// Waited is how long the occupant has been parked at t.
func (o Occupant) Waited(t time.Time) time.Duration {
	if t.Before(o.ParkedAt) {
		return 0
	}
	return t.Sub(o.ParkedAt)
}

// Transition is one change in a call's park life. A store applies it as one
// transaction: the history row and the occupancy change never diverge.
type Transition struct {
	At     time.Time
	Event  Event
	Lot    string
	Domain string // the lot's domain; "" for a single-tenant lot
	Slot   int    // 0 when the call never held a slot (e.g. a rejected park)
	Call   CallID
	Caller Caller
	Parker string
	// Retriever names who picked the call up (retrieved, recalled) or
	// acted on it (moved, extended, hungup): a phone's number, or
	// "web:<name>" for a person acting from the board or the API.
	Retriever string
	Reason    string        // why, in words or as a FreeSWITCH cause
	Wait      time.Duration // how long the call had been parked at At

	// Occupancy is the slot's row after the transition. Nil means the call
	// holds no slot afterwards: the store deletes any row it had.
	Occupancy *Occupant
}
