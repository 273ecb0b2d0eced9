package daemon

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/fsconf"
	"github.com/parkd/parkd/internal/lease"
	"github.com/parkd/parkd/internal/pgtest"
	"github.com/parkd/parkd/internal/testkit"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// haPair is two parkd of an active/standby pair in this process, on one
// PostgreSQL database and one simulated switch, whose dialplan tries a's
// listener, then b's, then the fallback.
type haPair struct {
	t     *testing.T
	sim   *fstest.Switch
	dsn   string
	nodes map[string]*haNode
	addrs []string // the listeners, in the dialplan's order

	mu      sync.Mutex
	changes []activeChange // every node's active/stopped, in order
}

// activeChange is a node becoming active (its daemon open) or stopping
// (its daemon halted or closing).
type activeChange struct {
	node   string
	active bool
	at     time.Time
}

// changed is when node first became active (or stopped) since since.
func (p *haPair) changed(node string, active bool, since time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.changes {
		if c.node == node && c.active == active && !c.at.Before(since) {
			return c.at, true
		}
	}
	return time.Time{}, false
}

// haNode is one parkd of the pair.
type haNode struct {
	name   string
	pair   *Pair
	proxy  *pgtest.Proxy // between it and PostgreSQL
	cancel context.CancelFunc
	done   chan error
}

// haLots: "main" recalls 1 s after parking (the parker answers), "hold"
// never recalls.
func haLots() []conf.Lot {
	return []conf.Lot{
		lot("main", "201-220", func(l *conf.Lot) {
			l.Timeout = time.Second
			l.Recall.RetryAfter = time.Second
			l.Recall.Attempts = 2
			l.Fallback = "operator"
		}),
		lot("hold", "301-310", func(l *conf.Lot) {
			l.ParkCode, l.RetrieveCode = "*80", "*81"
			l.Timeout = time.Hour
			l.Recall.Enabled = false
		}),
	}
}

func newHAPair(t *testing.T, ttl time.Duration) *haPair {
	t.Helper()
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	sim.Register("1000", fstest.Endpoint{AnswerAfter: 50 * time.Millisecond})
	p := &haPair{t: t, sim: sim, dsn: pgtest.DSN(t), nodes: map[string]*haNode{}, addrs: testkit.FreeAddrs(t, 2)}
	for i, name := range []string{"a", "b"} {
		proxy, dsn := pgtest.NewProxy(t, p.dsn)
		c := startConfig(t, sim, haLots()...)
		c.Instance = "pbx-park"
		c.Store.Driver, c.Store.DSN = "postgres", dsn
		c.HA = conf.HA{Enabled: true, Renew: ttl / 5, TTL: ttl, Sockets: p.addrs}
		c.ESL.Listen = p.addrs[i]
		c.BLF.Enabled = true
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		p.nodes[name] = &haNode{name: name, proxy: proxy, pair: &Pair{Config: c, Holder: name,
			Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Str("node", name).Logger(),
		}}
		n := p.nodes[name]
		n.pair.OnActive = func(m *Main) {
			p.mu.Lock()
			p.changes = append(p.changes, activeChange{node: name, active: m != nil, at: time.Now()})
			p.mu.Unlock()
		}
		n.pair.NewMain = func() *Main {
			return &Main{Config: c, Logger: n.pair.Logger, ReconnectBackoff: 20 * time.Millisecond}
		}
	}
	return p
}

// start runs node name's parkd.
func (p *haPair) start(name string) {
	n := p.nodes[name]
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel, n.done = cancel, make(chan error, 1)
	go func() { n.done <- n.pair.Run(ctx) }()
	p.t.Cleanup(func() { p.stop(name) })
}

// stop stops node name as SIGTERM does: the lease is handed over.
func (p *haPair) stop(name string) {
	n := p.nodes[name]
	if n.cancel == nil {
		return
	}
	n.cancel()
	if err := <-n.done; err != nil {
		p.t.Errorf("%s: %v", name, err)
	}
	n.cancel = nil
}

