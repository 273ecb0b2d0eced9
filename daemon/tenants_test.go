package daemon

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// inDomain makes the call come from a phone (or a context) of domain d,
// as the switch's domain_name says.
func inDomain(d string) callOpt {
	return func(s *fstest.CallSpec) { s.Domain = d }
}

// noDomain makes the call carry no domain_name at all.
func noDomain(s *fstest.CallSpec) { s.NoDomain = true }

// tenantLots are two hospitals with the same lot, slots and codes.
func tenantLots(edit func(*conf.Lot)) []conf.Lot {
	var out []conf.Lot
	for _, d := range []string{"hospital-a.example", "hospital-b.example"} {
		out = append(out, lot("main", "201-220", func(l *conf.Lot) {
			l.Domain = d
			if edit != nil {
				edit(l)
			}
		}))
	}
	return out
}

// Ensure two domains with the same slot numbers and codes park side by
// side over real sockets, and a retrieve never crosses from one to the
// other: each phone gets its own domain's call, a phone of no domain or of
// another domain is refused, and every row carries its domain.
func TestE2E_Tenants_NeverCross(t *testing.T) {
	h := startHarness(t, tenantLots(nil)...)
	jane := h.park("202", caller("Jane Roe", "+15550100"), inDomain("hospital-a.example"))
	bob := h.park("202", caller("Bob Poe", "+15550200"), inDomain("hospital-b.example"))
	if got := bob.State().Vars["parkd_domain"]; got != "hospital-b.example" {
		t.Fatalf("parkd_domain on the parked channel=%q", got)
	}
	occ := h.occupied()
	if len(occ) != 2 || occ[0].Domain != "hospital-a.example" || occ[1].Domain != "hospital-b.example" ||
		occ[0].Slot != 202 || occ[1].Slot != 202 {
		t.Fatalf("occupancy=%+v", occ)
	}

	// A phone of neither domain, and one with no domain: refused, hung up.
	for _, opt := range []callOpt{inDomain("hospital-c.example"), noDomain} {
		x := h.call("retrieve", "main", "202", caller("Stranger", "3003"), opt)
		h.waitFor(x, "refused", refusedAndHungUp)
	}
	// hospital-b's phone dials the same code and slot: gets Bob.
	b := h.call("retrieve", "main", "202", caller("Dr. B", "2002"), inDomain("hospital-b.example"))
	h.waitFor(bob, "bob bridged to hospital-b's phone", bridgedTo(b))
	h.waitHistory(bob.UUID(), parking.EventParked, parking.EventRetrieved)
	// Again from hospital-b, longest waiting: nothing left there, though
	// hospital-a's Jane still waits.
	b2 := h.call("retrieve", "main", "", caller("Dr. B", "2002"), inDomain("hospital-b.example"))
	h.waitFor(b2, "refused: nothing parked in hospital-b", refusedAndHungUp)
	if st := jane.State(); !parked(st) {
		t.Fatalf("jane left the park: %+v", st)
	}
	a := h.call("retrieve", "main", "", caller("Dr. A", "1001"), inDomain("Hospital-A.example"))
	h.waitFor(jane, "jane bridged to hospital-a's phone", bridgedTo(a))
	h.waitHistory(jane.UUID(), parking.EventParked, parking.EventRetrieved)

	for call, d := range map[string]string{jane.UUID(): "hospital-a.example", bob.UUID(): "hospital-b.example"} {
		rows, err := h.m.DB.History(context.Background(), store.HistoryFilter{Call: parking.CallID(call)})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			if r.Domain != d {
				t.Fatalf("row %+v, want domain %s", r, d)
			}
		}
	}
	rep, err := h.m.DB.Report(context.Background(), store.ReportQuery{
		From: time.Now().Add(-time.Hour), To: time.Now().Add(time.Hour), By: store.ByDomain,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Groups) != 2 || rep.Groups[0].Group != "hospital-a.example" || rep.Groups[0].Retrieved != 1 ||
		rep.Groups[1].Group != "hospital-b.example" || rep.Groups[1].Retrieved != 1 {
		t.Fatalf("report by domain: %+v", rep.Groups)
	}
}

