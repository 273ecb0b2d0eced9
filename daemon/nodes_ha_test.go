package daemon

import (
	"database/sql"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/pgtest"
	"github.com/parkd/parkd/internal/testkit"
	"github.com/parkd/parkd/parking"
)

// Ensure a node whose parkd run as an active/standby pair ([ha] with
// [[node]]) shares the lots with a node run by a lone parkd: node a's
// active dies, its standby takes node a's lease (its own, not the site's)
// and carries on; node b's parkd, which sees node a silent all through the
// takeover, records nothing lost, since node a's switch still answers; and
// retrieves cross the nodes both ways after the takeover, with one
// retrieved row naming both nodes.
func TestE2E_NodePairTakesOver(t *testing.T) {
	const ttl = time.Second // a takeover well over nodeLostAfter
	dsn := pgtest.DSN(t)
	simA, simB, nodes := twoNodeSims(t)
	nodeConfig := func(sim *fstest.Switch, node, dsn string) conf.Config {
		return onNode(startConfig(t, sim, haLots()...), nodes, node, dsn)
	}
	addrsA := testkit.FreeAddrs(t, 2)
	pairA := map[string]*haNode{}
	actives := make(chan string, 10)
	for i, name := range []string{"a1", "a2"} {
		proxy, pdsn := pgtest.NewProxy(t, dsn)
		c := nodeConfig(simA, "a", pdsn)
		c.HA = conf.HA{Enabled: true, Renew: ttl / 5, TTL: ttl, Sockets: addrsA}
		c.ESL.Listen = addrsA[i]
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		log := zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel).With().Str("parkd", name).Logger()
		n := &haNode{name: name, proxy: proxy, pair: &Pair{Config: c, Holder: name, Logger: log}}
		n.pair.NewMain = func() *Main {
			return &Main{Config: c, Logger: log, ReconnectBackoff: 20 * time.Millisecond,
				NodeBeatEvery: nodeBeatEvery, NodeLostAfter: nodeLostAfter}
		}
		n.pair.OnActive = func(m *Main) {
			if m != nil {
				actives <- name
			}
		}
		pairA[name] = n
	}
	p := &haPair{t: t, sim: simA, dsn: dsn, nodes: pairA, addrs: addrsA}
	b := &harness{t: t, sim: simB, cfg: nodeConfig(simB, "b", dsn)}
	b.cfg.ESL.Listen = "127.0.0.1:8084"
	if err := b.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b.cfg.ESL.Listen = "127.0.0.1:0"
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &twoNodes{b: b, db: db}
	s.a = b // for the helpers' t

	p.start("a1")
	a1 := p.waitActive("a1", wait5s)
	p.start("a2")
	s.bootNode(b) // a lone parkd of node b beside node a's pair
	testkit.WireHop(simA, simB, "b", nodes[1].SIP, func() []string { return []string{b.m.ListenAddr()} })
	testkit.WireHop(simB, simA, "a", nodes[0].SIP, func() []string { return addrsA })

	jane := p.call("park", "hold", "301", transferredBy("1000"), caller("Jane Roe", "+15550100"))
	p.call("park", "hold", "302", transferredBy("1000"))
	bob := b.call("park", "hold", "303", transferredBy("1000"), caller("Bob", "+15550101"))
	for _, ch := range []*fstest.Channel{jane, bob} {
		if _, err := ch.WaitFor(wait5s, parked); err != nil {
			t.Fatal(err)
		}
	}
	var lease string
	if err := db.QueryRow(`SELECT name FROM parkd_lease`).Scan(&lease); err != nil || lease != NodeLeaseName("a") {
		t.Fatalf("lease %q (%v), want node a's", lease, err)
	}

	// a1 dies; a2 takes node a's lease once it lapses. Meanwhile node a's
	// parkd is silent for longer than node b waits before it looks.
	died := time.Now()
	p.nodes["a1"].proxy.Cut()
	a1.Halt()
	p.waitActive("a2", wait5s)
	took := time.Since(died)
	t.Logf("a2 active %v after a1 died (ttl %v); node b looks at a silent node after %v", took.Round(time.Millisecond), ttl, nodeLostAfter)
	if took < 2*nodeLostAfter {
		t.Fatalf("the takeover took %v: too short to show node b a silent node a", took)
	}
	for _, ch := range []*fstest.Channel{jane, bob} {
		if got := s.lostRows(ch.UUID()); len(got) != 0 {
			t.Fatalf("%s recorded lost during node a's takeover: %q", ch.UUID(), got)
		}
		if st := ch.State(); !parked(st) {
			t.Fatalf("%s no longer parked after the takeover: %+v", ch.UUID(), st)
		}
	}

	// Node b retrieves node a's call: the hop reaches a2 through node a's
	// dialplan (a1's socket refused).
	smith := b.call("retrieve", "hold", "301", caller("Dr. Smith", "2002"))
	st := b.waitFor(smith, "the retriever sent to node a", func(st fstest.ChannelState) bool { return st.Alive && st.Trunk != "" })
	hop := simA.Channel(st.Trunk)
	if hop == nil {
		t.Fatalf("no channel %s on node a", st.Trunk)
	}
	if _, err := jane.WaitFor(wait5s, bridgedTo(hop)); err != nil {
		t.Fatalf("jane not bridged to node b's retriever: %v", err)
	}
	// Node a (its new active) retrieves node b's call.
	ann := p.call("retrieve", "hold", "303", caller("Ann", "2003"))
	st, err = ann.WaitFor(wait5s, func(st fstest.ChannelState) bool { return st.Alive && st.Trunk != "" })
	if err != nil {
		t.Fatalf("the retriever on node a not sent to node b: %v", err)
	}
	if _, err := bob.WaitFor(wait5s, bridgedTo(simB.Channel(st.Trunk))); err != nil {
		t.Fatalf("bob not bridged to node a's retriever: %v", err)
	}

	retrieved := func(call string) []string {
		rows, err := db.Query(`SELECT node || ' ' || reason FROM history WHERE call_uuid = $1 AND event = 'retrieved'`, call)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var r string
			if err := rows.Scan(&r); err != nil {
				t.Fatal(err)
			}
			out = append(out, r)
		}
		return out
	}
	for _, c := range []struct {
		ch         *fstest.Channel
		on, across string
	}{{jane, "a", "b"}, {bob, "b", "a"}} {
		var got []string
		eventuallyT(t, wait5s, "the retrieve of "+c.ch.UUID()+" recorded", func() bool {
			got = retrieved(c.ch.UUID())
			return len(got) > 0
		})
		time.Sleep(50 * time.Millisecond)
		got = retrieved(c.ch.UUID())
		if len(got) != 1 || !strings.HasPrefix(got[0], c.on+" ") || !strings.Contains(got[0], "parked on node "+c.on) || !strings.Contains(got[0], "from node "+c.across) {
			t.Fatalf("%s's retrieved rows %q: want one, on node %s, naming node %s", c.ch.UUID(), got, c.on, c.across)
		}
	}
	ev := events(p.history())
	if got := ev[parking.CallID(jane.UUID())]; !slices.Equal(got, []parking.Event{parking.EventParked, parking.EventRetrieved}) {
		t.Fatalf("jane's history %v", got)
	}
	if <-actives != "a1" || <-actives != "a2" || len(actives) != 0 {
		t.Fatal("node a's pair did not go a1, then a2")
	}
}
