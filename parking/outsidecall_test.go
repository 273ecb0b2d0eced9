package parking

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// outsideLeg is a fakeLeg that types scripted entries at each Digits.
type outsideLeg struct {
	*fakeLeg
	entries []string // one per Digits call, in order; "" types nothing
	// typing, if set, runs while the caller types its n-th entry (from 0).
	typing func(n int)
	n      int
}

func (l *outsideLeg) Digits(ctx context.Context, r DigitsRequest) (string, error) {
	l.mu.Lock()
	n := l.n
	l.n++
	l.mu.Unlock()
	if l.typing != nil {
		l.typing(n)
	}
	if err := l.do(ctx, "digits", "prompt "+r.Prompt); err != nil {
		return "", err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.entries) == 0 {
		return "", nil
	}
	d := l.entries[0]
	l.entries = l.entries[1:]
	return d, nil
}

func (l *outsideLeg) Play(ctx context.Context, media string) error {
	return l.do(ctx, "play", "play "+media)
}

// pinIs is a PINChecker for one PIN (the real one is a hash in daemon).
type pinIs string

func (p pinIs) CheckPIN(pin string) bool { return string(p) == pin }

func outsideService(t *testing.T, askSlot bool) (*Service, *memStore, *memFailures, *time.Time) {
	t.Helper()
	st := newMemStore()
	lot := LotConfig{Name: "main", First: 201, Last: 205, Music: "local_stream://moh", Timeout: 2 * time.Minute,
		Outside: OutsideConfig{
			PIN: pinIs("4711"), AskSlot: askSlot, Reprompts: 3, DigitTimeout: time.Second,
			Prompts: OutsidePrompts{Slot: "slot.wav", PIN: "pin.wav", WrongPIN: "wrong.wav", NoCall: "nocall.wav"},
			Lockout: DefaultLockout(),
		}}
	svc, _ := mustService(t, st, lot)
	fails := &memFailures{}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	svc.PINs, svc.Clock = fails, func() time.Time { return now }
	return svc, st, fails, &now
}

func TestOutsideRightSlotAndPINBridges(t *testing.T) {
	svc, st, _, _ := outsideService(t, true)
	parked := park(t, svc, "patient", 202)
	leg := &outsideLeg{fakeLeg: newLeg("outsider"), entries: []string{"202", "4711"}}
	occ, err := svc.Outside(context.Background(), OutsideRequest{Leg: leg, Lot: "main", Caller: Caller{Number: "+15550100"}})
	if err != nil || occ.Call != parked.Call {
		t.Fatalf("Outside = %+v, %v", occ, err)
	}
	if !slices.Equal(leg.bridged, []CallID{parked.Call}) {
		t.Fatalf("bridged %v", leg.bridged)
	}
	last := st.last()
	if last.Event != EventRetrieved || last.Retriever != "outside:+15550100" {
		t.Fatalf("last row %+v", last)
	}
}

func TestOutsideWrongPINThreeTimesEnds(t *testing.T) {
	svc, st, fails, _ := outsideService(t, true)
	park(t, svc, "patient", 202)
	leg := &outsideLeg{fakeLeg: newLeg("outsider"), entries: []string{"202", "1111", "202", "2222", "202", "4712"}}
	_, err := svc.Outside(context.Background(), OutsideRequest{Leg: leg, Lot: "main", Caller: Caller{Number: "+15550100"}})
	if !errors.Is(err, ErrPINRefused) {
		t.Fatalf("err = %v, want ErrPINRefused", err)
	}
	calls := leg.calls()
	if n := strings.Count(strings.Join(calls, "|"), "play wrong.wav"); n != 3 || calls[len(calls)-1] != "refuse " {
		t.Fatalf("leg heard %v; want 3 wrong-PIN prompts then the refusal", calls)
	}
	if len(leg.bridged) != 0 || len(fails.fails) != 3 {
		t.Fatalf("bridged %v, %d failures counted", leg.bridged, len(fails.fails))
	}
	var pinRows int
	for _, r := range st.rows() {
		if r.Event == EventPINFailed {
			pinRows++
			if r.Caller.Number != "+15550100" || r.Lot != "main" || strings.Contains(r.Reason, "4712") {
				t.Fatalf("pin_failed row %+v", r)
			}
		}
	}
	if pinRows != 3 {
		t.Fatalf("%d pin_failed rows, want 3", pinRows)
	}
}

