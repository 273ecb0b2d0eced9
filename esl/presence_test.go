package esl_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// fakeLamps is a LampSource for the lots of its keys, lit the way the
// Service lights them: a change is recorded and handed to Lamps under one
// lock.
type fakeLamps struct {
	mu    sync.Mutex
	keys  esl.LampKeys
	lamps map[[2]any]parking.Lamp
	to    parking.Lamps
}

func newFakeLamps(keys esl.LampKeys) *fakeLamps {
	return &fakeLamps{keys: keys, lamps: map[[2]any]parking.Lamp{}}
}

func (f *fakeLamps) Lamp(_, lot string, slot int) (parking.Lamp, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.keys {
		if k.Lot == lot && (slot == 0 || slot >= k.First && slot <= k.Last) {
			if l, ok := f.lamps[[2]any{lot, slot}]; ok {
				return l, nil
			}
			return parking.Lamp{Lot: lot, Slot: slot}, nil
		}
	}
	return parking.Lamp{}, errors.New("no such lot")
}

func (f *fakeLamps) EveryLamp() []parking.Lamp {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []parking.Lamp
	for _, k := range f.keys {
		for s := 0; s <= k.Last; s++ {
			if s > 0 && s < k.First {
				continue
			}
			l, ok := f.lamps[[2]any{k.Lot, s}]
			if !ok {
				l = parking.Lamp{Lot: k.Lot, Slot: s}
			}
			out = append(out, l)
		}
	}
	return out
}

// set changes a lamp and tells Lamps, as the Service does under its lock.
func (f *fakeLamps) set(l parking.Lamp) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lamps[[2]any{l.Lot, l.Slot}] = l
	if f.to != nil {
		f.to.Light(l)
	}
}

// presenceRig is a simulator, a Client connected to it and a running
// Presence over a fakeLamps.
type presenceRig struct {
	sim   *fstest.Switch
	c     *esl.Client
	p     *esl.Presence
	lamps *fakeLamps
}

var testKeys = esl.LampKeys{
	{Lot: "a", First: 701, Last: 703, Prefix: "park+", LotKey: "70"},
	{Lot: "b", First: 801, Last: 802, Prefix: "park+", LotKey: "lotb"},
}

func startPresence(t testing.TB, opts fstest.Options, keys esl.LampKeys, domains []string, setup func(*fakeLamps)) *presenceRig {
	t.Helper()
	sim := fstest.Start(t, opts)
	c := esl.NewClient(sim.Addr(), "ClueCon")
	c.Calls = &recordingCalls{}
	c.MinBackoff, c.MaxBackoff = time.Millisecond, 10*time.Millisecond
	lamps := newFakeLamps(keys)
	if setup != nil {
		setup(lamps)
	}
	p := esl.NewPresence(c, lamps, keys, domains)
	lamps.mu.Lock()
	lamps.to = p
	lamps.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = c.Run(ctx) }()
	go func() { defer wg.Done(); _ = p.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return &presenceRig{sim: sim, c: c, p: p, lamps: lamps}
}

// wait returns the first state of key that satisfies ok, failing the test
// if none comes (a safety net, not a timing assertion).
func (r *presenceRig) wait(t testing.TB, key string, ok func(fstest.PresenceIn) bool) fstest.PresenceIn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	in, err := r.sim.WaitPresence(ctx, key, ok)
	if err != nil {
		t.Fatalf("%s: latest %+v: %v", key, in, err)
	}
	return in
}

// probe subscribes to key until a probe is answered, as a phone refreshes
// its subscription: a probe the switch sends while parkd is not connected
// (just after a restart, say) reaches nobody.
func (r *presenceRig) probe(t testing.TB, key, domain string) fstest.PresenceIn {
	t.Helper()
	for range 50 {
		id := r.sim.Subscribe(key, domain)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		in, err := r.sim.WaitPresence(ctx, key+"@"+domain, func(in fstest.PresenceIn) bool { return in.CallID == id })
		cancel()
		if err == nil {
			return in
		}
	}
	t.Fatalf("no probe for %s@%s answered", key, domain)
	return fstest.PresenceIn{}
}

