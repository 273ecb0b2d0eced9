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

// Errors of ParkCall, besides those of Park.
var (
	// ErrNoCall: the extension is not talking on any call now.
	ErrNoCall = errors.New("no call")
	// ErrSwitchDown: the switch cannot be asked now (not connected).
	ErrSwitchDown = errors.New("switch not connected")
	// ErrAmbiguousCall: the extension is on several calls at once; which
	// to park is not guessed.
	ErrAmbiguousCall = errors.New("the extension has several calls")
	// ErrUnsupported: the switch cannot find or move a phone's call.
	ErrUnsupported = errors.New("not supported by the switch")
)
