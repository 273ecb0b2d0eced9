package daemon

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver, to read the node columns

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/passhash"
	"github.com/parkd/parkd/internal/pgtest"
	"github.com/parkd/parkd/internal/testkit"
	"github.com/parkd/parkd/parking"
)

// twoNodes is a site of two simulated FreeSWITCH nodes, a and b, each
// with its own parkd, both on one PostgreSQL database, their simulators
// wired as the dialplan parkd fsconf writes for nodes: parkd_hop_<other>
// bridges to the other node with the token in X-Parkd-Token, and
// parkd_hop takes what the other node sends to the local parkd.
type twoNodes struct {
	a, b *harness
	db   *sql.DB // the shared database, read directly
}

func startTwoNodes(t *testing.T) *twoNodes {
	t.Helper()
	return startTwoNodesWith(t, nil)
}

// twoNodeSims starts the simulated switches of nodes a and b and returns
// them with the site's [[node]] list.
func twoNodeSims(t *testing.T) (simA, simB *fstest.Switch, nodes []conf.Node) {
	t.Helper()
	simA = fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond, Hostname: "node-a"})
	simB = fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond, Hostname: "node-b"})
	return simA, simB, []conf.Node{
		{Name: "a", ESL: simA.Addr(), SIP: "a.sim:5060", Profile: "internal"},
		{Name: "b", ESL: simB.Addr(), SIP: "b.sim:5060", Profile: "internal"},
	}
}

// onNode is c made the parkd of node, one of the site's nodes, on the
// PostgreSQL database dsn.
func onNode(c conf.Config, nodes []conf.Node, node, dsn string) conf.Config {
	c.Store.Driver, c.Store.DSN, c.Store.Path = "postgres", dsn, ""
	c.Nodes, c.ESL.Node, c.Instance = nodes, node, "parkd-"+node
	return c
}

// startTwoNodesWith is startTwoNodes with edit applied to both configs.
func startTwoNodesWith(t *testing.T, edit func(*conf.Config)) *twoNodes {
	t.Helper()
	dsn := pgtest.DSN(t)
	simA, simB, nodes := twoNodeSims(t)
	cfg := func(sim *fstest.Switch, node string) conf.Config {
		c := onNode(startConfig(t, sim), nodes, node, dsn)
		c.ESL.Listen = "127.0.0.1:8084"
		if edit != nil {
			edit(&c)
		}
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		c.ESL.Listen = "127.0.0.1:0"
		if c.HTTP.Listen != "" {
			c.HTTP.Listen = "127.0.0.1:0" // validated as a real port, listened on any
		}
		return c
	}
	s := &twoNodes{
		a: &harness{t: t, sim: simA, cfg: cfg(simA, "a")},
		b: &harness{t: t, sim: simB, cfg: cfg(simB, "b")},
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.db = db
	s.bootNode(s.a)
	s.bootNode(s.b)
	for _, p := range [][2]*harness{{s.a, s.b}, {s.b, s.a}} {
		from, to := p[0], p[1]
		toSIP, _ := to.cfg.NodeNamed(to.cfg.ESL.Node)
		testkit.WireHop(from.sim, to.sim, to.cfg.ESL.Node, toSIP.SIP, func() []string { return []string{to.m.ListenAddr()} })
	}
	return s
}

// Node watch pacing in these tests: a parkd silent for nodeLostAfter is
// looked at.
const (
	nodeBeatEvery = 20 * time.Millisecond
	nodeLostAfter = 200 * time.Millisecond
)

// bootNode starts h's parkd with the tests' node watch pacing.
func (s *twoNodes) bootNode(h *harness) {
	h.t.Helper()
	h.bootWith(func(m *Main) { m.NodeBeatEvery, m.NodeLostAfter = nodeBeatEvery, nodeLostAfter })
}

// nodeOf reads the node column of call's rows in table.
func (s *twoNodes) nodeOf(table, call string) []string {
	s.a.t.Helper()
	rows, err := s.db.Query(`SELECT node FROM `+table+` WHERE call_uuid = $1 ORDER BY node`, call)
	if err != nil {
		s.a.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			s.a.t.Fatal(err)
		}
		out = append(out, n)
	}
	return out
}

