package main

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/testkit"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Ensure two nodes, node a run by an active/standby pair and node b by a
// lone parkd, three parkd processes on one PostgreSQL, work as issue 17
// asks, each point read from the database and the simulated switches:
// retrieves cross the nodes both ways; parks racing for the same slots
// from both nodes never put two calls in one slot; node a's active killed
// with SIGKILL, with calls held parked and recalls due, is replaced by
// its standby, every call accounted for and every recall rung once; node
// a's active cut off from PostgreSQL stops acting while its standby takes
// over; and node b lost (its switch and its parkd gone) has its calls
// recorded lost once, naming node b, by node a, and their slots freed.
func TestE2E_Nodes3Parkd(t *testing.T) {
	held := envInt(t, envNodesCalls, 50)
	s := startNodeSite(t)
	s.a[0].start(t)
	testkit.WaitUntil(t, 30*time.Second, "a1 active", s.a[0].listening, s.a[0].logs.String)
	s.a[1].start(t)
	s.b.start(t)
	testkit.WaitUntil(t, 30*time.Second, "a2 standing by", s.a[1].standingBy, s.a[1].logs.String)
	testkit.WaitUntil(t, 30*time.Second, "b serving", s.b.listening, s.b.logs.String)
	s.crossRetrieve()
	s.racingClaims()
	recallCh := s.kill9(held)
	cutCh := s.cutOff()
	s.nodeLost()
	s.wholeHistory(map[string]map[int]*fstest.Channel{"Kill": recallCh, "Cut": cutCh})
}

// crossRetrieve checks point (a): retrieves across the nodes, both ways,
// each one retrieved row, on the call's node, naming both.
func (s *nodeSite) crossRetrieve() {
	t := s.t
	t.Helper()
	jane := s.parkMany("a", "hold", []int{1001}, func(int) string { return "Jane" })[1001]
	bob := s.parkMany("b", "hold", []int{1002}, func(int) string { return "Bob" })[1002]
	s.retrieveAcross("b", "hold", 1001, jane)
	s.retrieveAcross("a", "hold", 1002, bob)
	for _, c := range []struct {
		ch         *fstest.Channel
		on, across string
	}{{jane, "a", "b"}, {bob, "b", "a"}} {
		var got []string
		testkit.WaitUntil(t, 10*time.Second, "the retrieve of "+c.ch.UUID(), func() bool {
			got = s.rows(c.ch.UUID())
			return len(got) >= 2
		})
		if len(got) != 2 || !strings.HasPrefix(got[0], c.on+"|parked|") || !strings.HasPrefix(got[1], c.on+"|retrieved|") ||
			!strings.Contains(got[1], "parked on node "+c.on) || !strings.Contains(got[1], "from node "+c.across) {
			t.Fatalf("history of the call parked on node %s: %q", c.on, got)
		}
	}
}

// racingClaims checks point (b): parks racing from both nodes, 20 per node
// at once for slots 401-404 of a lot that moves on to the next free slot
// (all parked, each in a slot of its own) and 3 per node for slot 2999 of
// one that refuses a taken slot (one parked, five sent back).
func (s *nodeSite) racingClaims() {
	t := s.t
	t.Helper()
	var mu sync.Mutex
	var raced, refused []*fstest.Channel
	var wg sync.WaitGroup
	for _, node := range []string{"a", "b"} {
		for i := range 20 {
			wg.Go(func() {
				ch := s.call(node, "park", "race", strconv.Itoa(401+i%4), fmt.Sprintf("Race %s%d", node, i))
				mu.Lock()
				raced = append(raced, ch)
				mu.Unlock()
			})
		}
		for i := range 3 {
			wg.Go(func() {
				ch := s.call(node, "park", "hold", "2999", fmt.Sprintf("Taken %s%d", node, i))
				mu.Lock()
				refused = append(refused, ch)
				mu.Unlock()
			})
		}
	}
	wg.Wait()
	for _, ch := range raced {
		if ch == nil {
			t.Fatal("a racing park got no channel")
		}
		if _, err := ch.WaitFor(10*time.Second, testkit.MusicParked); err != nil {
			t.Fatalf("a racing park: %v", err)
		}
	}
	testkit.WaitUntil(t, 10*time.Second, "one park of slot 2999 parked, the others returned", func() bool {
		parked, returned := 0, 0
		for _, ch := range refused {
			st := ch.State()
			switch {
			case testkit.MusicParked(st):
				parked++
			case slices.Contains(st.Played, esl.ErrorTone) && st.Destination == "1000":
				returned++
			}
		}
		return parked == 1 && returned == 5
	})
	occ := map[int][]string{} // race and hold 2999 slots -> "node call"
	rs, err := s.db.Query(`SELECT slot, node, call_uuid FROM occupancy WHERE lot = 'race' OR (lot = 'hold' AND slot = 2999)`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var slot int
		var node, call string
		if err := rs.Scan(&slot, &node, &call); err != nil {
			t.Fatal(err)
		}
		occ[slot] = append(occ[slot], node+" "+call)
		sim := map[string]*fstest.Switch{"a": s.simA, "b": s.simB}[node]
		if sim == nil || sim.Channel(call) == nil || !testkit.MusicParked(sim.Channel(call).State()) {
			t.Errorf("slot %d: call %s is not parked on node %q", slot, call, node)
		}
	}
	rs.Close()
	if len(occ) != 41 {
		t.Fatalf("%d slots held by the 41 parked calls: %v", len(occ), occ)
	}
}

