package parking

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Errors of an outside pick-up.
var (
	// ErrNoOutside: the lot has no outside pick-up (or parkd has no store
	// to count wrong PINs in, without which it is not offered).
	ErrNoOutside = errors.New("no outside pick-up for this lot")
	// ErrPINRefused: the caller entered no right PIN in Lockout.Tries
	// attempts, or was locked out; the call is ended.
	ErrPINRefused = errors.New("outside pick-up: PIN refused")
	// ErrNoInput: the caller entered nothing at a prompt, however often
	// it was repeated; the call is ended.
	ErrNoInput = errors.New("outside pick-up: no digits entered")
)

// PINChecker checks a PIN against the lot's stored hash in constant time
// (argon2id or bcrypt). Its dynamic type must be comparable.
type PINChecker interface {
	CheckPIN(pin string) bool
}

// OutsideConfig is a lot's pick-up from outside: a caller dials a number,
// enters the slot (if AskSlot) and a PIN, and is bridged to the call.
type OutsideConfig struct {
	PIN          PINChecker // nil: outside pick-up is off
	AskSlot      bool       // false: the PIN alone takes the longest-waiting call
	Prompts      OutsidePrompts
	DigitTimeout time.Duration // wait for the first digit before prompting again
	Reprompts    int           // how often a prompt is played before giving up
	Lockout      Lockout
}

// OutsidePrompts are media paths played to an outside caller.
type OutsidePrompts struct {
	Slot, PIN, WrongPIN, NoCall string
}

// Enabled reports whether the lot can be picked up from outside.
func (c OutsideConfig) Enabled() bool { return c.PIN != nil }

// DigitsRequest asks an outside caller for digits: Prompt is played, the
// caller may type over it, '#' ends the entry, and a silence of Timeout
// plays Prompt again, up to Tries times.
type DigitsRequest struct {
	Prompt   string
	Min, Max int
	Tries    int
	Timeout  time.Duration
}

// OutsideLeg is an outside caller's channel. The esl package implements it
// with play_and_get_digits.
type OutsideLeg interface {
	Leg
	// Digits collects digits; "" when nothing valid was entered after
	// every try. The digits must be left on no channel variable.
	Digits(ctx context.Context, r DigitsRequest) (string, error)
	// Play plays media to its end.
	Play(ctx context.Context, media string) error
}

// OutsideRequest is an outside caller asking for a lot's parked call.
type OutsideRequest struct {
	Leg OutsideLeg
	Lot string // "" for the domain's default lot
	// Domain is the lot's domain, as the dialplan that sent the call names
	// it: an outside call arrives in a public context, whose domain_name
	// names no tenant. Ignored while no lot has a domain.
	Domain string
	Caller Caller // the calling number counts the wrong PINs
}

