package daemon

import (
	"context"
	"testing"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
)

// startLampHarness is a harness with [blf] on.
func startLampHarness(t *testing.T, lots ...conf.Lot) *harness {
	t.Helper()
	sim := fstest.Start(t, fstest.Options{})
	cfg := startConfig(t, sim, lots...)
	cfg.BLF.Enabled = true
	h := &harness{t: t, sim: sim, cfg: cfg}
	h.boot()
	return h
}

// lamp waits for key's lamp to satisfy ok, failing the test if it never
// does (a safety net, not a timing assertion).
func (h *harness) lamp(key string, ok func(fstest.PresenceIn) bool) fstest.PresenceIn {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait5s)
	defer cancel()
	in, err := h.sim.WaitPresence(ctx, key, ok)
	if err != nil {
		h.t.Fatalf("%s: latest %+v: %v", key, in, err)
	}
	return in
}

func lampIs(state, status string) func(fstest.PresenceIn) bool {
	return func(in fstest.PresenceIn) bool { return in.AnswerState == state && in.Status == status }
}

// Ensure serve with [blf] on lights every key once it connects, tells the
// phones a park, the lot's count and a retrieve, and answers a probe with
// the current state.
func TestE2E_BusyLamps(t *testing.T) {
	h := startLampHarness(t)
	h.lamp("park+201@127.0.0.1", lampIs("terminated", "Available"))
	h.lamp("park+*70@127.0.0.1", lampIs("terminated", "Available"))

	ch := h.park("201", caller("Jane Roe", "+15550100"))
	h.lamp("park+201@127.0.0.1", lampIs("confirmed", "Parked: Jane Roe +15550100"))
	h.lamp("park+*70@127.0.0.1", lampIs("confirmed", "1 parked"))

	id := h.sim.Subscribe("park+201", "127.0.0.1")
	in := h.lamp("park+201@127.0.0.1", func(in fstest.PresenceIn) bool { return in.CallID == id })
	if in.AnswerState != "confirmed" {
		t.Fatalf("probe answered %+v", in)
	}

	r := h.call("retrieve", "main", "201")
	h.waitFor(r, "bridged to the parked call", bridgedTo(ch))
	h.lamp("park+201@127.0.0.1", lampIs("terminated", "Available"))
	h.lamp("park+*70@127.0.0.1", lampIs("terminated", "Available"))
	if s := h.m.Presence.Stats(); s.Published == 0 || s.Answered == 0 {
		t.Fatalf("presence stats %+v", s)
	}
}

// Ensure a reload gives the lamps the new lots' keys: a lot added lights
// its keys without a restart.
func TestReload_BusyLampKeys(t *testing.T) {
	h := startLampHarness(t)
	h.lamp("park+201@127.0.0.1", lampIs("terminated", "Available"))
	next := h.cfg
	next.Lots = append(append([]conf.Lot(nil), h.cfg.Lots...), lot("second", "301-305", func(l *conf.Lot) {
		l.ParkCode, l.RetrieveCode = "*72", "*73"
	}))
	next.ESL.Listen = "127.0.0.1:8084" // the harness's ":0" is for its own listener only
	if err := next.Validate(); err != nil {
		t.Fatal(err)
	}
	h.m.Load = func() (conf.Config, error) { return next, nil }
	if err := h.m.Reload(); err != nil {
		t.Fatal(err)
	}
	h.lamp("park+303@127.0.0.1", lampIs("terminated", "Available"))
	h.lamp("park+*72@127.0.0.1", lampIs("terminated", "Available"))
}

// Ensure serve without [blf] publishes nothing and subscribes to no probes.
func TestE2E_NoBusyLampsByDefault(t *testing.T) {
	h := startHarness(t)
	h.park("201")
	if h.m.Presence != nil || h.sim.PresenceCount() != 0 {
		t.Fatalf("presence with [blf] off: %v, %d events", h.m.Presence, h.sim.PresenceCount())
	}
}
