package parking

import "errors"

// Errors returned by the Service, and by the interfaces it consumes where
// their doc comments say so. Compare them with errors.Is.
var (
	// ErrUnknownLot: the request names a lot that is not configured.
	ErrUnknownLot = errors.New("unknown lot")
	// ErrBadSlot: the slot number is outside the lot's range.
	ErrBadSlot = errors.New("slot outside the lot's range")
	// ErrLotFull: the lot (and any overflow lot) has no free slot.
	ErrLotFull = errors.New("lot full")
	// ErrSlotTaken: the slot holds another call.
	ErrSlotTaken = errors.New("slot occupied")
	// ErrSlotEmpty: there is no parked call to retrieve.
	ErrSlotEmpty = errors.New("no parked call in slot")
	// ErrCallGone: the channel no longer exists (hung up).
	ErrCallGone = errors.New("call gone")
	// ErrAlreadyParked: the call is already parked or being parked.
	ErrAlreadyParked = errors.New("call already parked")
	// ErrClosed: the service is shutting down and takes no new requests.
	ErrClosed = errors.New("service closed")
)

// Errors of the actions a person takes on a call (Pickup, Move, Extend,
// HangUpParked, ParkCall), for callers that map them to an answer (the web
// API's status codes).
var (
	// ErrNoCall: there is no such call: no parked call has that ID, or
	// the extension is not talking on any call now (ParkCall).
	ErrNoCall = errors.New("no such call")
	// ErrMovedOn: the call is no longer where the action expected it: it
	// was retrieved, recalled, hung up or taken by another action under
	// way, or it is in no state for this action (a recall being bridged).
	ErrMovedOn = errors.New("the call moved on")
	// ErrPickupFailed: the phone rung for a pickup did not take the call
	// (busy, no answer, bridge failed); the call is still parked. The
	// error also wraps the *CallFailure with FreeSWITCH's cause, if any.
	ErrPickupFailed = errors.New("pickup failed")
	// ErrSwitchDown: FreeSWITCH is not reachable right now. A Switch
	// wraps it in the errors of commands that could not be sent or whose
	// connection was lost.
	ErrSwitchDown = errors.New("switch not connected")
	// ErrInvalid: a request value is out of range (an extension, a
	// duration).
	ErrInvalid = errors.New("invalid request")
	// ErrAmbiguousCall: the extension is on several calls at once; which
	// to park is not guessed.
	ErrAmbiguousCall = errors.New("the extension has several calls")
	// ErrUnsupported: the switch cannot find or move a phone's call.
	ErrUnsupported = errors.New("not supported by the switch")
)
