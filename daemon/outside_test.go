package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/passhash"
	"github.com/parkd/parkd/internal/testkit"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// outsideFile is a configuration file whose lot main (201-220) is reached
// from outside on +15550199 with the PIN hashed as pinHash; two wrong PINs
// from one number lock it out.
func outsideFile(sim *fstest.Switch, listen, db, pinHash string) string {
	return fmt.Sprintf(`[esl]
listen = %q
freeswitch = %q

[store]
path = %q

[[lot]]
name = "main"
slots = "201-220"

[lot.outside]
number = "+15550199"
pin_hash = %q

[lot.outside.lockout]
number_failures = 2
`, listen, sim.Addr(), db, pinHash)
}

// startFileHarness starts parkd as serve does: on the configuration file
// at path, read with conf.Load, which Reload reads again.
func startFileHarness(t *testing.T, sim *fstest.Switch, path string) *harness {
	t.Helper()
	c, err := conf.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, sim: sim, cfg: c}
	h.boot()
	h.m.Load = func() (conf.Config, error) { return conf.Load(path) }
	return h
}

func hashOf(t *testing.T, pin string) string {
	t.Helper()
	h, err := passhash.Hash(pin)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// enter waits until ch is prompted with prompt, then types digits.
func (h *harness) enter(ch *fstest.Channel, prompt, digits string) {
	h.t.Helper()
	h.waitFor(ch, "prompt "+prompt, func(s fstest.ChannelState) bool {
		return s.Alive && s.Application == "play_and_get_digits" && strings.Contains(s.ApplicationData, " "+prompt+" ")
	})
	ch.SendDTMF(digits)
}

// outsideCall is a call to the lot's outside number, routed as parkd
// fsconf -outside routes it.
func (h *harness) outsideCall(number string) *fstest.Channel {
	h.t.Helper()
	return h.call("outside", "main", "", caller("Away", number))
}

// pinCounts returns the wrong PINs and lockouts the store counted for the
// lot main of no domain in the last hour.
func (h *harness) pinCounts() (failed, locked int) {
	h.t.Helper()
	rows, err := h.m.DB.PINReport(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rows {
		if r.Domain != "" || r.Lot != "main" {
			h.t.Fatalf("PIN report row for another lot: %+v", r)
		}
		failed, locked = failed+r.Failed, locked+r.Locked
	}
	return failed, locked
}

// Ensure parkd started from a configuration file with [lot.outside] takes
// an outside call end to end: a wrong PIN is counted in its store, the
// right one bridges to the call in the slot typed, recorded as retrieved
// by outside:<number>; and the file's lockout applies: a second wrong PIN
// from that number locks it out, after which even the right PIN fails.
func TestE2E_OutsideFromConfigFile(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	dir := t.TempDir()
	path := filepath.Join(dir, "parkd.toml")
	data := outsideFile(sim, testkit.FreeAddr(t), filepath.Join(dir, "parkd.db"), hashOf(t, "97531"))
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startFileHarness(t, sim, path)
	pr := h.cfg.Lots[0].Outside.Prompts

	p := h.park("205")
	out := h.outsideCall("+15557777")
	h.enter(out, pr.Slot, "205#")
	h.enter(out, pr.PIN, "97530#")
	h.enter(out, pr.Slot, "205#")
	h.enter(out, pr.PIN, "97531#")
	h.waitFor(out, "bridged with the right PIN", bridgedTo(p))
	h.eventually("retrieved by the outside caller", func() bool {
		r := h.lastRow(p.UUID())
		return r.Event == parking.EventRetrieved && r.Retriever == "outside:+15557777" && r.Slot == 205
	})
	if failed, locked := h.pinCounts(); failed != 1 || locked != 0 {
		t.Fatalf("store counted %d wrong PINs and %d lockouts, want 1 and 0", failed, locked)
	}
	ctx := context.Background()
	if until, err := h.m.DB.OutsideLockedUntil(ctx, "", "main", "+15557777", time.Now()); err != nil || !until.IsZero() {
		t.Fatalf("locked until %v (%v) after one wrong PIN", until, err)
	}

	// number_failures = 2: the second wrong PIN locks the number out.
	p2 := h.park("206")
	out2 := h.outsideCall("+15557777")
	h.enter(out2, pr.Slot, "206#")
	h.enter(out2, pr.PIN, "11111#")
	h.enter(out2, pr.Slot, "206#")
	h.enter(out2, pr.PIN, "97531#")
	h.enter(out2, pr.Slot, "206#")
	h.enter(out2, pr.PIN, "97531#")
	h.waitFor(out2, "ended after three refused PINs", hungUp)
	if s := p2.State(); !s.Alive || s.BridgedTo != "" {
		t.Fatalf("a locked-out caller reached the call: %+v", s)
	}
	if until, err := h.m.DB.OutsideLockedUntil(ctx, "", "main", "+15557777", time.Now()); err != nil || until.IsZero() {
		t.Fatalf("number not locked out after the file's number_failures: %v", err)
	}
	if failed, locked := h.pinCounts(); failed != 4 || locked != 1 {
		t.Fatalf("store counted %d pin_failed and %d pin_locked, want 4 (2 wrong, 2 while locked) and 1", failed, locked)
	}
	rows, err := h.m.DB.History(ctx, store.HistoryFilter{Event: parking.EventPINFailed})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Caller.Number != "+15557777" || r.Lot != "main" {
			t.Fatalf("pin_failed row %+v", r)
		}
	}
}

// Ensure a reload (SIGHUP) of a file whose pin_hash changed gives outside
// pick-up the new PIN at once: the old PIN is a wrong PIN, the new one
// bridges, without a restart.
func TestReload_OutsidePINHash(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	dir := t.TempDir()
	path := filepath.Join(dir, "parkd.toml")
	listen, db := testkit.FreeAddr(t), filepath.Join(dir, "parkd.db")
	if err := os.WriteFile(path, []byte(outsideFile(sim, listen, db, hashOf(t, "11112222"))), 0o600); err != nil {
		t.Fatal(err)
	}
	h := startFileHarness(t, sim, path)
	pr := h.cfg.Lots[0].Outside.Prompts

	// The old PIN works before the reload.
	p := h.park("205")
	out := h.outsideCall("+15557777")
	h.enter(out, pr.Slot, "205#")
	h.enter(out, pr.PIN, "11112222#")
	h.waitFor(out, "bridged with the PIN before the reload", bridgedTo(p))
	out.Hangup("NORMAL_CLEARING")
	h.waitFor(p, "retrieved call ended", hungUp)

	if err := os.WriteFile(path, []byte(outsideFile(sim, listen, db, hashOf(t, "33334444"))), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Reload(); err != nil {
		t.Fatal(err)
	}
	p = h.park("206")
	out = h.outsideCall("+15558888")
	h.enter(out, pr.Slot, "206#")
	h.enter(out, pr.PIN, "11112222#")
	h.enter(out, pr.Slot, "206#")
	h.enter(out, pr.PIN, "33334444#")
	h.waitFor(out, "bridged with the new PIN", bridgedTo(p))
	if failed, _ := h.pinCounts(); failed != 1 {
		t.Fatalf("%d wrong PINs counted, want the old PIN's 1", failed)
	}
}

// outsideTo is what the extension parkd fsconf -outside writes for a
// domain lot's number sets: parkd_domain, the lot's domain.
func outsideTo(domain string) callOpt {
	return func(s *fstest.CallSpec) { s.Vars["parkd_domain"] = domain }
}

// Ensure outside pick-up never crosses tenants: two lots main in
// a.example and b.example, each with its own number and PIN, a call parked
// in slot 202 of each. An outside call routed to b's number (parkd_domain
// b.example, whatever its domain_name) with a's PIN is a wrong PIN counted
// for b only, whose lockout keeps that number out of b but not of a; b's
// PIN gets b's call, never a's; every row carries its domain.
func TestE2E_Tenants_OutsidePickup(t *testing.T) {
	const pinA, pinB = "24682468", "13571357"
	hashes := map[string]string{"a.example": hashOf(t, pinA), "b.example": hashOf(t, pinB)}
	numbers := map[string]string{"a.example": "+15550101", "b.example": "+15550102"}
	var lots []conf.Lot
	for _, d := range []string{"a.example", "b.example"} {
		lots = append(lots, lot("main", "201-220", func(l *conf.Lot) {
			l.Domain = d
			l.Outside.Number, l.Outside.PINHash = numbers[d], hashes[d]
			l.Outside.Lockout.NumberFailures = 1 // one wrong PIN locks the number out
		}))
	}
	h := startHarness(t, lots...)
	pr := h.cfg.Lots[0].Outside.Prompts
	jane := h.park("202", caller("Jane Roe", "+15550100"), inDomain("a.example"))
	bob := h.park("202", caller("Bob Poe", "+15550200"), inDomain("b.example"))
	ctx := context.Background()

	// a's PIN at b's number, from a channel whose domain_name even names
	// a: a wrong PIN, for b.
	x := h.call("outside", "main", "", caller("Away", "+15557777"), inDomain("a.example"), outsideTo("b.example"))
	h.enter(x, pr.Slot, "202#")
	h.enter(x, pr.PIN, pinA+"#")
	h.waitFor(x, "prompted again after the wrong PIN", func(s fstest.ChannelState) bool {
		return s.Application == "play_and_get_digits" && strings.Contains(s.ApplicationData, " "+pr.Slot+" ")
	})
	x.Hangup("NORMAL_CLEARING")
	for _, st := range []fstest.ChannelState{jane.State(), bob.State()} {
		if !parked(st) {
			t.Fatalf("a parked call was disturbed by a wrong PIN: %+v", st)
		}
	}
	h.eventually("the wrong PIN in the history", func() bool {
		rows, err := h.m.DB.PINReport(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
		return err == nil && len(rows) == 1
	})
	rows, err := h.m.DB.PINReport(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(rows) != 1 || rows[0].Domain != "b.example" || rows[0].Lot != "main" || rows[0].Failed != 1 || rows[0].Locked != 1 {
		t.Fatalf("PIN report %+v (%v): want one wrong PIN and one lockout, of b.example's main only", rows, err)
	}
	for d, want := range map[string]bool{"a.example": false, "b.example": true} {
		until, err := h.m.DB.OutsideLockedUntil(ctx, d, "main", "+15557777", time.Now())
		if err != nil || until.IsZero() == want {
			t.Fatalf("+15557777 locked out of %s's main until %v (%v), want locked %t", d, until, err, want)
		}
	}

	// Locked out of b, not of a: a's PIN at a's number gets a's call.
	y := h.call("outside", "main", "", caller("Away", "+15557777"), noDomain, outsideTo("a.example"))
	h.enter(y, pr.Slot, "202#")
	h.enter(y, pr.PIN, pinA+"#")
	h.waitFor(y, "a's call bridged with a's PIN", bridgedTo(jane))
	if !parked(bob.State()) {
		t.Fatalf("b's call left the park: %+v", bob.State())
	}

	// b's PIN at b's number, from another number: b's call.
	z := h.call("outside", "main", "", caller("Home", "+15558888"), inDomain("a.example"), outsideTo("b.example"))
	h.enter(z, pr.Slot, "202#")
	h.enter(z, pr.PIN, pinB+"#")
	h.waitFor(z, "b's call bridged with b's PIN", bridgedTo(bob))

	h.waitHistory(jane.UUID(), parking.EventParked, parking.EventRetrieved)
	h.waitHistory(bob.UUID(), parking.EventParked, parking.EventRetrieved)
	for call, want := range map[string]struct{ domain, retriever string }{
		jane.UUID(): {"a.example", "outside:+15557777"},
		bob.UUID():  {"b.example", "outside:+15558888"},
		x.UUID():    {"b.example", ""},
	} {
		rows, err := h.m.DB.History(ctx, store.HistoryFilter{Call: parking.CallID(call)})
		if err != nil || len(rows) == 0 {
			t.Fatalf("history of %s: %+v, %v", call, rows, err)
		}
		for _, r := range rows {
			if r.Domain != want.domain || (r.Event == parking.EventRetrieved && r.Retriever != want.retriever) {
				t.Fatalf("row %+v, want domain %s retriever %s", r, want.domain, want.retriever)
			}
		}
	}
}