func answer(state string) func(fstest.PresenceIn) bool {
	return func(in fstest.PresenceIn) bool { return in.AnswerState == state }
}

var parkedJane = parking.Lamp{Lot: "a", Slot: 702, State: parking.LampParked,
	Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}}

// The transcript's headers, in its order: what the switch needs to NOTIFY
// dialog-info (docs/freeswitch.md#presence).
var presenceHeaderNames = []string{"proto", "login", "from", "status", "force-status", "rpid", "event_type",
	"alt_event_type", "event_count", "unique-id", "channel-state", "answer-state", "presence-call-direction"}

func checkHeaders(t *testing.T, in fstest.PresenceIn, withCallID bool) {
	t.Helper()
	want := presenceHeaderNames
	if withCallID {
		want = append(want[:len(want):len(want)], "call-id")
	}
	var got []string
	for _, h := range in.Headers {
		got = append(got, h.Name)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("headers %v, want %v", got, want)
	}
}

// Ensure a probe is answered with the key's state, addressed to the
// subscription (call-id): an empty slot (terminated), a parked one
// (confirmed, caller in the status) and the lot key (the count); a probe
// for a key parkd does not own is left alone.
func TestPresence_AnswersProbes(t *testing.T) {
	r := startPresence(t, fstest.Options{}, testKeys, nil, func(f *fakeLamps) {
		f.set(parkedJane)
		f.set(parking.Lamp{Lot: "a", State: parking.LampParked, Parked: 1})
	})
	r.wait(t, "park+702@127.0.0.1", answer("confirmed")) // the first publication: subscribed

	tests := []struct {
		user, domain string
		answer       string
		status       string
		uniqueID     string
	}{
		{"park+701", "127.0.0.1", "terminated", "Available", "701"},
		{"park+702", "127.0.0.1", "confirmed", "Parked: Jane Roe +15550100", "702"},
		{"park+70", "127.0.0.1", "confirmed", "1 parked", "70"},
		{"PARK+lotb", "pbx.example.com", "terminated", "Available", "lotb"},
	}
	for _, tt := range tests {
		t.Run(tt.user+"@"+tt.domain, func(t *testing.T) {
			callID := r.sim.Subscribe(tt.user, tt.domain)
			in := r.wait(t, tt.user+"@"+tt.domain, func(in fstest.PresenceIn) bool { return in.CallID == callID })
			checkHeaders(t, in, true)
			h := in.Headers
			if in.AnswerState != tt.answer || in.Status != tt.status || in.UniqueID != tt.uniqueID ||
				h.Get("proto") != "park" || h.Get("login") != in.From || h.Get("event_type") != "presence" ||
				h.Get("alt_event_type") != "dialog" || h.Get("presence-call-direction") != "inbound" {
				t.Fatalf("answer %+v, want %s %q unique-id %s", in, tt.answer, tt.status, tt.uniqueID)
			}
			wantCS := map[string]string{"confirmed": "CS_ROUTING", "terminated": "CS_HANGUP"}[tt.answer]
			if cs := h.Get("channel-state"); cs != wantCS {
				t.Fatalf("channel-state %s, want %s", cs, wantCS)
			}
		})
	}
	r.sim.Subscribe("park+999", "127.0.0.1")
	r.sim.Subscribe("1000", "127.0.0.1")
	last := r.sim.Subscribe("park+701", "127.0.0.1") // answered after the two above
	r.wait(t, "park+701@127.0.0.1", func(in fstest.PresenceIn) bool { return in.CallID == last })
	if _, ok := r.sim.Presence("park+999@127.0.0.1"); ok {
		t.Fatal("a probe for park+999, not a key, was answered")
	}
	// The switch has the answer; its +OK may still be on its way to parkd.
	for deadline := time.Now().Add(5 * time.Second); r.p.Stats().Answered < 5 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	if s := r.p.Stats(); s.Answered != 5 || s.Failed != 0 {
		t.Fatalf("stats %+v, want 5 answered, none failed", s)
	}
}

