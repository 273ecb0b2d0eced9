package parking

import (
	"context"
	"time"
)

// Leg is a call that parkd controls directly: a channel the dialplan handed
// to parkd (FreeSWITCH's socket application), either a caller to park or a
// phone that retrieves one. The esl package implements it.
type Leg interface {
	// Call returns the channel's UUID.
	Call() CallID

	// Answer answers the channel, or does nothing if it is answered.
	// Returns ErrCallGone if the channel hung up.
	Answer(ctx context.Context) error

	// Announce speaks the slot number to the channel and returns when done.
	Announce(ctx context.Context, slot int) error

	// Hold parks the channel for good: it records h on the channel (so the
	// park can be rebuilt from the switch alone) and starts h.Music in a way
	// that keeps playing after parkd lets go of the channel.
	Hold(ctx context.Context, h Hold) error

	// Bridge connects the parked call to this channel, which must be
	// answered. Returns ErrCallGone if either channel is gone.
	Bridge(ctx context.Context, parked CallID) error

	// Refuse plays an error tone, then transfers the channel to returnTo,
	// a dialplan extension, or hangs it up when returnTo is "".
	Refuse(ctx context.Context, returnTo string) error
}

// Hold is what a parked channel carries and plays.
type Hold struct {
	Lot      string
	Domain   string // the lot's domain; "" for none
	Slot     int
	Parker   string
	ParkedAt time.Time
	Music    string
}
