package main

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/fsconf"
	"github.com/parkd/parkd/internal/pgtest"
	"github.com/parkd/parkd/internal/testkit"
)

// envNodesCalls is how many calls TestE2E_Nodes3Parkd holds parked on
// node a when it kills node a's active parkd (default 50; issue 17 asks
// for 1000: BENCHMARKS.md, "Three parkd on two nodes").
const envNodesCalls = "PARKD_NODES_CALLS"

// nodeSite is two simulated FreeSWITCH nodes and three parkd processes on
// one PostgreSQL database: node a runs an active/standby pair (a1, a2),
// each on a TCP proxy to PostgreSQL that the test can cut, node b a lone
// parkd. The switches' dialplans are fsconf's for nodes: a call on node a
// tries a1's socket, then a2's, then the fallback; parkd_hop_<other>
// bridges a retriever to the other node with its token.
type nodeSite struct {
	t          *testing.T
	simA, simB *fstest.Switch
	a          [2]*haProc
	proxies    [2]*pgtest.Proxy
	b          *haProc
	socketsA   []string
	db         *sql.DB
	dsn        string
	active     int // node a's active parkd: 0 (a1) or 1 (a2)
}

// nodeTOML is the configuration of a parkd of node (a or b).
func nodeTOML(node, fs, dsn, listen string, nodes [2]string, pair []string) string {
	ha := ""
	if len(pair) > 0 {
		ha = fmt.Sprintf("[ha]\nenabled = true\nrenew = \"200ms\"\nttl = \"1s\"\nsockets = [%q, %q]\n", pair[0], pair[1])
	}
	return fmt.Sprintf(`instance = "parkd-%s"
[esl]
listen = %q
freeswitch = %q
node = %q
[store]
driver = "postgres"
dsn = %q
[log]
level = "info"
%s
[[node]]
name = "a"
esl = %q
sip = "a.sim:5060"
[[node]]
name = "b"
esl = %q
sip = "b.sim:5060"
`+haLotsTOML+`[[lot]]
name = "race"
slots = "401-460"
on_occupied = "next"
timeout = "1h"
park_code = "*90"
retrieve_code = "*91"
[lot.recall]
enabled = false
`, node, listen, fs, node, dsn, ha, nodes[0], nodes[1])
}

