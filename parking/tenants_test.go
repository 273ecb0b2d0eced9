package parking

import (
	"context"
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// tenantLots are two hospitals with the same lot name, slots and recall:
// lot main, 201-203, in a.example and in b.example.
func tenantLots() []LotConfig {
	a := recallLot(func(c *LotConfig) { c.Last = 203; c.Domain = "a.example" })
	b := recallLot(func(c *LotConfig) { c.Last = 203; c.Domain = "B.Example" }) // case-folded
	return []LotConfig{a, b}
}

// Ensure two domains with the same lot name and slots park side by side,
// and a retrieve only ever reaches its own domain's call.
func TestTenants_ParkAndRetrieveNeverCross(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st, tenantLots()...)

	occA, err := svc.Park(ctx, ParkRequest{Leg: newLeg("ann"), Caller: Caller{Number: "100"}, Parker: "1000", Domain: "a.example", Slot: 202})
	if err != nil {
		t.Fatal(err)
	}
	occB, err := svc.Park(ctx, ParkRequest{Leg: newLeg("bob"), Caller: Caller{Number: "200"}, Parker: "1000", Domain: "b.example", Slot: 202})
	if err != nil {
		t.Fatalf("slot 202 of b.example: %v", err)
	}
	if occA.Domain != "a.example" || occB.Domain != "b.example" || occA.Lot != "main" || occB.Lot != "main" {
		t.Fatalf("occupants %+v, %+v", occA, occB)
	}
	if o, _ := st.occupant("bob"); o.Domain != "b.example" {
		t.Fatalf("stored occupant %+v has no domain b.example", o)
	}

	// b retrieves 202: gets bob, never ann.
	got, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("b-phone"), Retriever: "1001", Domain: "B.EXAMPLE", Slot: 202})
	if err != nil || got.Call != "bob" {
		t.Fatalf("b retrieved %+v, %v; want bob", got, err)
	}
	// b again: its slot is empty now, a's call stays.
	if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("b-phone2"), Domain: "b.example", Slot: 202}); !errors.Is(err, ErrSlotEmpty) {
		t.Fatalf("b's second retrieve: %v, want ErrSlotEmpty", err)
	}
	if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("b-phone3"), Domain: "b.example"}); !errors.Is(err, ErrSlotEmpty) {
		t.Fatalf("b's longest-waiting retrieve: %v, want ErrSlotEmpty", err)
	}
	// No domain, or one with no lots: refused, never a's call.
	for _, d := range []string{"", "c.example"} {
		if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("x-" + d), Domain: d, Slot: 202}); !errors.Is(err, ErrUnknownLot) {
			t.Fatalf("retrieve from domain %q: %v, want ErrUnknownLot", d, err)
		}
		if _, err := svc.Park(ctx, ParkRequest{Leg: newLeg("p-" + d), Domain: d}); !errors.Is(err, ErrUnknownLot) {
			t.Fatalf("park from domain %q: %v, want ErrUnknownLot", d, err)
		}
	}
	if occ := svc.Occupants(); len(occ) != 1 || occ[0].Call != "ann" {
		t.Fatalf("occupants=%+v, want ann alone", occ)
	}
	got, err = svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("a-phone"), Domain: "a.example"})
	if err != nil || got.Call != "ann" {
		t.Fatalf("a retrieved %+v, %v; want ann", got, err)
	}
}

// Ensure a lot named by a request is looked up in the caller's domain
// only, and a slot key (LotOfSlot) and lamps are per domain.
func TestTenants_LotsAndLampsPerDomain(t *testing.T) {
	lots := tenantLots()
	lots = append(lots, LotConfig{Name: "vip", Domain: "a.example", First: 301, Last: 302, Timeout: time.Minute})
	st := newMemStore()
	lamps := &lampLog{}
	sw := &fakeSwitch{live: map[CallID]bool{}, phones: map[string]phone{}}
	svc, err := NewService(lots, sw, st)
	if err != nil {
		t.Fatal(err)
	}
	svc.Lamps = lamps
	if err := svc.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Shutdown(context.Background()) })

	if _, err := svc.Park(ctx, ParkRequest{Leg: newLeg("v"), Domain: "b.example", Lot: "vip"}); !errors.Is(err, ErrUnknownLot) {
		t.Fatalf("park into a.example's vip from b.example: %v, want ErrUnknownLot", err)
	}
	if rows := st.rows(); len(rows) != 1 || rows[0].Event != EventRejected || rows[0].Domain != "b.example" {
		t.Fatalf("rows %+v, want b.example's rejected park", rows)
	}
	if _, err := svc.Park(ctx, ParkRequest{Leg: newLeg("v"), Domain: "a.example", Lot: "vip"}); err != nil {
		t.Fatal(err)
	}
	if l, ok := svc.LotOfSlot("a.example", 301); !ok || l != "vip" {
		t.Fatalf("LotOfSlot(a, 301)=%q, %v", l, ok)
	}
	if _, ok := svc.LotOfSlot("b.example", 301); ok {
		t.Fatal("slot 301 found in b.example")
	}
	if l, err := svc.Lamp("a.example", "vip", 301); err != nil || l.State != LampParked || l.Domain != "a.example" {
		t.Fatalf("lamp a vip/301=%+v, %v", l, err)
	}
	if _, err := svc.Lamp("b.example", "vip", 301); !errors.Is(err, ErrNoLamp) {
		t.Fatalf("lamp b vip/301: %v", err)
	}
	for _, l := range lamps.since(0) {
		if l.Lot == "vip" && l.Domain != "a.example" {
			t.Fatalf("lamp lit outside a.example: %+v", l)
		}
	}
	var domains []string
	for _, l := range svc.EveryLamp() {
		if l.Slot == 0 {
			domains = append(domains, l.Domain+"/"+l.Lot)
		}
	}
	if want := []string{"a.example/main", "a.example/vip", "b.example/main"}; !slices.Equal(domains, want) {
		t.Fatalf("lot keys %v, want %v", domains, want)
	}
	// Move stays in the call's domain.
	if _, err := svc.Move(ctx, "v", "main", 201, "web:x"); err != nil {
		t.Fatal(err)
	}
	if o, _ := svc.Occupant("v"); o.Domain != "a.example" || o.Lot != "main" || o.Slot != 201 {
		t.Fatalf("moved to %+v", o)
	}
}