// Ensure a park from a channel of a domain that has no lot is refused,
// not put into another tenant's lot.
func TestE2E_Tenants_UnknownDomainRefused(t *testing.T) {
	h := startHarness(t, tenantLots(nil)...)
	x := h.call("park", "main", "202", transferredBy("1000"), inDomain("hospital-c.example"))
	h.waitFor(x, "refused and sent back", refusedAndReturned("1000"))
	if occ := h.occupied(); len(occ) != 0 {
		t.Fatalf("occupancy=%+v", occ)
	}
	if r := h.lastRow(x.UUID()); r.Event != parking.EventRejected {
		t.Fatalf("row %+v", r)
	}
}

// Ensure a recall rings the parker in the lot's domain: the same
// extension 1000 exists in both hospitals, and only hospital-b's rings.
func TestE2E_Tenants_RecallDialsLotDomain(t *testing.T) {
	h := startHarness(t, tenantLots(func(l *conf.Lot) {
		l.Timeout = time.Second
		l.Recall.Attempts = 1
	})...)
	h.sim.Register("1000@hospital-a.example", fstest.Endpoint{Busy: true})
	h.sim.Register("1000@hospital-b.example", fstest.Endpoint{AnswerAfter: 100 * time.Millisecond})
	// Referred-By names another host: the lot's domain wins.
	bob := h.call("park", "main", "205", transferredBy("1000"), inDomain("hospital-b.example"))
	h.waitFor(bob, "parked", parked)
	h.waitHistory(bob.UUID(), parking.EventParked, parking.EventRecall, parking.EventRecalled)
	inv := h.sim.Invites()
	if len(inv) != 1 || inv[0].User != "1000" || inv[0].Domain != "hospital-b.example" {
		t.Fatalf("invites=%+v, want one to 1000@hospital-b.example", inv)
	}
	h.waitFor(bob, "bob bridged to the recall", bridgedTo(h.sim.Channel(inv[0].UUID)))
}

// Ensure a domain's lot's busy-lamp keys are published in that domain
// only, so park+202 of each hospital shows its own call.
func TestE2E_Tenants_BusyLamps(t *testing.T) {
	h := startLampHarness(t, tenantLots(nil)...)
	h.lamp("park+202@hospital-a.example", lampIs("terminated", "Available"))
	h.lamp("park+202@hospital-b.example", lampIs("terminated", "Available"))
	h.park("202", caller("Bob Poe", "+15550200"), inDomain("hospital-b.example"))
	h.lamp("park+202@hospital-b.example", lampIs("confirmed", "Parked: Bob Poe +15550200"))
	if in := h.lamp("park+202@hospital-a.example", func(fstest.PresenceIn) bool { return true }); in.AnswerState != "terminated" {
		t.Fatalf("hospital-a's key shows hospital-b's call: %+v", in)
	}
	// Nothing for the switch's own domain: no lot is outside a domain.
	for _, in := range h.sim.PresenceHistory("park+202@127.0.0.1") {
		t.Fatalf("a key published outside the tenants' domains: %+v", in)
	}
	id := h.sim.Subscribe("park+202", "hospital-a.example")
	in := h.lamp("park+202@hospital-a.example", func(in fstest.PresenceIn) bool { return in.CallID == id })
	if in.AnswerState != "terminated" {
		t.Fatalf("hospital-a's probe answered with hospital-b's call: %+v", in)
	}
}

// Ensure a parkd that lost its database re-adopts a domain lot's call
// from the marks on its channel (parkd_domain) into that domain's lot, so
// the other domain still cannot retrieve it.
func TestE2E_Tenants_ReadoptedFromSwitch(t *testing.T) {
	h := startHarness(t, tenantLots(nil)...)
	bob := h.park("202", caller("Bob Poe", "+15550200"), inDomain("hospital-b.example"))
	h.stop()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		if err := os.Remove(h.cfg.Store.Path + suffix); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	h.boot()
	h.eventually("re-adopted from the switch", func() bool {
		occ := h.occupied()
		return len(occ) == 1 && occ[0].Call == parking.CallID(bob.UUID())
	})
	if o := h.occupied()[0]; o.Domain != "hospital-b.example" || o.Lot != "main" || o.Slot != 202 {
		t.Fatalf("re-adopted as %+v", o)
	}
	a := h.call("retrieve", "main", "202", caller("Dr. A", "1001"), inDomain("hospital-a.example"))
	h.waitFor(a, "hospital-a refused", refusedAndHungUp)
	b := h.call("retrieve", "main", "202", caller("Dr. B", "2002"), inDomain("hospital-b.example"))
	h.waitFor(bob, "bob bridged to hospital-b's phone", bridgedTo(b))
}
