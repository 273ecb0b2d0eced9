package daemon

import (
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/percipia/eslgo/command"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/testkit"
	"github.com/parkd/parkd/parking"
)

var (
	e2eSeed = flag.Uint64("e2e.seed", 1, "TestE2E_Stress: seed of the randomized rounds")
	e2eRuns = flag.Int("e2e.rounds", 0, "TestE2E_Stress: rounds (0: 30, 8 with -short or -race)")
)

// Ensure, end to end over real sockets, that randomized concurrent traffic
// (directed and automatic parks into a small lot, racing retrieves, caller
// hangups, recalls to phones that answer, are busy or never answer) leaves
// parkd and the switch agreeing after every round: no slot holds two
// calls, no call holds two slots, every occupant is a call the simulator
// has parked with music and every call the simulator has parked is an
// occupant, no parked call is bridged twice, and every call's history is a
// legal sequence. parking's TestStress covers thousands of schedules in a
// synctest bubble; this covers the real adapter, store and simulator.
func TestE2E_Stress(t *testing.T) {
	rounds := *e2eRuns
	if rounds == 0 {
		rounds = 30
		if testing.Short() || raceEnabled {
			rounds = 8
		}
	}
	h := startHarness(t, lot("main", "201-206", func(l *conf.Lot) {
		l.Timeout = time.Second
		l.Recall.RetryAfter = time.Second
		l.Recall.Attempts = 2
		l.OnOccupied = "next"
	}))
	h.sim.Register("1000", fstest.Endpoint{AnswerAfter: 300 * time.Millisecond})
	h.sim.Register("1001", fstest.Endpoint{Busy: true})
	h.sim.Register("1002", fstest.Endpoint{NoAnswer: true})
	bridges := watchBridges(t, h.sim)
	rng := rand.New(rand.NewPCG(*e2eSeed, 7))
	var all []*fstest.Channel
	var mu sync.Mutex
	for round := 0; round < rounds; round++ {
		var wg sync.WaitGroup
		ops := 4 + rng.IntN(8)
		for i := 0; i < ops; i++ {
			// Every random choice is drawn here, in order, so the seed
			// fixes the schedule whatever the goroutines do.
			op, slot, parker, delay := rng.IntN(10), 201+rng.IntN(6), []string{"1000", "1001", "1002"}[rng.IntN(3)],
				time.Duration(rng.IntN(200))*time.Millisecond
			talk, pick := time.Duration(rng.IntN(300))*time.Millisecond, rng.IntN(1<<30)
			wg.Add(1)
			go func() {
				defer wg.Done()
				time.Sleep(delay)
				switch {
				case op < 4: // park, directed or not
					s := ""
					if op < 2 {
						s = fmt.Sprint(slot)
					}
					ch := h.call("park", "main", s, transferredBy(parker))
					mu.Lock()
					all = append(all, ch)
					mu.Unlock()
				case op < 7: // retrieve a slot or the longest waiting
					s := ""
					if op < 6 {
						s = fmt.Sprint(slot)
					}
					r := h.call("retrieve", "main", s)
					time.Sleep(talk)
					r.Hangup("")
				default: // a parked caller gives up
					mu.Lock()
					var victim *fstest.Channel
					if len(all) > 0 {
						victim = all[pick%len(all)]
					}
					mu.Unlock()
					if victim != nil {
						victim.Hangup("")
					}
				}
			}()
		}
		wg.Wait()
		h.checkAgreement(t, round, testkit.Snapshot(&mu, all), bridges)
	}
	rows, err := h.m.DB.History(t.Context(), storeFilter(""))
	if err != nil {
		t.Fatal(err)
	}
	count := map[parking.Event]int{}
	for _, r := range rows {
		count[r.Event]++
	}
	t.Logf("seed %d, %d rounds, %d parks attempted: history %v", *e2eSeed, rounds, len(all), count)
}