// waitActive waits until node name is active and connected to the switch.
func (p *haPair) waitActive(name string, within time.Duration) *Main {
	p.t.Helper()
	deadline := time.Now().Add(within)
	for {
		if m := p.nodes[name].pair.Active(); m != nil {
			select {
			case <-m.Client.Connected():
				return m
			default:
			}
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s not active within %v", name, within)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// call runs a call through the pair's dialplan: socket a, socket b, then
// the fallback.
func (p *haPair) call(action, lotName, slot string, opts ...callOpt) *fstest.Channel {
	p.t.Helper()
	after := []string{}
	for _, a := range p.addrs[1:] {
		after = append(after, "socket "+a+" async full")
	}
	spec := fstest.CallSpec{
		SocketAddr: p.addrs[0], CallerName: "Patient " + slot, CallerNumber: "55501" + slot,
		Destination: "*7x" + slot,
		Vars:        map[string]string{"parkd_action": action, "parkd_lot": lotName, "parkd_slot": slot},
		AfterSocket: append(after, fsconf.FallbackApps()...),
	}
	for _, o := range opts {
		o(&spec)
	}
	ch, _ := p.sim.Call(spec) // the first socket is refused while b is active
	if ch == nil {
		p.t.Fatal("no channel")
	}
	return ch
}

// history reads every history row from the database.
func (p *haPair) history() []store.HistoryRow {
	p.t.Helper()
	db, err := store.Location{Driver: store.Postgres, DSN: p.dsn}.OpenReadOnly()
	if err != nil {
		p.t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.History(context.Background(), store.HistoryFilter{})
	if err != nil {
		p.t.Fatal(err)
	}
	return rows
}

// events lists each call's events in order.
func events(rows []store.HistoryRow) map[parking.CallID][]parking.Event {
	out := map[parking.CallID][]parking.Event{}
	for _, r := range rows {
		out[r.Call] = append(out[r.Call], r.Event)
	}
	return out
}

// invitesBySlot counts the recalls rung per slot (the caller ID is
// "Park <slot> - <caller>").
func invitesBySlot(sim *fstest.Switch) map[string]int {
	out := map[string]int{}
	for _, inv := range sim.Invites() {
		slot, _, _ := strings.Cut(strings.TrimPrefix(inv.CallerIDName, "Park "), " ")
		out[slot]++
	}
	return out
}

// eventuallyT polls cond for up to d.
func eventuallyT(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// parkAll parks a call in each slot of lotName, through the dialplan.
func (p *haPair) parkAll(lotName string, slots ...int) map[int]*fstest.Channel {
	p.t.Helper()
	out := map[int]*fstest.Channel{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, s := range slots {
		wg.Go(func() {
			ch := p.call("park", lotName, fmt.Sprint(s), transferredBy("1000"))
			mu.Lock()
			out[s] = ch
			mu.Unlock()
		})
	}
	wg.Wait()
	for s, ch := range out {
		if _, err := ch.WaitFor(wait5s, parked); err != nil {
			p.t.Fatalf("slot %d: %v", s, err)
		}
	}
	return out
}

// checkTakeover is what every takeover must leave: each call parked in
// main recalled once, by one ring, each held call retrieved, and the
// history with no row twice.
func (p *haPair) checkTakeover(main []int, held map[int]*fstest.Channel, retrieved []int) {
	t := p.t
	t.Helper()
	want := len(main)*3 + len(held) + len(retrieved)
	var rows []store.HistoryRow
	eventuallyT(t, 15*time.Second, "every recall answered and every retrieve recorded", func() bool {
		rows = p.history()
		return len(rows) >= want
	})
	time.Sleep(200 * time.Millisecond) // a row written twice would show now
	rows = p.history()
	ev := events(rows)
	for _, r := range rows {
		if s := fmt.Sprint(r.Slot); slices.Contains(main, r.Slot) && !slices.Equal(ev[r.Call], []parking.Event{parking.EventParked, parking.EventRecall, parking.EventRecalled}) {
			t.Fatalf("slot %s: %v, want parked, recall, recalled once each", s, ev[r.Call])
		}
	}
	for _, s := range retrieved {
		call := parking.CallID(held[s].UUID())
		if !slices.Equal(ev[call], []parking.Event{parking.EventParked, parking.EventRetrieved}) {
			t.Fatalf("held slot %d: %v, want parked, retrieved", s, ev[call])
		}
	}
	for s, ch := range held {
		if !slices.Contains(retrieved, s) {
			if st := ch.State(); !parked(st) {
				t.Fatalf("held slot %d is no longer parked: %+v", s, st)
			}
		}
	}
	if len(rows) != want {
		t.Fatalf("%d history rows, want %d", len(rows), want)
	}
	inv := invitesBySlot(p.sim)
	for _, s := range main {
		if n := inv[fmt.Sprint(s)]; n != 1 {
			t.Fatalf("slot %d rang its parker %d times, want once (all: %v)", s, n, inv)
		}
	}
}

// Ensure the standby takes over when the active dies (its process gone:
// its listener, its switch connection and its database connections at
// once): every call stays parked and is retrievable through the same
// dialplan, every recall rings once at its stored deadline, and no
// history row is written twice.
func TestE2E_HA_ActiveDies(t *testing.T) {
	ttl := 500 * time.Millisecond
	p := newHAPair(t, ttl)
	p.start("a")
	a := p.waitActive("a", wait5s)
	p.start("b")
	main := []int{201, 202, 203, 204, 205, 206, 207, 208}
	p.parkAll("main", main...)
	held := p.parkAll("hold", 301, 302, 303)

	// a dies: cut off from everything at once, its lease left to lapse.
	died := time.Now()
	p.nodes["a"].proxy.Cut()
	a.Halt()
	t.Logf("a halted in %v", time.Since(died).Round(time.Millisecond))
	if c, err := net.Dial("tcp", p.addrs[0]); err == nil {
		c.Close()
		t.Fatal("the dead parkd still listens")
	}
	p.waitActive("b", wait5s)
	t.Logf("b active %v after a died (ttl %v)", time.Since(died).Round(time.Millisecond), ttl)

	// b lit the lamps again: the held call's, and it answers probes.
	ctx, cancel := context.WithTimeout(context.Background(), wait5s)
	defer cancel()
	if _, err := p.sim.WaitPresence(ctx, "park+303@127.0.0.1", func(in fstest.PresenceIn) bool {
		return in.AnswerState == "confirmed" && !in.At.Before(died)
	}); err != nil {
		t.Fatalf("the held call's lamp was not published again after the takeover: %v", err)
	}
	id := p.sim.Subscribe("park+303", "127.0.0.1")
	if in, err := p.sim.WaitPresence(ctx, "park+303@127.0.0.1", func(in fstest.PresenceIn) bool { return in.CallID == id }); err != nil || in.AnswerState != "confirmed" {
		t.Fatalf("probe after the takeover: %+v, %v", in, err)
	}

	// Retrieves reach b through the same dialplan.
	for _, s := range []int{301, 302} {
		r := p.call("retrieve", "hold", fmt.Sprint(s), caller("Dr. Smith", "2002"))
		if _, err := held[s].WaitFor(wait5s, bridgedTo(r)); err != nil {
			t.Fatalf("held slot %d not retrieved after the takeover: %v", s, err)
		}
	}
	p.checkTakeover(main, held, []int{301, 302})
	if m := p.nodes["a"].pair.Active(); m != nil {
		t.Fatal("a still believes it is active")
	}
}

// Ensure an active parkd cut off from PostgreSQL (alive, still connected
// to the switch) stops acting on its own before the standby takes over:
// it stops listening and rings none of the recalls due after the cut; the
// standby rings each once. When the network comes back it stands by.
func TestE2E_HA_PartitionStopsActing(t *testing.T) {
	ttl := 500 * time.Millisecond
	p := newHAPair(t, ttl)
	p.start("a")
	p.waitActive("a", wait5s)
	p.start("b")
	main := []int{201, 202, 203, 204}
	p.parkAll("main", main...)
	held := p.parkAll("hold", 301)

	cut := time.Now()
	p.nodes["a"].proxy.Cut()
	eventuallyT(t, wait5s, "a to stop acting", func() bool { return p.nodes["a"].pair.Active() == nil })
	stopped := time.Since(cut)
	if c, err := net.Dial("tcp", p.addrs[0]); err == nil {
		c.Close()
		t.Fatal("a still listens after losing its lease")
	}
	p.waitActive("b", wait5s)
	t.Logf("a stopped %v after the cut; b active %v after it (ttl %v)", stopped.Round(time.Millisecond), time.Since(cut).Round(time.Millisecond), ttl)
	aStop, aOK := p.changed("a", false, cut)
	bStart, bOK := p.changed("b", true, cut)
	if !aOK || !bOK || !aStop.Before(bStart) {
		t.Fatalf("a halted at %v, b active at %v: both acted at once", aStop, bStart)
	}

	p.checkTakeover(main, held, nil)

	// The network is back: a stands by, b stays active.
	p.nodes["a"].proxy.Restore()
	time.Sleep(3 * ttl)
	if p.nodes["a"].pair.Active() != nil || p.nodes["b"].pair.Active() == nil {
		t.Fatal("a took the lease back from b")
	}
}

// Ensure stopping the active parkd (SIGTERM) hands the lease over: the
// standby takes over at its next try, long before the lease would have
// lapsed, and carries on with the parked calls.
func TestE2E_HA_StopHandsOver(t *testing.T) {
	ttl := 3 * time.Second
	p := newHAPair(t, ttl)
	p.start("a")
	p.waitActive("a", wait5s)
	p.start("b")
	held := p.parkAll("hold", 301, 302)

	stopped := time.Now()
	p.stop("a")
	p.waitActive("b", wait5s)
	took := time.Since(stopped)
	t.Logf("b active %v after a stopped (ttl %v)", took.Round(time.Millisecond), ttl)
	if took >= ttl-lease.Margin(ttl) {
		t.Fatalf("b took over %v after a stopped: the lease lapsed instead of being handed over", took)
	}
	r := p.call("retrieve", "hold", "301")
	if _, err := held[301].WaitFor(wait5s, bridgedTo(r)); err != nil {
		t.Fatal(err)
	}
	p.checkTakeover(nil, held, []int{301})
}

// Ensure the one window that is documented, a recall ringing when the
// active dies, ends as the README says: the standby hangs that ring up and
// rings the parker again at once, the call is recalled once, and no row is
// written twice.
func TestE2E_HA_RecallRingingAtDeath(t *testing.T) {
	ttl := 500 * time.Millisecond
	p := newHAPair(t, ttl)
	p.sim.Register("1000", fstest.Endpoint{AnswerAfter: 1500 * time.Millisecond})
	p.start("a")
	a := p.waitActive("a", wait5s)
	p.start("b")
	jane := p.parkAll("main", 201)[201]
	eventuallyT(t, wait5s, "the recall ringing", func() bool { return len(p.sim.Invites()) == 1 })
	first := p.sim.Invites()[0]

	p.nodes["a"].proxy.Cut()
	a.Halt()
	p.waitActive("b", wait5s)
	eventuallyT(t, 10*time.Second, "the call recalled", func() bool {
		ev := events(p.history())[parking.CallID(jane.UUID())]
		return len(ev) > 0 && ev[len(ev)-1] == parking.EventRecalled
	})
	inv := p.sim.Invites()
	if len(inv) != 2 {
		t.Fatalf("%d rings, want 2: the one cut short and the standby's", len(inv))
	}
	if ch := p.sim.Channel(first.UUID); ch != nil && ch.State().Alive {
		t.Fatal("the first ring was left ringing")
	}
	if _, err := jane.WaitFor(wait5s, bridgedTo(p.sim.Channel(inv[1].UUID))); err != nil {
		t.Fatalf("jane not connected to the second ring: %v", err)
	}
	ev := events(p.history())[parking.CallID(jane.UUID())]
	t.Logf("history: %v", ev)
	if ev[0] != parking.EventParked || ev[len(ev)-1] != parking.EventRecalled ||
		slices.Index(ev, parking.EventRecalled) != len(ev)-1 || slices.Index(ev, parking.EventParked) != 0 {
		t.Fatalf("history %v: want parked first and recalled once, last", ev)
	}
}
