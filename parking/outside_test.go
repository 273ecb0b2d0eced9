package parking

import (
	"context"
	"testing"
	"time"
)

// memFailures is an in-memory PINFailures for the lockout rules.
type memFailures struct {
	fails []memFail
	locks []memFail // at is the lock's end
}

type memFail struct {
	lot, number string
	at          time.Time
}

func (m *memFailures) PINFailed(_ context.Context, domain, lot, number string, at, numberSince, lotSince time.Time) (int, int, error) {
	lot = domain + "/" + lot
	m.fails = append(m.fails, memFail{lot, number, at})
	var byNumber, byLot int
	for _, f := range m.fails {
		if f.lot != lot {
			continue
		}
		if f.at.After(lotSince) {
			byLot++
		}
		if f.number == number && f.at.After(numberSince) {
			byNumber++
		}
	}
	return byNumber, byLot, nil
}

func (m *memFailures) LockOutside(_ context.Context, domain, lot, number string, until time.Time) error {
	lot = domain + "/" + lot
	m.locks = append(m.locks, memFail{lot, number, until})
	return nil
}

func (m *memFailures) OutsideLockedUntil(_ context.Context, domain, lot, number string, now time.Time) (time.Time, error) {
	lot = domain + "/" + lot
	var until time.Time
	for _, l := range m.locks {
		if l.lot == lot && (l.number == "" || l.number == number) && l.at.After(now) && l.at.After(until) {
			until = l.at
		}
	}
	return until, nil
}

func TestLockoutRules(t *testing.T) {
	type step struct {
		advance time.Duration // before the step
		lot     string
		number  string
		fail    bool // record a wrong PIN; else only check the lock
		want    Verdict
		locked  bool // Locked for lot and number after the step
	}
	fail := func(adv time.Duration, number string, want Verdict, locked bool) step {
		return step{advance: adv, lot: "main", number: number, fail: true, want: want, locked: locked}
	}
	check := func(adv time.Duration, lot, number string, locked bool) step {
		return step{advance: adv, lot: lot, number: number, locked: locked}
	}
	numberLocked := Verdict{NumberLocked: true}
	tests := []struct {
		name  string
		steps []step
	}{
		{"four failures do not lock", []step{
			fail(0, "100", Verdict{}, false), fail(time.Minute, "100", Verdict{}, false),
			fail(time.Minute, "100", Verdict{}, false), fail(time.Minute, "100", Verdict{}, false),
		}},
		{"the fifth failure in 15 minutes locks the number for 15 minutes", []step{
			fail(0, "100", Verdict{}, false), fail(time.Minute, "100", Verdict{}, false),
			fail(time.Minute, "100", Verdict{}, false), fail(time.Minute, "100", Verdict{}, false),
			fail(time.Minute, "100", numberLocked, true),
			check(14*time.Minute, "main", "100", true),
			check(0, "main", "200", false),
			check(0, "other", "100", false),
			check(time.Minute+time.Second, "main", "100", false),
		}},
		{"failures older than the window do not count", []step{
			fail(0, "100", Verdict{}, false), fail(time.Minute, "100", Verdict{}, false),
			fail(time.Minute, "100", Verdict{}, false), fail(time.Minute, "100", Verdict{}, false),
			fail(15*time.Minute, "100", Verdict{}, false),
		}},
		{"twenty failures in an hour from any numbers lock the lot", func() []step {
			var s []step
			for i := range 19 {
				s = append(s, fail(2*time.Minute, string(rune('a'+i)), Verdict{}, false))
			}
			s = append(s, fail(2*time.Minute, "z", Verdict{LotLocked: true}, true),
				check(0, "main", "999", true), check(0, "other", "999", false),
				check(15*time.Minute+time.Second, "main", "999", false))
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
			g := Guard{Store: &memFailures{}, Now: func() time.Time { return now }}
			ctx := context.Background()
			for i, s := range tt.steps {
				now = now.Add(s.advance)
				if s.fail {
					v, err := g.Failed(ctx, DefaultLockout(), "", s.lot, s.number)
					if err != nil || v != s.want {
						t.Fatalf("step %d: Failed = %+v, %v; want %+v", i, v, err, s.want)
					}
				}
				if locked, err := g.Locked(ctx, "", s.lot, s.number); err != nil || locked != s.locked {
					t.Fatalf("step %d: Locked(%s, %s) = %v, %v; want %v", i, s.lot, s.number, locked, err, s.locked)
				}
			}
		})
	}
}

func TestJudgeZeroDisables(t *testing.T) {
	r := Lockout{}
	if n, l := r.Judge(100, 100); n || l {
		t.Fatalf("a zero threshold must not lock: %v %v", n, l)
	}
}

func FuzzValidPIN(f *testing.F) {
	for _, s := range []string{"", "123", "1234", "123456789012", "1234567890123", "12a4", "１２３４", "1234#"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := len(s) >= 4 && len(s) <= 12
		for _, r := range []byte(s) {
			want = want && r >= '0' && r <= '9'
		}
		if got := ValidPIN(s); got != want {
			t.Fatalf("ValidPIN(%q) = %v, want %v", s, got, want)
		}
	})
}
