package parking

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLockedOut: outside pick-up refused the calling number, or the whole
// lot, for too many wrong PINs. The caller is never told: it hears the
// same prompts as for a wrong PIN.
var ErrLockedOut = errors.New("outside pick-up locked out")

// Lockout is how a lot's outside pick-up resists PIN guessing.
type Lockout struct {
	// Tries is how many wrong PINs end one call (3).
	Tries int
	// NumberFailures wrong PINs from one calling number within
	// NumberWindow lock that number out of the lot for NumberLock
	// (5 in 15 min, 15 min).
	NumberFailures int
	NumberWindow   time.Duration
	NumberLock     time.Duration
	// LotFailures wrong PINs from any numbers within LotWindow lock the
	// lot's outside access for LotLock (20 in 1 h, 15 min).
	LotFailures int
	LotWindow   time.Duration
	LotLock     time.Duration
}

// DefaultLockout is the lockout of issue 15.
func DefaultLockout() Lockout {
	return Lockout{
		Tries:          3,
		NumberFailures: 5, NumberWindow: 15 * time.Minute, NumberLock: 15 * time.Minute,
		LotFailures: 20, LotWindow: time.Hour, LotLock: 15 * time.Minute,
	}
}

// Judge decides, after a failure, whether the calling number (byNumber
// failures in its window, this one included) and the lot (byLot failures
// in its window) are to be locked out.
func (r Lockout) Judge(byNumber, byLot int) (lockNumber, lockLot bool) {
	return r.NumberFailures > 0 && byNumber >= r.NumberFailures, r.LotFailures > 0 && byLot >= r.LotFailures
}

// PINFailures persists wrong PINs and lockouts, so that a restart resets
// neither. store.DB implements it. A lot is named by its domain ("" for a
// lot without one) and name. Numbers are calling numbers; the number ""
// in a lock stands for every number (the lot's outside access).
type PINFailures interface {
	// PINFailed records a wrong PIN from number for lot at at, and returns
	// the failures of lot since numberSince from number and since
	// lotSince from any number, this one included.
	PINFailed(ctx context.Context, domain, lot, number string, at, numberSince, lotSince time.Time) (byNumber, byLot int, err error)
	// LockOutside locks number ("" for every number) out of lot until until.
	LockOutside(ctx context.Context, domain, lot, number string, until time.Time) error
	// OutsideLockedUntil returns the latest end of a lock of number or of
	// the whole lot that is still running at now; zero if none.
	OutsideLockedUntil(ctx context.Context, domain, lot, number string, now time.Time) (time.Time, error)
}

// Guard applies a Lockout over a PINFailures with a clock passed in.
type Guard struct {
	Store PINFailures
	Now   func() time.Time
}

// Verdict is what a wrong PIN led to.
type Verdict struct {
	NumberLocked bool // the calling number was locked out by this failure
	LotLocked    bool // the lot's outside access was locked by this failure
}

// Locked reports whether number may not use lot's outside pick-up now.
func (g Guard) Locked(ctx context.Context, domain, lot, number string) (bool, error) {
	until, err := g.Store.OutsideLockedUntil(ctx, domain, lot, number, g.Now())
	if err != nil {
		return false, fmt.Errorf("outside lockout of %s: %w", lot, err)
	}
	return !until.IsZero(), nil
}

// Failed records a wrong PIN and imposes the locks r calls for.
func (g Guard) Failed(ctx context.Context, r Lockout, domain, lot, number string) (Verdict, error) {
	now := g.Now()
	byNumber, byLot, err := g.Store.PINFailed(ctx, domain, lot, number, now, now.Add(-r.NumberWindow), now.Add(-r.LotWindow))
	if err != nil {
		return Verdict{}, fmt.Errorf("record a wrong PIN for %s: %w", lot, err)
	}
	var v Verdict
	v.NumberLocked, v.LotLocked = r.Judge(byNumber, byLot)
	if v.NumberLocked && number != "" {
		if err := g.Store.LockOutside(ctx, domain, lot, number, now.Add(r.NumberLock)); err != nil {
			return v, fmt.Errorf("lock %s out of %s: %w", number, lot, err)
		}
	} else {
		v.NumberLocked = false
	}
	if v.LotLocked {
		if err := g.Store.LockOutside(ctx, domain, lot, "", now.Add(r.LotLock)); err != nil {
			return v, fmt.Errorf("lock the outside access of %s: %w", lot, err)
		}
	}
	return v, nil
}

// PIN lengths an outside caller may enter.
const (
	MinPINLen = 4
	MaxPINLen = 12
)

// ValidPIN reports whether pin is 4 to 12 ASCII digits. It does not say
// which digit is wrong: it is used on what a caller typed.
func ValidPIN(pin string) bool {
	if len(pin) < MinPINLen || len(pin) > MaxPINLen {
		return false
	}
	ok := true
	for i := 0; i < len(pin); i++ {
		ok = ok && pin[i] >= '0' && pin[i] <= '9'
	}
	return ok
}
