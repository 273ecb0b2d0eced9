package interop

import (
	"strings"
	"testing"
	"time"
)

// lamps is a phone (Users[2]) with busy-lamp keys: dialog subscriptions to
// a slot's key and a lot's key, and a presence subscription to the slot's
// key for the status text.
type lamps struct {
	ua       *ua
	slot     *subscription
	lot      *subscription
	presence *subscription
}

func (s *state) newLamps(t *testing.T, slotKey, lotKey string) *lamps {
	t.Helper()
	u := s.newUA(t, "lamps", uaLampsSIP, s.env.Users[2], s.env.Users[2], "Lamps")
	u.register()
	l := &lamps{ua: u, slot: u.subscribe(slotKey, "dialog"), lot: u.subscribe(lotKey, "dialog"),
		presence: u.subscribe(slotKey, "presence")}
	return l
}

// probeAnswered checks that parkd itself answered the probe of sb's
// SUBSCRIBE: a PRESENCE_IN for the key addressed to that subscription
// (mod_valet_parking, when loaded, answers too, with the bare slot as login).
func (s *state) probeAnswered(t *testing.T, from int, sb *subscription) {
	t.Helper()
	login := sb.to + "@" + s.env.Domain
	if _, ok := s.fs.waitOK(from, 5*time.Second, func(e obsEvent) bool {
		return e.Name() == "PRESENCE_IN" && e.Get("login") == login && e.Get("call-id") == sb.callID
	}); !ok {
		t.Errorf("parkd did not answer the PRESENCE_PROBE of the subscription to %s (no PRESENCE_IN login %s call-id %s)", sb.to, login, sb.callID)
	}
}

// lamp waits from NOTIFY index from on for the key's dialog state.
func lamp(t *testing.T, sb *subscription, from int, state, when string) *sipMsg {
	t.Helper()
	n, ok := sb.waitState(from, state, 10*time.Second)
	if !ok {
		t.Fatalf("key %s: no NOTIFY with <state>%s</state> %s; NOTIFYs since: %s", sb.to, state, when, sb.history(from))
	}
	return n
}

// (j1) A slot's key and a lot's key through park, retrieve, park again and
// abandon; the probe of a new key is answered.
func TestJ1_BLFParkRetrieveAbandon(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	const slot = "206"
	l := s.newLamps(t, "park+"+slot, "park+*70")

	// New keys are answered (PRESENCE_PROBE): dark.
	lamp(t, l.slot, 0, "terminated", "after the SUBSCRIBE (the probe answer)")
	lamp(t, l.lot, 0, "terminated", "after the SUBSCRIBE (the probe answer)")
	s.probeAnswered(t, m, l.slot)
	s.probeAnswered(t, m, l.lot)

	// A call is parked: lit, with the caller in the status text.
	ns, nl, np := l.slot.mark(), l.lot.mark(), l.presence.mark()
	s.sipp(t, "patient", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*70" + slot,
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": "4911", "from_name": "Caller J"}})
	p := s.inboundCall(t, m, "4911")
	s.parkedWithMusic(t, m, p)
	s.waitHistory(t, p, "parked", 5*time.Second)
	n := lamp(t, l.slot, ns, "confirmed", "after the park")
	t.Logf("slot key NOTIFY after the park:\n%s", n.body)
	lamp(t, l.lot, nl, "confirmed", "after the park")
	// A presence (PIDF) key: sofia would write its own note for a
	// confirmed dialog ("On The Phone"); parkd's force-status makes it the
	// status text, with the caller's name and number.
	if pn, ok := l.presence.waitNotify(np, 5*time.Second, func(m *sipMsg) bool {
		return strings.Contains(noteOf(m.body), "Parked: Caller J 4911")
	}); ok {
		t.Logf("presence NOTIFY note after the park: %q", noteOf(pn.body))
	} else {
		t.Errorf("no presence NOTIFY showing the parked call on %s; NOTIFYs since: %s", l.presence.to, l.presence.history(np))
	}

	// Retrieved: dark at once.
	ns, nl = l.slot.mark(), l.lot.mark()
	m2 := s.fs.mark()
	s.sipp(t, "retriever", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*71" + slot,
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": "4912", "from_name": "Nurse"}})
	r := s.inboundCall(t, m2, "4912")
	s.bridgeOf(t, m2, p, r, 10*time.Second)
	lamp(t, l.slot, ns, "terminated", "after the retrieve")
	lamp(t, l.lot, nl, "terminated", "after the retrieve (the lot is empty)")
	m3 := s.fs.mark()
	s.fs.api("uuid_kill " + r)
	s.gone(t, m3, p, 5*time.Second)

	// Parked again, and the caller hangs up: dark.
	ns, nl = l.slot.mark(), l.lot.mark()
	m4 := s.fs.mark()
	s.sipp(t, "patient-hangup", sippOpts{scenario: "uac_caller_hangup.xml", uac: true, service: "*70" + slot,
		port: patient2SIP, mport: patient2RTP, tone: 500, args: []string{"-d", "4000"},
		keys: map[string]string{"from_user": "4913", "from_name": "Caller J2"}})
	p2 := s.inboundCall(t, m4, "4913")
	s.parkedWithMusic(t, m4, p2)
	lamp(t, l.slot, ns, "confirmed", "after the second park")
	lamp(t, l.lot, nl, "confirmed", "after the second park")
	ns, nl = l.slot.mark(), l.lot.mark()
	s.gone(t, m4, p2, 15*time.Second)
	s.waitHistory(t, p2, "abandoned", 5*time.Second)
	lamp(t, l.slot, ns, "terminated", "after the caller hung up")
	lamp(t, l.lot, nl, "terminated", "after the caller hung up")
}

// (j2) A recall rings the parker: the slot's key blinks (early) until the
// parker answers, then goes dark.
func TestJ2_BLFRecallRinging(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	const slot = "305"
	parker := s.env.Users[1]
	phone := s.newUA(t, "parker", uaParkerSIP, parker, parker, "Parker")
	phone.register()
	l := s.newLamps(t, "park+"+slot, "park+*72")
	lamp(t, l.slot, 0, "terminated", "after the SUBSCRIBE (the probe answer)")

	ns, nl := l.slot.mark(), l.lot.mark()
	p, _, _ := s.parkByRefer(t, m, "4921", "Caller K", "*72"+slot, parker)
	s.parkedWithMusic(t, m, p)
	row := s.waitHistory(t, p, "parked", 5*time.Second)
	want(t, row, "slot", slot)
	lamp(t, l.slot, ns, "confirmed", "after the park")
	lamp(t, l.lot, nl, "confirmed", "after the park")
	mParked := s.fs.mark()

	// The lot's timeout (2s) passes: the recall rings the parker's phone.
	ns = l.slot.mark()
	call := phone.nextCall(15 * time.Second)
	n := lamp(t, l.slot, ns, "early", "while the recall rings the parker")
	t.Logf("slot key NOTIFY while the recall rings:\n%s", n.body)
	ns, nl = l.slot.mark(), l.lot.mark()
	call.answer(uaParkerRTP, 1300)
	br := s.bridgeOf(t, mParked, p, "", 10*time.Second)
	lamp(t, l.slot, ns, "terminated", "after the parker answered the recall")
	lamp(t, l.lot, nl, "terminated", "after the parker answered the recall")
	s.waitHistory(t, p, "recalled", 5*time.Second)
	time.Sleep(3 * time.Second)
	s.hears(t, "parker after answering the recall", uaParkerRTP, 500, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
}