// Ensure two nodes share a lot's slots through PostgreSQL: a slot parked
// on one is refused to the other, parks into the next free slot skip the
// other node's calls, parks racing for one slot from both nodes leave
// exactly one parked, and every row names its node.
func TestE2E_NodesShareSlots(t *testing.T) {
	s := startTwoNodes(t)
	jane := s.a.park("202", caller("Jane Roe", "+15550100"))
	bob := s.b.call("park", "main", "202", transferredBy("1000"))
	s.b.waitFor(bob, "bob refused: 202 is held on node a", refusedAndReturned("1000"))

	// Next free: b takes 201, then a skips 201 (b's) and takes 203.
	b1 := s.b.park("")
	a1 := s.a.park("")
	occ := func(h *harness) map[string]int {
		m := map[string]int{}
		for _, o := range h.occupied() {
			m[string(o.Call)] = o.Slot
		}
		return m
	}
	if got := occ(s.b); !mapsEqual(got, map[string]int{b1.UUID(): 201}) {
		t.Fatalf("node b holds %v", got)
	}
	if got := occ(s.a); !mapsEqual(got, map[string]int{jane.UUID(): 202, a1.UUID(): 203}) {
		t.Fatalf("node a holds %v", got)
	}
	for _, h := range []*harness{s.a, s.b} {
		node := h.cfg.ESL.Node
		for _, o := range h.occupied() {
			for _, tbl := range []string{"occupancy", "history", "sessions"} {
				if got := s.nodeOf(tbl, string(o.Call)); len(got) == 0 || slices.ContainsFunc(got, func(n string) bool { return n != node }) {
					t.Errorf("%s rows of %s: nodes %q, want all %q", tbl, o.Call, got, node)
				}
			}
		}
	}

	// Four parks on each node into slot 210 at once: one parks.
	var chans []*fstest.Channel
	done := make(chan []*fstest.Channel, 2)
	for _, h := range []*harness{s.a, s.b} {
		go func() { done <- h.parkAtOnce(4, "210") }()
	}
	chans = append(<-done, <-done...)
	s.a.eventually("one parked, seven returned", func() bool {
		p, ret := parkedOrReturned(chans)
		return p == 1 && ret == 7
	})
	held := 0
	for _, h := range []*harness{s.a, s.b} {
		for _, o := range h.occupied() {
			if o.Slot == 210 {
				held++
			}
		}
	}
	if held != 1 {
		t.Fatalf("slot 210 held %d times across the nodes", held)
	}
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// Ensure a retrieve dialled on node b for a call parked on node a
// connects them over the simulated SIP hop: the retriever's leg goes to
// node a carrying the token, node a's parkd bridges it to the parked
// caller, the history has one retrieved row, on node a, naming both
// nodes; the token cannot be used again, and a hop with a made-up token
// reaches nobody.
func TestE2E_NodesRetrieveAcross(t *testing.T) {
	s := startTwoNodes(t)
	jane := s.a.park("202", caller("Jane Roe", "+15550100"))
	other := s.a.park("205")

	smith := s.b.call("retrieve", "main", "202", caller("Dr. Smith", "2002"))
	st := s.b.waitFor(smith, "the retriever sent to node a", func(st fstest.ChannelState) bool { return st.Alive && st.Trunk != "" })
	hop := s.a.sim.Channel(st.Trunk)
	if hop == nil {
		t.Fatalf("no channel %s on node a", st.Trunk)
	}
	s.a.waitFor(jane, "jane bridged to the hop from node b", bridgedTo(hop))
	if got := st.Vars[esl.VarHopOut]; !parking.ValidHopToken(got) {
		t.Fatalf("retriever's token %q", got)
	}
	if got := hop.State().Vars[esl.VarHopToken]; got != st.Vars[esl.VarHopOut] {
		t.Fatalf("the hop arrived with token %q, sent %q", got, st.Vars[esl.VarHopOut])
	}
	s.a.eventually("retrieved recorded on node a", func() bool {
		return slices.Equal(s.a.history(jane.UUID()), []parking.Event{parking.EventParked, parking.EventRetrieved})
	})
	row := s.a.lastRow(jane.UUID())
	if row.Retriever != "2002" || !strings.Contains(row.Reason, "parked on node a") || !strings.Contains(row.Reason, "from node b") {
		t.Fatalf("retrieved row %+v: want retriever 2002 and both nodes named", row)
	}
	if got := s.nodeOf("history", jane.UUID()); !slices.Equal(got, []string{"a", "a"}) {
		t.Fatalf("jane's history rows on nodes %q", got)
	}
	if got := s.b.history(smith.UUID()); len(got) != 0 {
		t.Fatalf("node b recorded %v for the retriever", got)
	}
	if got := len(s.a.occupied()); got != 1 {
		t.Fatalf("node a holds %d calls, want 1 (slot 202 freed)", got)
	}

	// The same token again (a replayed INVITE), and a made-up one: the
	// error tone, and the other parked call stays parked.
	for _, tok := range []string{st.Vars[esl.VarHopOut], "0123456789abcdef0123456789abcdef"} {
		replay, err := s.a.sim.Call(fstest.CallSpec{
			SocketAddr: s.a.m.ListenAddr(), CallerNumber: "666", Destination: esl.HopExtension,
			Vars:         map[string]string{"parkd_action": esl.ActionHop, esl.VarHopToken: tok},
			BeforeSocket: []string{"answer"}, AfterSocket: []string{"playback " + esl.ErrorTone, "hangup NORMAL_TEMPORARY_FAILURE"},
		})
		if err != nil {
			t.Fatal(err)
		}
		s.a.waitFor(replay, "a hop with token "+tok+" refused", refusedAndHungUp)
	}
	if st := other.State(); !parked(st) {
		t.Fatalf("the other parked call: %+v", st)
	}

	// The retriever hangs up on node b: the call ends on node a too.
	smith.Hangup("")
	s.a.waitFor(hop, "the hop leg hung up", hungUp)
	s.a.waitFor(jane, "jane hung up with her retriever", hungUp)

	// Nothing parked anywhere for the slot: the error tone on node b.
	empty := s.b.call("retrieve", "main", "202")
	s.b.waitFor(empty, "retrieve of an empty slot refused", refusedAndHungUp)
}

// lostRows reads call's lost rows as "node reason".
func (s *twoNodes) lostRows(call string) []string {
	s.a.t.Helper()
	rows, err := s.db.Query(`SELECT node || ' ' || reason FROM history WHERE call_uuid = $1 AND event = 'lost'`, call)
	if err != nil {
		s.a.t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			s.a.t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// Ensure a node that goes down takes its parked calls: once its parkd is
// silent and its switch unreachable, the surviving parkd records each of
// them lost once, naming the node, and frees their slots; while the
// switch still answers (only its parkd is down), its calls stay.
func TestE2E_NodeLost(t *testing.T) {
	s := startTwoNodes(t)
	a1 := s.a.park("201")
	a2 := s.a.park("202")
	b1 := s.b.park("203")
	s.a.stop() // parkd a down, switch a up

	// Several watch rounds of node b see a silent parkd whose switch answers.
	time.Sleep(4 * nodeLostAfter)
	for _, ch := range []*fstest.Channel{a1, a2} {
		if got := s.lostRows(ch.UUID()); len(got) != 0 {
			t.Fatalf("%s recorded lost while its switch runs: %q", ch.UUID(), got)
		}
	}
	retry := s.b.call("park", "main", "201", transferredBy("1000"))
	s.b.waitFor(retry, "201 still held by node a", refusedAndReturned("1000"))

	// Now the switch goes too.
	if err := s.a.sim.Close(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []*fstest.Channel{a1, a2} {
		s.b.eventually("a lost row for "+ch.UUID(), func() bool { return len(s.lostRows(ch.UUID())) > 0 })
	}
	time.Sleep(4 * nodeBeatEvery) // more watch rounds: still one row each
	for _, ch := range []*fstest.Channel{a1, a2} {
		got := s.lostRows(ch.UUID())
		if len(got) != 1 || !strings.HasPrefix(got[0], "a node a lost: ") || !strings.Contains(got[0], "recorded by node b") {
			t.Fatalf("%s's lost rows: %q", ch.UUID(), got)
		}
	}
	if got := s.b.history(b1.UUID()); !slices.Equal(got, []parking.Event{parking.EventParked}) {
		t.Fatalf("node b's own call: %v", got)
	}
	again := s.b.park("201")
	if got := s.nodeOf("occupancy", again.UUID()); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("the freed slot's new call on nodes %q", got)
	}
}

// Ensure a lost node's calls leave the other nodes' busy lamps: their
// slots, freed by the surviving parkd, show as available again there.
func TestE2E_NodeLostDarkensLamps(t *testing.T) {
	s := startTwoNodesWith(t, func(c *conf.Config) { c.BLF.Enabled = true })
	s.a.park("201", caller("Jane Roe", "+15550100"))
	s.b.lamp("park+201@127.0.0.1", lampIs("confirmed", "Parked: Jane Roe +15550100"))
	s.a.stop()
	if err := s.a.sim.Close(); err != nil {
		t.Fatal(err)
	}
	s.b.lamp("park+201@127.0.0.1", lampIs("terminated", "Available"))
	s.b.lamp("park+*70@127.0.0.1", lampIs("terminated", "Available"))
}

// Ensure the busy lamps of every node show every node's calls: a call
// parked on node a lights its slot and counts on its lot's key on node
// b's phones too, a probe on node b is answered with it, a parkd started
// later shows the calls parked before, and a retrieve darkens the slot
// everywhere.
func TestE2E_NodesShareLamps(t *testing.T) {
	s := startTwoNodesWith(t, func(c *conf.Config) { c.BLF.Enabled = true })
	s.b.lamp("park+201@127.0.0.1", lampIs("terminated", "Available"))
	jane := s.a.park("201", caller("Jane Roe", "+15550100"))
	for _, h := range []*harness{s.a, s.b} {
		h.lamp("park+201@127.0.0.1", lampIs("confirmed", "Parked: Jane Roe +15550100"))
		h.lamp("park+*70@127.0.0.1", lampIs("confirmed", "1 parked"))
	}
	bob := s.b.park("202", caller("Bob", "+15550101"))
	s.a.lamp("park+202@127.0.0.1", lampIs("confirmed", "Parked: Bob +15550101"))
	s.a.lamp("park+*70@127.0.0.1", lampIs("confirmed", "2 parked"))
	s.b.lamp("park+*70@127.0.0.1", lampIs("confirmed", "2 parked"))

	id := s.b.sim.Subscribe("park+201", "127.0.0.1")
	if in := s.b.lamp("park+201@127.0.0.1", func(in fstest.PresenceIn) bool { return in.CallID == id }); in.AnswerState != "confirmed" {
		t.Fatalf("node b answered the probe of node a's call with %+v", in)
	}

	// Node b's parkd restarts: it shows node a's call from the store.
	s.b.stop()
	before := len(s.b.sim.PresenceHistory("park+201@127.0.0.1"))
	s.bootNode(s.b)
	s.b.eventually("node b republishes node a's call after its restart", func() bool {
		h := s.b.sim.PresenceHistory("park+201@127.0.0.1")
		return len(h) > before && lampIs("confirmed", "Parked: Jane Roe +15550100")(h[len(h)-1])
	})

	r := s.b.call("retrieve", "main", "201")
	st := s.b.waitFor(r, "the retriever sent to node a", func(st fstest.ChannelState) bool { return st.Alive && st.Trunk != "" })
	s.a.waitFor(jane, "jane bridged across", bridgedTo(s.a.sim.Channel(st.Trunk)))
	for _, h := range []*harness{s.a, s.b} {
		h.lamp("park+201@127.0.0.1", lampIs("terminated", "Available"))
		h.lamp("park+*70@127.0.0.1", lampIs("confirmed", "1 parked"))
	}
	_ = bob
}

// Ensure the board's API on one node lists every node's calls with their
// node, the other nodes' marked remote, and its live events tell of the
// other nodes' changes, and name the node in its own transitions.
func TestE2E_NodesBoardShowsEveryNode(t *testing.T) {
	tok, err := passhash.Hash(webToken)
	if err != nil {
		t.Fatal(err)
	}
	s := startTwoNodesWith(t, func(c *conf.Config) {
		c.HTTP = conf.HTTP{Listen: "127.0.0.1:8085", Tokens: []conf.HTTPToken{{Name: "wallboard", Hash: tok, Role: conf.RoleAgent}}}
	})
	stream := s.b.events(nil, "")
	jane := s.a.park("201", caller("Jane Roe", "+15550100"))
	// Node b's live events tell its boards of node a's park: they refetch.
	for {
		e := stream.next()
		if e.Event == "slot" && strings.Contains(e.Data, `"slot":201`) && strings.Contains(e.Data, "Jane Roe") {
			break
		}
	}
	bob := s.b.park("202", caller("Bob", "+15550101"))
	// Node b's own rows come as transition events naming node b.
	for {
		e := stream.next()
		if e.Event == "transition" && strings.Contains(e.Data, bob.UUID()) {
			if !strings.Contains(e.Data, `"node":"b"`) {
				t.Fatalf("bob's transition event does not name node b: %s", e.Data)
			}
			break
		}
	}
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.b.m.HTTPAddr()+"/api/slots", nil)
	req.Header.Set("Authorization", "Bearer "+webToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var got []struct {
		Call   string `json:"call"`
		Slot   int    `json:"slot"`
		Node   string `json:"node"`
		Remote bool   `json:"remote"`
		Caller string `json:"caller_name"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(got, func(x, y struct {
		Call   string `json:"call"`
		Slot   int    `json:"slot"`
		Node   string `json:"node"`
		Remote bool   `json:"remote"`
		Caller string `json:"caller_name"`
	}) int {
		return x.Slot - y.Slot
	})
	if len(got) != 2 || got[0].Call != jane.UUID() || got[0].Node != "a" || !got[0].Remote || got[0].Caller != "Jane Roe" ||
		got[1].Call != bob.UUID() || got[1].Node != "b" || got[1].Remote {
		t.Fatalf("node b's /api/slots: %+v", got)
	}
}

// Ensure a recall rings the parker on the node where they are registered:
// node a's switch says the parker is not registered there, so the recall
// leg goes to node b's SIP address, rings the phone registered on b, and
// the parker, answering, talks to the caller parked on node a.
func TestE2E_NodesRecallOnParkersNode(t *testing.T) {
	s := startTwoNodesWith(t, func(c *conf.Config) {
		c.Lots = []conf.Lot{quickRecall(nil)}
	})
	s.b.sim.Register("1000", fstest.Endpoint{AnswerAfter: 50 * time.Millisecond})
	jane := s.a.park("202", caller("Jane Roe", "+15550100"))
	s.a.waitHistory(jane.UUID(), parking.EventParked, parking.EventRecall, parking.EventRecalled)
	inv := s.a.sim.Invites()
	if len(inv) != 1 || inv[0].User != "1000" || inv[0].Peer != "b.sim:5060" || inv[0].AlertInfo != conf.DefaultRecallAlertInfo {
		t.Fatalf("invites %+v, want one to 1000 through node b", inv)
	}
	s.a.waitFor(jane, "jane bridged to the recall leg", bridgedTo(s.a.sim.Channel(inv[0].UUID)))
}