// Ensure a single-tenant configuration ignores the channel's domain, as
// before lots had domains: the switch sets domain_name on every call.
func TestTenants_SingleTenantIgnoresDomain(t *testing.T) {
	svc, _ := mustService(t, newMemStore())
	occ, err := svc.Park(ctx, ParkRequest{Leg: newLeg("c"), Domain: "192.0.2.10"})
	if err != nil || occ.Domain != "" {
		t.Fatalf("park: %+v, %v", occ, err)
	}
	if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("r"), Domain: "other.example"}); err != nil {
		t.Fatal(err)
	}
}

// Ensure a recall of a domain's lot dials the parker in the lot's domain,
// whatever the parked call's parker domain was.
func TestTenants_RecallDialsLotDomain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		svc, sw := recallService(t, st, tenantLots()...)
		sw.phones["user/1000@b.example"] = phone{answerAfter: time.Second}
		_, err := svc.Park(context.Background(), ParkRequest{
			Leg: newLeg("bob"), Caller: Caller{Number: "200"}, Parker: "1000", ParkerDomain: "10.0.0.1", Domain: "b.example",
		})
		if err != nil {
			t.Fatal(err)
		}
		sleep(121 * time.Second)
		placed, _, _, _ := sw.snapshot()
		if len(placed) != 1 || placed[0].Dial != "user/1000@b.example" {
			t.Fatalf("recalls=%+v, want one to user/1000@b.example", placed)
		}
		if got := st.events("bob"); !slices.Equal(got, []Event{EventParked, EventRecall, EventRecalled}) {
			t.Fatalf("history %v", got)
		}
		for _, r := range st.rows() {
			if r.Domain != "b.example" {
				t.Fatalf("row %+v not in b.example", r)
			}
		}
	})
}

// Ensure calls restored from the store go back to their own domain's lot,
// and one whose domain has no lot any more is not put in another's.
func TestTenants_AdoptKeepsDomain(t *testing.T) {
	st := newMemStore()
	now := time.Now()
	for _, o := range []Occupant{
		{Lot: "main", Domain: "b.example", Slot: 202, Call: "bob", ParkedAt: now, Deadline: now.Add(time.Hour)},
		{Lot: "main", Domain: "gone.example", Slot: 202, Call: "gus", ParkedAt: now, Deadline: now.Add(time.Hour)},
	} {
		st.occ[o.Call] = o
	}
	svc, _ := mustService(t, st, tenantLots()...)
	occ := svc.Occupants()
	if len(occ) != 1 || occ[0].Call != "bob" || occ[0].Domain != "b.example" || occ[0].Slot != 202 {
		t.Fatalf("occupants=%+v, want bob in b.example/main/202", occ)
	}
	if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("a"), Domain: "a.example", Slot: 202}); !errors.Is(err, ErrSlotEmpty) {
		t.Fatalf("a.example retrieved b's call: %v", err)
	}
}

// Ensure the lot configurations refuse a lot twice in one domain, and
// accept one name in two domains.
func TestTenants_BuildLots(t *testing.T) {
	a := LotConfig{Name: "main", Domain: "a.example", First: 1, Last: 2}
	b := a
	b.Domain = "b.example"
	if _, _, err := buildLots([]LotConfig{a, b}); err != nil {
		t.Fatal(err)
	}
	dup := a
	dup.Domain = "A.EXAMPLE"
	if _, _, err := buildLots([]LotConfig{a, dup}); err == nil {
		t.Fatal("main@a.example twice accepted")
	}
}