// Ensure every lamp is published again after the inbound connection drops
// and after FreeSWITCH restarts (which forgets every presence), in the
// switch's own domain or in every configured one.
func TestPresence_RepublishesAfterReconnectAndRestart(t *testing.T) {
	for _, domains := range [][]string{nil, {"a.example.com", "b.example.com"}} {
		t.Run(fmt.Sprint(len(domains), " domains"), func(t *testing.T) {
			r := startPresence(t, fstest.Options{Domain: "pbx.example.com"}, testKeys, domains, func(f *fakeLamps) {
				f.set(parkedJane)
			})
			if len(domains) == 0 {
				domains = []string{"pbx.example.com"}
			}
			all := []string{"park+701", "park+702", "park+703", "park+70", "park+801", "park+802", "park+lotb"}
			check := func(after int) {
				t.Helper()
				for _, d := range domains {
					for _, u := range all {
						in := r.wait(t, u+"@"+d, func(in fstest.PresenceIn) bool { return in.N > after })
						want := "terminated"
						if u == "park+702" {
							want = "confirmed"
						}
						if in.AnswerState != want {
							t.Fatalf("%s@%s: %s, want %s", u, d, in.AnswerState, want)
						}
					}
				}
			}
			check(0)
			n := r.sim.PresenceCount()
			r.sim.DropInbound()
			check(n)

			if err := r.sim.Restart(); err != nil {
				t.Fatal(err)
			}
			check(0)
			if _, ok := r.sim.Presence("park+701@127.0.0.1"); ok && len(domains) > 0 {
				t.Fatal("published in the switch's domain although domains are configured")
			}
		})
	}
}

// Ensure a caller's name or number cannot add a header, a command or
// markup to the event: every PRESENCE_IN has exactly the transcript's
// headers, the status text keeps only harmless characters, and the switch
// saw no command but auth, event, api and sendevent.
func TestPresence_HostileCallerNames(t *testing.T) {
	r := startPresence(t, fstest.Options{}, testKeys, nil, nil)
	r.wait(t, "park+701@127.0.0.1", answer("terminated"))
	hostile := []parking.Caller{
		{Name: "Eve\r\n\r\napi uuid_kill all", Number: "1\nX-Extra: 1"},
		{Name: "Eve\n\nsendevent SHUTDOWN", Number: "+1555\r\n"},
		{Name: `"><dialog-info/>&amp;'`, Number: "<sip:1@x>"},
		{Name: "Ève Ünïcødé 駐車 \u202e\u200bmoc.live", Number: "٣٣٣"},
		{Name: strings.Repeat("A", 5000), Number: strings.Repeat("9", 5000)},
		{Name: "%0d%0aapi%20uuid_kill", Number: "hold"},
		{Name: "\xff\xfe invalid utf8 \x00 nul", Number: ""},
		{Name: "Hold music", Number: ""},
	}
	for i, caller := range hostile {
		l := parking.Lamp{Lot: "a", Slot: 703, State: parking.LampParked, Caller: caller}
		r.lamps.set(l)
		in := r.wait(t, "park+703@127.0.0.1", func(in fstest.PresenceIn) bool {
			return in.AnswerState == "confirmed" && in.Headers.Get("event_count") != ""
		})
		checkHeaders(t, in, false)
		s := in.Status
		if !strings.HasPrefix(s, "Parked") || strings.ContainsAny(s, "\r\n\x00<>&\"'%;") || len([]rune(s)) > 120 {
			t.Fatalf("case %d: status %q", i, s)
		}
		r.lamps.set(parking.Lamp{Lot: "a", Slot: 703})
		r.wait(t, "park+703@127.0.0.1", answer("terminated"))
	}
	for _, cmd := range r.sim.Commands() {
		word, _, _ := strings.Cut(strings.TrimPrefix(cmd, "in: "), " ")
		switch word {
		case "auth", "filter", "event", "api", "sendevent":
		default:
			t.Fatalf("the switch received %q", cmd)
		}
		if word == "sendevent" && cmd != "in: sendevent PRESENCE_IN" {
			t.Fatalf("the switch received %q", cmd)
		}
	}
}