// Outside runs an outside pick-up: answer, ask for the slot (if the lot
// does) and the PIN, and once the PIN is right and neither the calling
// number nor the lot is locked out, retrieve the call exactly as a phone
// does (Retrieve: the same races, one winner), recorded with retriever
// "outside:<number>". A wrong PIN is counted (Guard) and the caller hears
// WrongPIN; a locked-out caller hears the same whatever it types, and its
// PIN is checked all the same so that the time taken tells nothing.
// Whether a slot holds a call is said only after a right PIN.
func (s *Service) Outside(ctx context.Context, req OutsideRequest) (Occupant, error) {
	s.mu.Lock()
	l, err := s.lot(s.domainOf(req.Domain), req.Lot)
	closed := s.closed
	var cfg OutsideConfig
	if err == nil {
		cfg = l.cfg.Outside
		req.Lot, req.Domain = l.cfg.Name, l.cfg.Domain
	}
	s.mu.Unlock()
	switch {
	case closed:
		err = ErrClosed
	case err == nil && (!cfg.Enabled() || s.PINs == nil):
		err = fmt.Errorf("%w: lot %s", ErrNoOutside, req.Lot)
	}
	if err != nil {
		s.refuse(ctx, req.Leg, "", err)
		return Occupant{}, err
	}
	if err := req.Leg.Answer(ctx); err != nil {
		return Occupant{}, fmt.Errorf("outside pick-up: %w", err)
	}
	g := Guard{Store: s.PINs, Now: s.now}
	number := req.Caller.Number
	ask := func(prompt string, lo, hi int) (string, error) {
		return req.Leg.Digits(ctx, DigitsRequest{Prompt: prompt, Min: lo, Max: hi, Tries: cfg.Reprompts, Timeout: cfg.DigitTimeout})
	}
	for range cfg.Lockout.Tries {
		slot := 0
		if cfg.AskSlot {
			d, err := ask(cfg.Prompts.Slot, 1, 9)
			if err != nil {
				return Occupant{}, fmt.Errorf("outside pick-up: slot: %w", err)
			}
			if slot, err = strconv.Atoi(d); err != nil || slot <= 0 {
				return Occupant{}, s.endOutside(ctx, req.Leg, ErrNoInput)
			}
		}
		pin, err := ask(cfg.Prompts.PIN, MinPINLen, MaxPINLen)
		if err != nil {
			return Occupant{}, fmt.Errorf("outside pick-up: PIN: %w", err)
		}
		if !ValidPIN(pin) {
			return Occupant{}, s.endOutside(ctx, req.Leg, ErrNoInput)
		}
		locked, lerr := g.Locked(ctx, req.Domain, req.Lot, number)
		right := cfg.PIN.CheckPIN(pin) // always: a lockout must not be faster
		if lerr != nil {
			s.Logger.Error().Err(lerr).Str("lot", req.Lot).Msg("outside pick-up refused: the lockout cannot be read")
			locked = true // fail closed
		}
		if right && !locked {
			return s.Retrieve(ctx, RetrieveRequest{
				Leg: noCallLeg{req.Leg, cfg.Prompts.NoCall}, Retriever: "outside:" + number, Lot: req.Lot, Slot: slot, Domain: req.Domain,
			})
		}
		s.pinFailed(ctx, g, cfg.Lockout, req, slot, locked)
		if err := req.Leg.Play(ctx, cfg.Prompts.WrongPIN); err != nil {
			return Occupant{}, fmt.Errorf("outside pick-up: %w", err)
		}
	}
	return Occupant{}, s.endOutside(ctx, req.Leg, ErrPINRefused)
}

// pinFailed counts a wrong PIN (one typed while locked out only goes to
// the history) and records the lockouts it leads to.
func (s *Service) pinFailed(ctx context.Context, g Guard, r Lockout, req OutsideRequest, slot int, locked bool) {
	reason := "wrong PIN"
	var v Verdict
	if locked {
		reason = "locked out"
	} else {
		var err error
		if v, err = g.Failed(ctx, r, req.Domain, req.Lot, req.Caller.Number); err != nil {
			s.Logger.Error().Err(err).Str("lot", req.Lot).Msg("a wrong PIN could not be counted")
		}
	}
	t := Transition{Event: EventPINFailed, Lot: req.Lot, Domain: req.Domain, Slot: slot, Call: req.Leg.Call(), Caller: req.Caller, Reason: reason}
	s.mu.Lock()
	s.commitOutside(t)
	if v.NumberLocked {
		s.commitOutside(Transition{Event: EventPINLocked, Lot: req.Lot, Domain: req.Domain, Call: req.Leg.Call(), Caller: req.Caller,
			Reason: fmt.Sprintf("%d wrong PINs from this number in %s: locked out for %s", r.NumberFailures, r.NumberWindow, r.NumberLock)})
	}
	if v.LotLocked {
		s.commitOutside(Transition{Event: EventPINLocked, Lot: req.Lot, Domain: req.Domain, Call: req.Leg.Call(),
			Reason: fmt.Sprintf("%d wrong PINs in %s: outside access locked for %s", r.LotFailures, r.LotWindow, r.LotLock)})
	}
	s.mu.Unlock()
	s.flush(ctx)
}

// commitOutside queues a transition of an outside caller, who holds no
// slot, for the store and the log. Called with s.mu held.
func (s *Service) commitOutside(t Transition) {
	t.At = s.now()
	s.jour.add(t)
	s.toLog = append(s.toLog, t)
}

// endOutside ends an outside call with the error tone and returns why.
func (s *Service) endOutside(ctx context.Context, leg Leg, why error) error {
	s.refuse(ctx, leg, "", why)
	return why
}

// now is the Service's clock.
func (s *Service) now() time.Time {
	if s.Clock != nil {
		return s.Clock()
	}
	return time.Now()
}

// noCallLeg is an outside caller handed to Retrieve: when there is nothing
// to retrieve it first hears the lot's "no call" prompt.
type noCallLeg struct {
	OutsideLeg
	noCall string
}

func (l noCallLeg) Refuse(ctx context.Context, returnTo string) error {
	if err := l.Play(ctx, l.noCall); err != nil {
		return err
	}
	return l.OutsideLeg.Refuse(ctx, returnTo)
}
