package parking

import (
	"context"
	"time"
)

// Switch is the part of FreeSWITCH the Service uses outside any one call's
// own connection. The esl package's Client implements it.
type Switch interface {
	// Survey lists the channels FreeSWITCH has that carry parkd's marks:
	// parked calls (parkd_lot, parkd_slot, ...) and recall legs
	// (parkd_recall_for). State lost by parkd is rebuilt from it. Each of
	// the known calls (those parkd holds) must be reported if it exists,
	// even when FreeSWITCH's channel listing does not show it yet: the
	// listing lags behind new channels, and a parked call missing from a
	// survey is taken for gone.
	//
	// A known call is reported with Call, Caller, Answered, Bridged,
	// Parked and RecallFor; its Lot, Domain, Slot, Parker and ParkedAt
	// may be left empty, since the Service has them already, and reading
	// them back is most of the cost of a survey with many calls parked.
	// A call that is not known is reported with everything its marks say,
	// to be adopted.
	Survey(ctx context.Context, known []CallID) ([]Channel, error)

	// NewCallID names a channel before it exists (a recall leg), so the
	// Service can cancel it while it rings: a UUID in FreeSWITCH's form.
	NewCallID() CallID

	// Originate places a recall leg o.Leg to o.Dial for the parked call and
	// returns nil once the phone answered (the leg then waits, parked, to be
	// bridged), or a *CallFailure carrying FreeSWITCH's cause (USER_BUSY,
	// NO_ANSWER, USER_NOT_REGISTERED, CALL_REJECTED, ...). Killing o.Leg
	// while it rings makes Originate return.
	Originate(ctx context.Context, o Origination) error

	// Bridge connects the parked call to leg; both are answered. Returns
	// ErrCallGone if either channel is gone.
	Bridge(ctx context.Context, parked, leg CallID) error

	// Kill hangs a channel up with a FreeSWITCH cause name. Returns
	// ErrCallGone if it is already gone.
	Kill(ctx context.Context, call CallID, cause string) error

	// Transfer sends a call to a dialplan destination, out of parkd's hands.
	// Returns ErrCallGone if the channel is gone.
	Transfer(ctx context.Context, call CallID, to Destination) error

	// MarkSlot rewrites the lot and slot written on a parked call's
	// channel (see Survey) after Move, so that a parkd that lost its store
	// re-adopts the call where it now is. Returns ErrCallGone if the
	// channel is gone.
	MarkSlot(ctx context.Context, call CallID, lot string, slot int) error
}

// Origination is a recall leg to place: a call to the parker's phone with a
// distinctive ring, carrying who is waiting. A pickup from the board places
// one too, to the person's phone, without the distinctive ring (AlertInfo
// empty).
type Origination struct {
	Leg            CallID // the new channel's UUID, chosen by parkd so it can be cancelled
	Parked         CallID // the parked call it is for
	Lot            string
	Slot           int
	Dial           string        // endpoint dial string, e.g. user/1000@example.com
	AlertInfo      string        // sent verbatim as the INVITE's Alert-Info
	CallerIDName   string        // shown on the phone; the switch makes it safe
	CallerIDNumber string        // likewise
	RingFor        time.Duration // how long the phone rings before NO_ANSWER

	// Parker is who a recall rings (the parked call's parker), for a
	// switch that can reach them elsewhere when Dial finds them not
	// registered (lots shared by several nodes); "" for a pickup.
	Parker string
}

// CallFailure is why a leg did not answer, as FreeSWITCH names it.
type CallFailure struct {
	Cause string // e.g. USER_BUSY, NO_ANSWER
}

func (e *CallFailure) Error() string { return "call failed: " + e.Cause }

// Destination is a dialplan location: an extension, optionally with its
// dialplan (default XML) and context (default: the call's own).
type Destination struct {
	Extension string
	Dialplan  string
	Context   string
}

// IsZero reports whether no destination is set.
func (d Destination) IsZero() bool { return d.Extension == "" }

// String renders it as FreeSWITCH's transfer arguments: "ext [dialplan [context]]".
func (d Destination) String() string {
	s := d.Extension
	if d.Dialplan != "" || d.Context != "" {
		dp := d.Dialplan
		if dp == "" {
			dp = "XML"
		}
		s += " " + dp
	}
	if d.Context != "" {
		s += " " + d.Context
	}
	return s
}

// Channel is what FreeSWITCH knows of a channel parkd marked.
type Channel struct {
	Call      CallID
	Caller    Caller
	Lot       string
	Domain    string // the lot's domain, as Hold wrote it; "" for none
	Slot      int    // 0 for a recall leg
	Parker    string
	ParkedAt  time.Time // zero if unreadable
	Parked    bool      // playing the park music, waiting in its slot
	Bridged   bool      // bridged to someone: no longer waiting in its slot
	Answered  bool
	RecallFor CallID // set on a recall leg: the parked call it rings for

	// Stranded marks a call that was on its way to a parkd that stopped
	// before it answered: FreeSWITCH keeps such a call, silent, in its
	// socket application until it is moved. Return is where the dialplan
	// sends a call parkd could not take (back to whoever transferred it).
	Stranded bool
	Return   Destination
}

// Talk is a phone's current call as the switch sees it: the phone's own
// channel and the far party it is bridged to.
type Talk struct {
	Own    CallID // the phone's channel
	Far    CallID // its bridge partner: the party a park moves
	Caller Caller // the far party, as the phone shows it
	Domain string // the phone's SIP domain, for recalls; "" if unknown
}

// Talks is the part of the switch a park from outside the call needs
// (ParkCall: the board's "Park my call"). A Switch may implement it; the
// esl package's Client does.
type Talks interface {
	// Talk finds the call ext is talking on now: its channel answered and
	// bridged to another. ErrNoCall if it has none.
	Talk(ctx context.Context, ext string) (Talk, error)
	// Remote returns a Leg that controls call over the switch's own
	// connection, for a channel no socket application delivered. Its Hold
	// moves the call into the park; its Announce does nothing (the person
	// parking it is told the slot by whoever asked) and its Refuse leaves
	// the call as it is, still talking.
	Remote(call CallID) Leg
}