// kill9 checks point (c): node a's active killed with SIGKILL, with held
// calls parked on node a and recalls due (1 s) after the kill. It returns
// the calls whose recalls were due, by slot.
func (s *nodeSite) kill9(held int) map[int]*fstest.Channel {
	t := s.t
	t.Helper()
	heldSlots := make([]int, held)
	for i := range heldSlots {
		heldSlots[i] = 1003 + i
	}
	parkedAt := time.Now()
	heldCh := s.parkMany("a", "hold", heldSlots, func(slot int) string { return "Held " + strconv.Itoa(slot) })
	t.Logf("%d calls parked on node a in %v", held, time.Since(parkedAt).Round(time.Millisecond))
	recallSlots := []int{201, 202, 203, 204, 205, 206, 207, 208, 209, 210}
	recallCh := s.parkMany("a", "main", recallSlots, func(slot int) string { return "Kill" + strconv.Itoa(slot) })
	dead, next := s.a[s.active], s.a[1-s.active]
	killed := time.Now()
	dead.kill9()
	testkit.WaitUntil(t, 30*time.Second, next.name+" active", next.listening, next.logs.String)
	t.Logf("kill -9 of %s with %d calls parked: %s active %v after the kill (renew 200ms, ttl 1s); load %s",
		dead.name, held+len(recallSlots)+41+1, next.name, time.Since(killed).Round(time.Millisecond), testkit.LoadAvg())
	s.active = 1 - s.active
	testkit.WaitUntil(t, 30*time.Second, "the recalls due after the kill", func() bool {
		rung := s.recallsRung()
		for _, slot := range recallSlots {
			if rung["Kill"+strconv.Itoa(slot)] == 0 {
				return false
			}
		}
		return true
	})
	dead.start(t)
	testkit.WaitUntil(t, 30*time.Second, dead.name+" standing by", dead.standingBy, dead.logs.String)
	for slot, ch := range heldCh {
		if !testkit.MusicParked(ch.State()) {
			t.Fatalf("held slot %d no longer parked after the takeover: %+v", slot, ch.State())
		}
	}
	// Every held call is retrievable: the first five from node b (across
	// the nodes, to node a's new active), the others on node a.
	for _, slot := range heldSlots[:min(5, held)] {
		s.retrieveAcross("b", "hold", slot, heldCh[slot])
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for _, slot := range heldSlots[min(5, held):] {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := s.call("a", "retrieve", "hold", strconv.Itoa(slot), "Retriever")
			if r != nil {
				heldCh[slot].WaitFor(10*time.Second, func(st fstest.ChannelState) bool { return st.Hearing == "bridge:"+r.UUID() })
			}
		})
	}
	wg.Wait()
	for slot, ch := range heldCh {
		if st := ch.State(); !strings.HasPrefix(st.Hearing, "bridge:") {
			t.Fatalf("held slot %d not retrieved after the takeover: %+v", slot, st)
		}
	}
	return recallCh
}