// checkAgreement waits for the round's traffic to settle, then checks the
// invariants between parkd's store and the simulator.
func (h *harness) checkAgreement(t *testing.T, round int, calls []*fstest.Channel, bridges *bridgeWatch) {
	t.Helper()
	var why string
	settled := func() bool {
		why = ""
		occ := h.occupied()
		held := map[string]bool{}
		slots := map[int]bool{}
		for _, o := range occ {
			if slots[o.Slot] {
				why = fmt.Sprintf("slot %d holds two calls", o.Slot)
				return false
			}
			if held[string(o.Call)] {
				why = fmt.Sprintf("call %s holds two slots", o.Call)
				return false
			}
			slots[o.Slot], held[string(o.Call)] = true, true
		}
		for _, ch := range calls {
			st := ch.State()
			if st.SocketConnected && strings.HasPrefix(st.Application, "socket") {
				why = "a park is still under way"
				return false
			}
			if testkit.MusicParked(st) != held[ch.UUID()] {
				why = fmt.Sprintf("call %s: switch %v, store holds it: %v", ch.UUID(), st, held[ch.UUID()])
				return false
			}
		}
		return true
	}
	deadline := time.Now().Add(10 * time.Second)
	for !settled() {
		if time.Now().After(deadline) {
			t.Fatalf("round %d (seed %d): %s", round, *e2eSeed, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for call, n := range bridges.counts() {
		if n > 1 {
			t.Fatalf("round %d (seed %d): parked call %s bridged %d times", round, *e2eSeed, call, n)
		}
	}
	for _, ch := range calls {
		if ev := h.history(ch.UUID()); !legalHistory(ev) {
			t.Fatalf("round %d (seed %d): call %s has history %v", round, *e2eSeed, ch.UUID(), ev)
		}
	}
}

// legalHistory: rejected alone, abandoned alone (the caller left while
// being parked: no parked row, as it never heard the music), or parked,
// then recall/recall_failed pairs (the last recall may end the life
// directly), then at most one end; nothing after the end.
func legalHistory(ev []parking.Event) bool {
	if len(ev) == 0 || slices.Equal(ev, []parking.Event{parking.EventRejected}) ||
		slices.Equal(ev, []parking.Event{parking.EventAbandoned}) {
		return true
	}
	if ev[0] != parking.EventParked {
		return false
	}
	recalling := false
	for i, e := range ev[1:] {
		last := i == len(ev)-2
		switch {
		case e == parking.EventRecall && !recalling:
			recalling = true
		case e == parking.EventRecallFailed && recalling:
			recalling = false
		case testkit.EndsLife(e) && last:
		default:
			return false
		}
	}
	return true
}

// bridgeWatch counts the switch's CHANNEL_BRIDGE events per parked call
// (Bridge-A-Unique-ID: parkd bridges the parked call first): a bridge that
// FreeSWITCH refused (the retriever already gone) is no bridge.
type bridgeWatch struct {
	mu sync.Mutex
	n  map[string]int
}

func (b *bridgeWatch) counts() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.n)
}

// watchBridges subscribes to CHANNEL_BRIDGE on the simulator's event socket.
func watchBridges(t *testing.T, sim *fstest.Switch) *bridgeWatch {
	t.Helper()
	b := &bridgeWatch{n: map[string]int{}}
	nc, err := net.Dial("tcp", sim.Addr())
	if err != nil {
		t.Fatal(err)
	}
	r := esl.NewReader(nc)
	if _, err := r.ReadFrame(); err != nil { // auth/request
		t.Fatal(err)
	}
	conn := esl.NewConn(nc, r, esl.ConnOptions{OnEvent: func(ev esl.Event) {
		if ev.Name() == "CHANNEL_BRIDGE" {
			b.mu.Lock()
			b.n[ev.Get("Bridge-A-Unique-ID")]++
			b.mu.Unlock()
		}
	}})
	t.Cleanup(func() { conn.Close() })
	for _, cmd := range []command.Command{command.Auth{Password: "ClueCon"}, command.Event{Format: "plain", Listen: []string{"CHANNEL_BRIDGE"}}} {
		if f, err := conn.Send(t.Context(), cmd); err != nil || !strings.HasPrefix(f.Headers.Get("Reply-Text"), "+OK") {
			t.Fatalf("observer: %v %v", err, f.Headers)
		}
	}
	return b
}

// Ensure the stress checker accepts every life the service records and
// nothing else: a caller who hangs up during the slot announcement leaves
// one abandoned row (parking's Park), which is legal.
func TestLegalHistory(t *testing.T) {
	const (
		parked   = parking.EventParked
		rejected = parking.EventRejected
		recall   = parking.EventRecall
		failed   = parking.EventRecallFailed
		ab       = parking.EventAbandoned
		ret      = parking.EventRetrieved
	)
	for _, tc := range []struct {
		ev   []parking.Event
		want bool
	}{
		{nil, true},
		{[]parking.Event{rejected}, true},
		{[]parking.Event{ab}, true}, // left while being parked
		{[]parking.Event{parked, ret}, true},
		{[]parking.Event{parked, recall, failed, recall, ab}, true},
		{[]parking.Event{ret}, false},
		{[]parking.Event{ab, ab}, false},
		{[]parking.Event{parked, ret, ab}, false},
		{[]parking.Event{parked, failed}, false},
	} {
		if got := legalHistory(tc.ev); got != tc.want {
			t.Errorf("legalHistory(%v)=%v, want %v", tc.ev, got, tc.want)
		}
	}
}