func TestOutsideLockedOutRightPINRefused(t *testing.T) {
	svc, st, _, now := outsideService(t, false)
	park(t, svc, "patient", 202)
	ctx := context.Background()
	// Two calls of wrong PINs: 6 failures, the 5th locks the number.
	for range 2 {
		leg := &outsideLeg{fakeLeg: newLeg("guesser"), entries: []string{"0000", "0001", "0002"}}
		if _, err := svc.Outside(ctx, OutsideRequest{Leg: leg, Caller: Caller{Number: "+15550100"}}); !errors.Is(err, ErrPINRefused) {
			t.Fatal(err)
		}
		*now = now.Add(time.Minute)
	}
	if !hasEvent(st, EventPINLocked) {
		t.Fatal("no pin_locked row")
	}
	leg := &outsideLeg{fakeLeg: newLeg("owner"), entries: []string{"4711", "4711", "4711"}}
	if _, err := svc.Outside(ctx, OutsideRequest{Leg: leg, Caller: Caller{Number: "+15550100"}}); !errors.Is(err, ErrPINRefused) {
		t.Fatalf("locked-out caller with the right PIN: %v", err)
	}
	if len(leg.bridged) != 0 || strings.Count(strings.Join(leg.calls(), "|"), "play wrong.wav") != 3 {
		t.Fatalf("locked-out caller: bridged %v, heard %v", leg.bridged, leg.calls())
	}
	// Another number is not locked out.
	other := &outsideLeg{fakeLeg: newLeg("other"), entries: []string{"4711"}}
	if _, err := svc.Outside(ctx, OutsideRequest{Leg: other, Caller: Caller{Number: "+15550199"}}); err != nil {
		t.Fatalf("another number: %v", err)
	}
	// Past the lock, the owner gets through.
}

func hasEvent(st *memStore, e Event) bool {
	for _, r := range st.rows() {
		if r.Event == e {
			return true
		}
	}
	return false
}

func TestOutsideRightPINEmptySlotHearsNoCall(t *testing.T) {
	svc, _, fails, _ := outsideService(t, true)
	leg := &outsideLeg{fakeLeg: newLeg("outsider"), entries: []string{"203", "4711"}}
	_, err := svc.Outside(context.Background(), OutsideRequest{Leg: leg, Caller: Caller{Number: "+15550100"}})
	if !errors.Is(err, ErrSlotEmpty) {
		t.Fatalf("err = %v, want ErrSlotEmpty", err)
	}
	calls := leg.calls()
	if !slices.Contains(calls, "play nocall.wav") || len(fails.fails) != 0 {
		t.Fatalf("heard %v, %d failures", calls, len(fails.fails))
	}
}

func TestOutsideNothingTypedEnds(t *testing.T) {
	svc, _, fails, _ := outsideService(t, true)
	leg := &outsideLeg{fakeLeg: newLeg("outsider")}
	if _, err := svc.Outside(context.Background(), OutsideRequest{Leg: leg, Caller: Caller{Number: "+15550100"}}); !errors.Is(err, ErrNoInput) {
		t.Fatalf("err = %v, want ErrNoInput", err)
	}
	if len(fails.fails) != 0 {
		t.Fatal("silence counted as a wrong PIN")
	}
}

func TestOutsideOffRefused(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	svc.PINs = &memFailures{}
	leg := &outsideLeg{fakeLeg: newLeg("outsider"), entries: []string{"201", "4711"}}
	if _, err := svc.Outside(context.Background(), OutsideRequest{Leg: leg}); !errors.Is(err, ErrNoOutside) {
		t.Fatalf("err = %v, want ErrNoOutside", err)
	}
}

// A phone retrieves the call while the outside caller types the PIN: the
// phone wins, the outside caller hears "no call", nothing is bridged twice.
func TestOutsidePhoneRetrievesWhilePINTyped(t *testing.T) {
	svc, _, _, _ := outsideService(t, true)
	parked := park(t, svc, "patient", 202)
	ctx := context.Background()
	phone := newLeg("phone")
	leg := &outsideLeg{fakeLeg: newLeg("outsider"), entries: []string{"202", "4711"}}
	leg.typing = func(n int) {
		if n == 1 { // the PIN
			if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: phone, Retriever: "1000", Slot: 202}); err != nil {
				t.Errorf("phone retrieve: %v", err)
			}
		}
	}
	if _, err := svc.Outside(ctx, OutsideRequest{Leg: leg, Caller: Caller{Number: "+15550100"}}); !errors.Is(err, ErrSlotEmpty) {
		t.Fatalf("outside: %v, want ErrSlotEmpty", err)
	}
	if !slices.Equal(phone.bridged, []CallID{parked.Call}) || len(leg.bridged) != 0 {
		t.Fatalf("phone bridged %v, outsider bridged %v", phone.bridged, leg.bridged)
	}
}

// The parked caller hangs up while the outside caller types the PIN.
func TestOutsideParkedHangsUpWhilePINTyped(t *testing.T) {
	svc, st, _, _ := outsideService(t, true)
	parked := park(t, svc, "patient", 202)
	ctx := context.Background()
	leg := &outsideLeg{fakeLeg: newLeg("outsider"), entries: []string{"202", "4711"}}
	leg.typing = func(n int) {
		if n == 1 {
			svc.Hangup(ctx, parked.Call, "NORMAL_CLEARING")
		}
	}
	if _, err := svc.Outside(ctx, OutsideRequest{Leg: leg, Caller: Caller{Number: "+15550100"}}); !errors.Is(err, ErrSlotEmpty) {
		t.Fatalf("outside: %v, want ErrSlotEmpty", err)
	}
	if ev := st.events(parked.Call); ev[len(ev)-1] != EventAbandoned {
		t.Fatalf("parked call events %v", ev)
	}
}