// Ensure changes of one key reach the switch in the order they happened
// (some may be coalesced away) and the final state is always sent.
func TestPresence_CoalescesInOrder(t *testing.T) {
	r := startPresence(t, fstest.Options{}, testKeys, nil, nil)
	r.wait(t, "park+701@127.0.0.1", answer("terminated"))
	states := []parking.LampState{parking.LampParked, parking.LampRinging, parking.LampParked, parking.LampRinging, parking.LampIdle}
	const rounds = 200
	for i := 0; i < rounds; i++ {
		for _, s := range states {
			l := parking.Lamp{Lot: "a", Slot: 701, State: s}
			if s != parking.LampIdle {
				l.Caller = parking.Caller{Name: fmt.Sprintf("round %d", i)}
			}
			r.lamps.set(l)
		}
	}
	r.lamps.set(parking.Lamp{Lot: "a", Slot: 701, State: parking.LampParked, Caller: parking.Caller{Name: "last"}})
	in := r.wait(t, "park+701@127.0.0.1", func(in fstest.PresenceIn) bool { return in.Status == "Parked: last" })
	if in.AnswerState != "confirmed" {
		t.Fatalf("final %+v", in)
	}
	hist := r.sim.PresenceHistory("park+701@127.0.0.1")
	last := -1
	for _, h := range hist {
		var n int
		if _, err := fmt.Sscanf(h.Status, "Parked: round %d", &n); err != nil {
			if _, err := fmt.Sscanf(h.Status, "Recalling: round %d", &n); err != nil {
				continue
			}
		}
		if n < last {
			t.Fatalf("round %d published after round %d", n, last)
		}
		last = n
	}
	if sent := r.sim.PresenceCount(); sent > 7+rounds*len(states)+1 {
		t.Fatalf("%d events for %d changes", sent, rounds*len(states)+1)
	}
}

// Ensure a key dropped by a reload is turned off once, and that its lot's
// changes are no longer published.
func TestPresence_SetKeysTurnsRemovedKeysOff(t *testing.T) {
	r := startPresence(t, fstest.Options{}, testKeys, nil, func(f *fakeLamps) {
		f.set(parking.Lamp{Lot: "b", Slot: 801, State: parking.LampParked, Caller: parking.Caller{Name: "Bob"}})
		f.set(parking.Lamp{Lot: "b", State: parking.LampParked, Parked: 1})
	})
	r.wait(t, "park+801@127.0.0.1", answer("confirmed"))
	r.wait(t, "park+lotb@127.0.0.1", answer("confirmed"))
	if err := r.p.SetKeys(testKeys[:1]); err != nil {
		t.Fatal(err)
	}
	r.wait(t, "park+801@127.0.0.1", answer("terminated"))
	r.wait(t, "park+lotb@127.0.0.1", answer("terminated"))
	n := r.sim.PresenceCount()
	r.lamps.set(parking.Lamp{Lot: "b", Slot: 802, State: parking.LampParked})
	r.lamps.set(parking.Lamp{Lot: "a", Slot: 701, State: parking.LampParked})
	r.wait(t, "park+701@127.0.0.1", answer("confirmed"))
	if in, _ := r.sim.Presence("park+802@127.0.0.1"); in.N > n {
		t.Fatalf("park+802 published after its key was removed: %+v", in)
	}
	if err := r.p.SetKeys(esl.LampKeys{{Lot: "a", First: 1, Last: 0}}); !errors.Is(err, esl.ErrBadLampKeys) {
		t.Fatalf("SetKeys(bad) = %v, want ErrBadLampKeys", err)
	}
}

