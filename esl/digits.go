package esl

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/parkd/parkd/parking"
)

// VarDigits is the channel variable play_and_get_digits leaves the digits
// in. parkd reads it from the application's CHANNEL_EXECUTE_COMPLETE and
// unsets it at once (with VarDigits+"_invalid", where FreeSWITCH puts an
// entry its regex refused, and digits_dialed, where it keeps every DTMF
// digit received), so that no PIN stays on the channel.
const VarDigits = "parkd_digits"

// digitsFilter captures every digit of digits_dialed, for FreeSWITCH to
// mask in the hangup event and the CDR.
const digitsFilter = "([0-9*#ABCD]+)"

// promptRE is a media path play_and_get_digits takes as one argument: it
// splits its arguments on spaces, and '$' or braces would be expanded.
var promptRE = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=~(),;-]{1,256}$`)

// badInput is what FreeSWITCH plays after a try without a valid entry,
// before the prompt again: a short silence, so the caller hears the prompt
// repeated.
const badInput = "silence_stream://250"

// playAndGetDigits builds the argument of play_and_get_digits:
//
//	<min> <max> <tries> <timeout ms> # <prompt> <bad input> parkd_digits ^\d+$ <digit timeout ms>
//
// '#' ends the entry; a silence of r.Timeout plays the prompt again, up to
// r.Tries times (switch_play_and_get_digits in FreeSWITCH's
// switch_ivr_play_say.c: each try flushes queued DTMF, plays the prompt,
// which a digit interrupts, and collects until '#', max digits or the
// timeout; the digits go to the variable only if they match the regex).
func playAndGetDigits(r parking.DigitsRequest) (string, error) {
	switch {
	case r.Min < 1 || r.Max < r.Min || r.Max > 32:
		return "", fmt.Errorf("%w: digits %d to %d", ErrUnsafeValue, r.Min, r.Max)
	case r.Tries < 1 || r.Tries > 10:
		return "", fmt.Errorf("%w: %d tries", ErrUnsafeValue, r.Tries)
	case r.Timeout < 100*time.Millisecond || r.Timeout > time.Minute:
		return "", fmt.Errorf("%w: timeout %v", ErrUnsafeValue, r.Timeout)
	case !promptRE.MatchString(r.Prompt):
		return "", unsafe("prompt", r.Prompt)
	}
	ms := strconv.FormatInt(r.Timeout.Milliseconds(), 10)
	return fmt.Sprintf(`%d %d %d %s # %s %s %s ^\d+$ %s`, r.Min, r.Max, r.Tries, ms, r.Prompt, badInput, VarDigits, ms), nil
}

// Digits implements parking.OutsideLeg with play_and_get_digits, executed
// with event-lock; the digits are read from its CHANNEL_EXECUTE_COMPLETE,
// then unset on the channel. They are never logged.
func (l *callLeg) Digits(ctx context.Context, r parking.DigitsRequest) (string, error) {
	arg, err := playAndGetDigits(r)
	if err != nil {
		return "", fmt.Errorf("digits: %w", err)
	}
	// FreeSWITCH rebuilds digits_dialed from every DTMF digit at hangup
	// (unsetting it does not help); a digits_dialed_filter masks what its
	// regex captures there.
	if _, err := l.api(ctx, "uuid_setvar", l.uuid+" digits_dialed_filter "+digitsFilter); err != nil {
		return "", fmt.Errorf("digits: %w", err)
	}
	d, err := l.runFor(ctx, "play_and_get_digits", arg, VarDigits)
	if err != nil {
		return "", fmt.Errorf("digits: %w", err)
	}
	// uuid_setvar without a value unsets the variable. FreeSWITCH also
	// keeps every DTMF digit a channel receives in digits_dialed (seen on
	// a real switch: "201#4711#" in CHANNEL_HANGUP_COMPLETE, so in every
	// CDR); it goes too.
	for _, v := range []string{VarDigits, VarDigits + "_invalid", "digits_dialed"} {
		if _, err := l.api(ctx, "uuid_setvar", l.uuid+" "+v); err != nil {
			return "", fmt.Errorf("digits: unset %s: %w", v, err)
		}
	}
	return d, nil
}

// Play implements parking.OutsideLeg: media played to its end.
func (l *callLeg) Play(ctx context.Context, media string) error {
	if !promptRE.MatchString(media) {
		return fmt.Errorf("play: %w", unsafe("media", media))
	}
	if _, err := l.run(ctx, "playback", media); err != nil {
		return fmt.Errorf("play: %w", err)
	}
	return nil
}

var _ parking.OutsideLeg = (*callLeg)(nil)

// OutsideParking is what a Parking also implements to take outside
// pick-ups; parking.Service does. Without it such calls are refused.
type OutsideParking interface {
	Outside(ctx context.Context, req parking.OutsideRequest) (parking.Occupant, error)
}

// outside runs an outside pick-up on leg. Its time is the caller's, not
// CallTimeout's: a person types a slot and a PIN.
func (s *Server) outside(leg *callLeg, req Request, start time.Time) {
	op, ok := s.parking.(OutsideParking)
	if !ok {
		ctx, cancel := context.WithTimeout(context.Background(), s.CallTimeout)
		defer cancel()
		_ = leg.Refuse(ctx, "")
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), OutsideTimeout)
	defer cancel()
	occ, err := op.Outside(ctx, parking.OutsideRequest{Leg: leg, Lot: req.Lot, Domain: req.Domain, Caller: req.Caller})
	if err != nil {
		return // logged by the Service, never with the digits
	}
	s.observe("retrieve", occ.Lot, start, leg)
	leg.waitGone(s.stop)
}

// OutsideTimeout bounds a whole outside pick-up, prompts and typing included.
const OutsideTimeout = 5 * time.Minute