// The outside caller hangs up while typing the PIN: nothing is counted.
func TestOutsideCallerHangsUpMidPIN(t *testing.T) {
	svc, _, fails, _ := outsideService(t, true)
	park(t, svc, "patient", 202)
	leg := &outsideLeg{fakeLeg: newLeg("outsider"), entries: []string{"202"}}
	leg.typing = func(n int) {
		if n == 1 {
			leg.mu.Lock()
			leg.failOn["digits"] = ErrCallGone
			leg.mu.Unlock()
		}
	}
	_, err := svc.Outside(context.Background(), OutsideRequest{Leg: leg, Caller: Caller{Number: "+15550100"}})
	if !errors.Is(err, ErrCallGone) || len(fails.fails) != 0 {
		t.Fatalf("err = %v, %d failures counted", err, len(fails.fails))
	}
}

// Two tenants each reach their lot "main" from outside: the outside call
// names its lot's domain (the dialplan sets it) and takes only that
// domain's call of the slot; its wrong PINs count for that domain's lot
// only; a call that names no domain finds no lot once lots have domains.
func TestOutsideDomains(t *testing.T) {
	st := newMemStore()
	lot := func(domain, pin string) LotConfig {
		return LotConfig{Name: "main", Domain: domain, First: 201, Last: 205, Music: "local_stream://moh", Timeout: 2 * time.Minute,
			Outside: OutsideConfig{
				PIN: pinIs(pin), AskSlot: true, Reprompts: 3, DigitTimeout: time.Second,
				Prompts: OutsidePrompts{Slot: "slot.wav", PIN: "pin.wav", WrongPIN: "wrong.wav", NoCall: "nocall.wav"},
				Lockout: DefaultLockout(),
			}}
	}
	svc, _ := mustService(t, st, lot("a.example", "1111"), lot("b.example", "2222"))
	fails := &memFailures{}
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	svc.PINs, svc.Clock = fails, func() time.Time { return now }
	ctx := context.Background()
	occA, err := svc.Park(ctx, ParkRequest{Leg: newLeg("ann"), Caller: Caller{Number: "100"}, Parker: "1000", Domain: "a.example", Slot: 202})
	if err != nil {
		t.Fatal(err)
	}
	occB, err := svc.Park(ctx, ParkRequest{Leg: newLeg("bob"), Caller: Caller{Number: "200"}, Parker: "1000", Domain: "b.example", Slot: 202})
	if err != nil {
		t.Fatal(err)
	}

	// hospital-a's PIN at hospital-b's number is a wrong PIN there.
	wrong := &outsideLeg{fakeLeg: newLeg("guess"), entries: []string{"202", "1111", "202", "1111", "202", "1111"}}
	if _, err := svc.Outside(ctx, OutsideRequest{Leg: wrong, Lot: "main", Domain: "B.example", Caller: Caller{Number: "+15550100"}}); !errors.Is(err, ErrPINRefused) {
		t.Fatalf("a.example's PIN for b.example's lot: %v, want ErrPINRefused", err)
	}
	if len(fails.fails) != 3 || fails.fails[0].lot != "b.example/main" {
		t.Fatalf("failures counted %+v, want 3 of b.example's main", fails.fails)
	}
	for _, r := range st.rows() {
		if r.Event == EventPINFailed && r.Domain != "b.example" {
			t.Fatalf("pin_failed row of domain %q, want b.example", r.Domain)
		}
	}

	legA := &outsideLeg{fakeLeg: newLeg("outA"), entries: []string{"202", "1111"}}
	got, err := svc.Outside(ctx, OutsideRequest{Leg: legA, Lot: "main", Domain: "a.example", Caller: Caller{Number: "+15550100"}})
	if err != nil || got.Call != occA.Call || !slices.Equal(legA.bridged, []CallID{occA.Call}) {
		t.Fatalf("a.example's outside call took %+v (bridged %v), %v; want %s", got, legA.bridged, err, occA.Call)
	}
	if last := st.last(); last.Event != EventRetrieved || last.Domain != "a.example" || last.Retriever != "outside:+15550100" {
		t.Fatalf("last row %+v", last)
	}

	none := &outsideLeg{fakeLeg: newLeg("nodomain"), entries: []string{"202", "2222"}}
	if _, err := svc.Outside(ctx, OutsideRequest{Leg: none, Lot: "main", Caller: Caller{Number: "+15550111"}}); !errors.Is(err, ErrUnknownLot) {
		t.Fatalf("an outside call naming no domain: %v, want ErrUnknownLot", err)
	}
	if len(none.bridged) != 0 || slices.Contains(none.calls(), "answer") {
		t.Fatalf("refused outside call: bridged %v, calls %v", none.bridged, none.calls())
	}
	if occs := svc.Occupants(); len(occs) != 1 || occs[0].Call != occB.Call {
		t.Fatalf("parked now %+v; want b.example's call alone", occs)
	}
}