// Ensure Run refuses keys or domains that could not be published.
func TestPresence_RunRefusesBadConfig(t *testing.T) {
	for _, tc := range []struct {
		keys    esl.LampKeys
		domains []string
	}{
		{esl.LampKeys{{Lot: "a", First: 1, Last: 2, Prefix: "park\r\n+"}}, nil},
		{testKeys, []string{"bad domain"}},
	} {
		p := esl.NewPresence(esl.NewClient("127.0.0.1:1", "x"), newFakeLamps(tc.keys), tc.keys, tc.domains)
		if err := p.Run(context.Background()); !errors.Is(err, esl.ErrBadLampKeys) {
			t.Fatalf("Run = %v, want ErrBadLampKeys", err)
		}
	}
}

// Ensure ValetLoaded reads module_exists.
func TestClient_ValetLoaded(t *testing.T) {
	for _, valet := range []bool{true, false} {
		r := startPresence(t, fstest.Options{Valet: valet}, testKeys, nil, nil)
		r.wait(t, "park+701@127.0.0.1", answer("terminated"))
		got, err := r.c.ValetLoaded(context.Background())
		if err != nil || got != valet {
			t.Fatalf("ValetLoaded = %v, %v; want %v", got, err, valet)
		}
	}
	if _, err := esl.NewClient("127.0.0.1:1", "x").ValetLoaded(context.Background()); !errors.Is(err, esl.ErrNotConnected) {
		t.Fatalf("ValetLoaded unconnected: %v", err)
	}
}

// Ensure probes are answered before and after a FreeSWITCH restart, and
// that a change made while the switch was away is what the lamps show
// once it is back.
func TestPresence_ProbesAcrossRestart(t *testing.T) {
	r := startPresence(t, fstest.Options{}, testKeys, nil, nil)
	r.wait(t, "park+701@127.0.0.1", answer("terminated"))
	id := r.sim.Subscribe("park+701", "127.0.0.1")
	r.wait(t, "park+701@127.0.0.1", func(in fstest.PresenceIn) bool { return in.CallID == id })

	if err := r.sim.Restart(); err != nil {
		t.Fatal(err)
	}
	r.lamps.set(parking.Lamp{Lot: "a", Slot: 701, State: parking.LampParked, Caller: parking.Caller{Name: "Back"}})
	r.wait(t, "park+701@127.0.0.1", func(in fstest.PresenceIn) bool { return in.Status == "Parked: Back" })
	in := r.probe(t, "park+701", "127.0.0.1")
	if in.AnswerState != "confirmed" || in.Status != "Parked: Back" {
		t.Fatalf("probe after the restart answered %+v", in)
	}
}

// Ensure changes made while thousands of keys are being republished win
// over the republication's older snapshot: the last change of a key late
// in the snapshot is its final state.
func TestPresence_ChangesDuringRepublishWin(t *testing.T) {
	r := startPresence(t, fstest.Options{}, bigKeys, nil, nil)
	r.wait(t, "park+big@127.0.0.1", answer("terminated"))
	for r.sim.PresenceCount() < 2001 {
		time.Sleep(time.Millisecond)
	}
	for round := 0; round < 5; round++ {
		// The count before SetKeys: the republication it starts may send
		// its first keys (the lot's own first) before SetKeys returns.
		base := r.sim.PresenceCount()
		if err := r.p.SetKeys(bigKeys); err != nil {
			t.Fatal(err)
		}
		var last string
		for i := 0; i < 200; i++ {
			last = fmt.Sprintf("Parked: r%d n%d", round, i)
			r.lamps.set(parking.Lamp{Lot: "big", Slot: 1999, State: parking.LampParked,
				Caller: parking.Caller{Name: fmt.Sprintf("r%d n%d", round, i)}})
		}
		r.wait(t, "park+2000@127.0.0.1", func(in fstest.PresenceIn) bool { return in.N > base })
		r.wait(t, "park+big@127.0.0.1", func(in fstest.PresenceIn) bool { return in.N > base })
		if in, _ := r.sim.Presence("park+1999@127.0.0.1"); in.Status != last {
			t.Fatalf("round %d: park+1999 shows %q after the republication, want %q", round, in.Status, last)
		}
	}
}