// cutOff checks point (d): node a's active cut off from PostgreSQL, still
// connected to the switch, with recalls due after the cut, stops listening
// before its standby takes over, and rings none of them (wholeHistory
// counts the rings). It returns those calls, by slot.
func (s *nodeSite) cutOff() map[int]*fstest.Channel {
	t := s.t
	t.Helper()
	cutSlots := []int{211, 212, 213, 214, 215}
	cutCh := s.parkMany("a", "main", cutSlots, func(slot int) string { return "Cut" + strconv.Itoa(slot) })
	cutOff, standby := s.a[s.active], s.a[1-s.active]
	cut := time.Now()
	s.proxies[s.active].Cut()
	testkit.WaitUntil(t, 10*time.Second, cutOff.name+" stops listening", func() bool { return !cutOff.listening() }, cutOff.logs.String)
	stopped := time.Since(cut)
	if standby.listening() {
		t.Fatalf("%s active while %s had not yet stopped", standby.name, cutOff.name)
	}
	testkit.WaitUntil(t, 30*time.Second, standby.name+" active", standby.listening, standby.logs.String)
	t.Logf("%s cut off from PostgreSQL: stopped acting %v after the cut, %s active %v after it",
		cutOff.name, stopped.Round(time.Millisecond), standby.name, time.Since(cut).Round(time.Millisecond))
	s.active = 1 - s.active
	testkit.WaitUntil(t, 30*time.Second, "the recalls due after the cut", func() bool {
		rung := s.recallsRung()
		for _, slot := range cutSlots {
			if rung["Cut"+strconv.Itoa(slot)] == 0 {
				return false
			}
		}
		return true
	})
	s.proxies[1-s.active].Restore()
	testkit.WaitUntil(t, 30*time.Second, cutOff.name+" standing by again", func() bool {
		return strings.Count(cutOff.logs.String(), "another parkd holds the lease") >= 2
	}, cutOff.logs.String)
	if cutOff.listening() || !standby.listening() {
		t.Fatalf("after the network came back: %s listening %v, %s listening %v", cutOff.name, cutOff.listening(), standby.name, standby.listening())
	}
	return cutCh
}

// nodeLost checks point (e): node b lost, its parkd killed and its switch
// gone: node a's parkd records each of its calls lost once, naming node b,
// after 10 s of silence, and frees their slots.
func (s *nodeSite) nodeLost() {
	t := s.t
	t.Helper()
	s.parkMany("b", "hold", []int{2001, 2002, 2003}, func(slot int) string { return "Lost" + strconv.Itoa(slot) })
	var lostB []string
	if rs, err := s.db.Query(`SELECT call_uuid FROM occupancy WHERE node = 'b'`); err != nil {
		t.Fatal(err)
	} else {
		for rs.Next() {
			var c string
			rs.Scan(&c)
			lostB = append(lostB, c)
		}
		rs.Close()
	}
	s.b.kill9()
	if err := s.simB.Close(); err != nil {
		t.Fatal(err)
	}
	gone := time.Now()
	testkit.WaitUntil(t, 40*time.Second, "node b's calls recorded lost", func() bool {
		var n int
		s.db.QueryRow(`SELECT count(*) FROM occupancy WHERE node = 'b'`).Scan(&n)
		return n == 0
	})
	t.Logf("node b's %d calls recorded lost %v after it went", len(lostB), time.Since(gone).Round(time.Millisecond))
	time.Sleep(1500 * time.Millisecond) // more watch rounds: still one lost row each
	for _, call := range lostB {
		got := s.rows(call)
		if len(got) != 2 || !strings.HasPrefix(got[1], "b|lost|node b lost: ") || !strings.Contains(got[1], "recorded by node a") {
			t.Fatalf("node b's call %s: %q, want parked then one lost, naming node b, by node a", call, got)
		}
	}
	again := s.parkMany("a", "hold", []int{2001}, func(int) string { return "Again" })[2001]
	var node string
	if err := s.db.QueryRow(`SELECT node FROM occupancy WHERE call_uuid = $1`, again.UUID()).Scan(&node); err != nil || node != "a" {
		t.Fatalf("the freed slot 2001: node %q, %v", node, err)
	}
}

// wholeHistory checks the whole history: each call's rows are one of the
// lives above, no row twice, and each call of recalls (by the prefix of
// its caller's name) rang its parker once.
func (s *nodeSite) wholeHistory(recalls map[string]map[int]*fstest.Channel) {
	t := s.t
	t.Helper()
	ro, err := store.Location{Driver: store.Postgres, DSN: s.dsn}.OpenReadOnly()
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	hist, err := ro.History(context.Background(), store.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byCall := map[parking.CallID][]parking.Event{}
	for _, r := range hist {
		byCall[r.Call] = append(byCall[r.Call], r.Event)
	}
	lives := [][]parking.Event{
		{parking.EventParked},
		{parking.EventParked, parking.EventRetrieved},
		{parking.EventParked, parking.EventRecall, parking.EventRecalled},
		{parking.EventParked, parking.EventLost},
		{parking.EventRejected},
	}
	for c, ev := range byCall {
		if !slices.ContainsFunc(lives, func(l []parking.Event) bool { return slices.Equal(l, ev) }) {
			t.Errorf("call %s: %v", c, ev)
		}
	}
	rung := s.recallsRung()
	for prefix, chs := range recalls {
		for slot, ch := range chs {
			name := prefix + strconv.Itoa(slot)
			ev := byCall[parking.CallID(ch.UUID())]
			if rung[name] != 1 || !slices.Equal(ev, []parking.Event{parking.EventParked, parking.EventRecall, parking.EventRecalled}) {
				t.Errorf("%s: rung %d times, history %v; want once, parked, recall, recalled", name, rung[name], ev)
			}
		}
	}
}