func startNodeSite(t *testing.T) *nodeSite {
	t.Helper()
	s := &nodeSite{t: t, dsn: pgtest.DSN(t)}
	s.simA = fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond, Hostname: "node-a"})
	s.simB = fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond, Hostname: "node-b"})
	s.simA.Register("1000", fstest.Endpoint{AnswerAfter: 20 * time.Millisecond})
	esls := [2]string{s.simA.Addr(), s.simB.Addr()}
	dir := t.TempDir()
	s.socketsA = testkit.FreeAddrs(t, 2)
	for i, name := range []string{"a1", "a2"} {
		proxy, dsn := pgtest.NewProxy(t, s.dsn)
		s.proxies[i] = proxy
		s.a[i] = &haProc{name: name, listen: s.socketsA[i], cfg: filepath.Join(dir, name+".toml")}
		if err := os.WriteFile(s.a[i].cfg, []byte(nodeTOML("a", s.simA.Addr(), dsn, s.socketsA[i], esls, s.socketsA)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.b = &haProc{name: "b", listen: testkit.FreeAddr(t), cfg: filepath.Join(dir, "b.toml")}
	if err := os.WriteFile(s.b.cfg, []byte(nodeTOML("b", s.simB.Addr(), s.dsn, s.b.listen, esls, nil)), 0o600); err != nil {
		t.Fatal(err)
	}
	testkit.WireHop(s.simA, s.simB, "b", "b.sim:5060", func() []string { return []string{s.b.listen} })
	testkit.WireHop(s.simB, s.simA, "a", "a.sim:5060", func() []string { return s.socketsA })
	db, err := sql.Open("pgx", s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.db = db
	return s
}

// call runs a call on node ("a" or "b") through its dialplan: node a's
// pair's sockets in order, node b's parkd's, then the fallback.
func (s *nodeSite) call(node, action, lot, slot, name string) *fstest.Channel {
	sim, sockets := s.simA, s.socketsA
	if node == "b" {
		sim, sockets = s.simB, []string{s.b.listen}
	}
	var after []string
	for _, a := range sockets[1:] {
		after = append(after, "socket "+a+" async full")
	}
	ch, _ := sim.Call(fstest.CallSpec{
		SocketAddr: sockets[0], CallerName: name, CallerNumber: "5550100", Destination: "*7x" + slot,
		Vars:     map[string]string{"parkd_action": action, "parkd_lot": lot, "parkd_slot": slot},
		Answered: action == "park", ReferredBy: "<sip:1000@127.0.0.1>", Callee: "1000",
		AfterSocket: append(after, fsconf.FallbackApps()...),
	})
	return ch
}

// parkMany parks a call on node in each of slots, 50 at a time, and fails
// unless every one is parked.
func (s *nodeSite) parkMany(node, lot string, slots []int, name func(int) string) map[int]*fstest.Channel {
	s.t.Helper()
	out, bad, ok := parkEach(slots, func(slot int) *fstest.Channel {
		return s.call(node, "park", lot, strconv.Itoa(slot), name(slot))
	})
	if !ok {
		var st fstest.ChannelState
		if ch := out[bad]; ch != nil {
			st = ch.State()
		}
		s.t.Fatalf("node %s: slot %d not parked: %+v\nthe parkd's warnings:\n%s", node, bad, st, s.warnings())
	}
	return out
}

// warnings are the parkd's log lines above info, for a failure's message.
func (s *nodeSite) warnings() string {
	var b strings.Builder
	for _, p := range []*haProc{s.a[0], s.a[1], s.b} {
		if p.logs == nil {
			continue
		}
		for _, l := range strings.Split(p.logs.String(), "\n") {
			if !strings.Contains(l, `"level":"info"`) && l != "" {
				b.WriteString(p.name + ": " + l + "\n")
			}
		}
	}
	return b.String()
}

// retrieveAcross retrieves, on node from, the call parked in lot's slot
// on the other node, and waits until parked hears the retriever's hop leg.
func (s *nodeSite) retrieveAcross(from, lot string, slot int, parked *fstest.Channel) {
	t := s.t
	t.Helper()
	r := s.call(from, "retrieve", lot, strconv.Itoa(slot), "Retriever "+from)
	if r == nil {
		t.Fatalf("no retriever channel on node %s", from)
	}
	st, err := r.WaitFor(10*time.Second, func(st fstest.ChannelState) bool { return st.Alive && st.Trunk != "" })
	if err != nil {
		t.Fatalf("retriever on node %s for slot %d not sent across: %v", from, slot, err)
	}
	far := s.simA
	if from == "a" {
		far = s.simB
	}
	hop := far.Channel(st.Trunk)
	if hop == nil {
		t.Fatalf("no hop leg %s", st.Trunk)
	}
	if _, err := parked.WaitFor(10*time.Second, func(st fstest.ChannelState) bool { return st.Hearing == "bridge:"+hop.UUID() }); err != nil {
		t.Fatalf("slot %d's caller not bridged to node %s's retriever: %v", slot, from, err)
	}
}

// rows reads "node|event|reason" of call's history rows, in order.
func (s *nodeSite) rows(call string) []string {
	s.t.Helper()
	rs, err := s.db.Query(`SELECT node || '|' || event || '|' || reason FROM history WHERE call_uuid = $1 ORDER BY id`, call)
	if err != nil {
		s.t.Fatal(err)
	}
	defer rs.Close()
	var out []string
	for rs.Next() {
		var r string
		if err := rs.Scan(&r); err != nil {
			s.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// recallsRung counts the recall legs rung on node a per parked caller's
// name (the caller ID is "Park <slot> - <name>").
func (s *nodeSite) recallsRung() map[string]int {
	out := map[string]int{}
	for _, inv := range s.simA.Invites() {
		if _, name, ok := strings.Cut(inv.CallerIDName, " - "); ok && strings.HasPrefix(inv.CallerIDName, "Park ") {
			out[name]++
		}
	}
	return out
}
