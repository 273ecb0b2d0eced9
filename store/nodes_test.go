package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// openNode opens the PostgreSQL database at loc as node's parkd would.
func openNode(t *testing.T, loc store.Location, node string) *store.DB {
	t.Helper()
	db := loc.New()
	db.Node = node
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func nodeOcc(call string, slot int) parking.Occupant {
	return parking.Occupant{Lot: "main", Slot: slot, Call: parking.CallID(call), Caller: parking.Caller{Name: "Jane", Number: "5551000"},
		Parker: "1000", ParkedAt: t0, Deadline: t0.Add(time.Minute)}
}

// queryString runs a one-value query on db's writer.
func queryString(t *testing.T, db *store.DB, q string, args ...any) string {
	t.Helper()
	var s string
	if err := db.WritePool().QueryRow(db.Rebind(q), args...).Scan(&s); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return s
}

// Ensure two nodes claiming one slot at the same moment, over and over,
// always leave exactly one of them holding it (the other refused with
// ErrSlotTaken), and the row names the winner's node.
func TestNodes_RacingClaimsHaveOneWinner(t *testing.T) {
	loc := pgLoc(t)
	a, b := openNode(t, loc, "a"), openNode(t, loc, "b")
	ctx := context.Background()
	for i := range 100 {
		slot := 701 + i%20
		var errs [2]error
		var wg sync.WaitGroup
		start := make(chan struct{})
		for k, db := range []*store.DB{a, b} {
			wg.Go(func() {
				<-start
				errs[k] = db.ClaimSlot(ctx, nodeOcc(fmt.Sprintf("call-%d-%s", i, db.Node), slot))
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for k, err := range errs {
			switch {
			case err == nil:
				won++
				if got := queryString(t, a, `SELECT node FROM occupancy WHERE lot = 'main' AND slot = ?`, slot); got != []string{"a", "b"}[k] {
					t.Fatalf("round %d: the row names node %q, the winner was %q", i, got, []string{"a", "b"}[k])
				}
			case !errors.Is(err, parking.ErrSlotTaken):
				t.Fatalf("round %d: %v, want ErrSlotTaken or nil", i, err)
			}
		}
		if won != 1 {
			t.Fatalf("round %d: %d winners (%v)", i, won, errs)
		}
		// Free the slot for the next round, as the winner's retrieve would.
		rawExec(t, a, `DELETE FROM occupancy WHERE lot = 'main' AND slot = ?`, slot)
	}
}

// Ensure a node's rows carry its node, its Occupied is its own calls only,
// a slot held by one node is refused to another while a node's own stale
// row is taken over, and Unclaim frees only its own node's claim.
func TestNodes_RowsCarryTheirNode(t *testing.T) {
	loc := pgLoc(t)
	a, b := openNode(t, loc, "a"), openNode(t, loc, "b")
	ctx := context.Background()
	o := nodeOcc("call-a1", 701)
	if err := a.ClaimSlot(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, parking.Transition{At: t0, Event: parking.EventParked, Lot: "main", Slot: 701, Call: o.Call, Occupancy: &o}); err != nil {
		t.Fatal(err)
	}
	for _, tbl := range []string{"occupancy", "history", "sessions"} {
		if got := queryString(t, b, `SELECT node FROM `+tbl+` WHERE call_uuid = 'call-a1'`); got != "a" {
			t.Errorf("%s.node = %q, want a", tbl, got)
		}
	}
	if occ, err := a.Occupied(ctx); err != nil || len(occ) != 1 {
		t.Fatalf("node a's Occupied: %v, %v; want its call", occ, err)
	}
	if occ, err := b.Occupied(ctx); err != nil || len(occ) != 0 {
		t.Fatalf("node b's Occupied: %v, %v; want none", occ, err)
	}
	if err := b.ClaimSlot(ctx, nodeOcc("call-b1", 701)); !errors.Is(err, parking.ErrSlotTaken) {
		t.Fatalf("b claims a's slot: %v, want ErrSlotTaken", err)
	}
	if err := b.Unclaim(ctx, "call-a1"); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, a, `SELECT call_uuid FROM occupancy WHERE slot = 701`); got != "call-a1" {
		t.Fatalf("b's Unclaim of a's call freed it: slot holds %q", got)
	}
	// Node a freed the slot in its memory, its journal not yet written:
	// its own new claim takes the row over.
	if err := a.ClaimSlot(ctx, nodeOcc("call-a2", 701)); err != nil {
		t.Fatalf("a claims over its own stale row: %v", err)
	}
	if err := a.ClaimSlot(ctx, nodeOcc("call-a2", 701)); err != nil {
		t.Fatalf("a claims again for the same call: %v", err)
	}
	if err := a.ClaimSlot(ctx, nodeOcc("call-a2", 702)); !errors.Is(err, parking.ErrAlreadyParked) {
		t.Fatalf("a claims a second slot for one call: %v, want ErrAlreadyParked", err)
	}
	if err := a.Unclaim(ctx, "call-a2"); err != nil {
		t.Fatal(err)
	}
	if err := b.ClaimSlot(ctx, nodeOcc("call-b1", 701)); err != nil {
		t.Fatalf("b claims the freed slot: %v", err)
	}
	rc, ok, err := a.RemoteCall(ctx, "", "main", 0)
	if err != nil || !ok || rc.Node != "b" || rc.Call != "call-b1" || rc.Slot != 701 {
		t.Fatalf("a's RemoteCall: %+v %v %v", rc, ok, err)
	}
	if _, ok, err := b.RemoteCall(ctx, "", "main", 701); err != nil || ok {
		t.Fatalf("b's RemoteCall of its own call: %v %v, want none", ok, err)
	}
}

// Ensure a hop token is consumed once, only by the node it is addressed
// to, and not after it expired.
func TestNodes_HopTokenIsSingleUse(t *testing.T) {
	loc := pgLoc(t)
	a, b := openNode(t, loc, "a"), openNode(t, loc, "b")
	ctx := context.Background()
	h, err := b.IssueHop(ctx, parking.Hop{Call: "call-a1", Lot: "main", Slot: 701, To: "a", Retriever: "2001"})
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Token) != 32 || h.From != "b" || h.Expires.IsZero() {
		t.Fatalf("issued %+v", h)
	}
	if _, err := b.ConsumeHop(ctx, h.Token); !errors.Is(err, parking.ErrHopRefused) {
		t.Fatalf("consumed by the wrong node: %v", err)
	}
	for _, bad := range []string{"", "x", h.Token + "0", "ABCDEF0123456789abcdef0123456789"} {
		if _, err := a.ConsumeHop(ctx, bad); !errors.Is(err, parking.ErrHopRefused) {
			t.Fatalf("token %q: %v", bad, err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var got []parking.Hop
	for range 4 {
		wg.Go(func() {
			if g, err := a.ConsumeHop(ctx, h.Token); err == nil {
				mu.Lock()
				got = append(got, g)
				mu.Unlock()
			} else if !errors.Is(err, parking.ErrHopRefused) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(got) != 1 || got[0].Call != "call-a1" || got[0].From != "b" || got[0].To != "a" || got[0].Retriever != "2001" || got[0].Slot != 701 {
		t.Fatalf("consumed %+v, want the hop once", got)
	}
	old, err := b.IssueHop(ctx, parking.Hop{Call: "call-a1", Lot: "main", Slot: 701, To: "a"})
	if err != nil {
		t.Fatal(err)
	}
	rawExec(t, a, `UPDATE hop_tokens SET expires_at = '2020-01-01T00:00:00.000Z' WHERE token = ?`, old.Token)
	if _, err := a.ConsumeHop(ctx, old.Token); !errors.Is(err, parking.ErrHopRefused) {
		t.Fatalf("expired token: %v", err)
	}
}

// Ensure a node's loss is recorded once: two parkd recording it at the
// same moment give each of its calls one lost row, on the lost node,
// naming it, its slots free; a node that beats is not silent.
func TestNodes_LoseNodeOnce(t *testing.T) {
	loc := pgLoc(t)
	a, b, c := openNode(t, loc, "a"), openNode(t, loc, "b"), openNode(t, loc, "c")
	ctx := context.Background()
	for i, slot := range []int{701, 702, 703} {
		o := nodeOcc(fmt.Sprintf("call-a%d", i), slot)
		if err := a.ClaimSlot(ctx, o); err != nil {
			t.Fatal(err)
		}
		if err := a.Record(ctx, parking.Transition{At: t0, Event: parking.EventParked, Lot: "main", Slot: slot, Call: o.Call, Occupancy: &o}); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(time.Minute)
	if err := a.Beat(ctx, now); err != nil {
		t.Fatal(err)
	}
	if got, err := b.SilentNodes(ctx, now.Add(-time.Second)); err != nil || len(got) != 0 {
		t.Fatalf("silent nodes while a beats: %v %v", got, err)
	}
	if got, err := b.SilentNodes(ctx, now.Add(time.Second)); err != nil || !slices.Equal(got, []string{"a"}) {
		t.Fatalf("silent nodes once a stopped: %v %v, want [a]", got, err)
	}
	var lost [2][]parking.Occupant
	var wg sync.WaitGroup
	for k, db := range []*store.DB{b, c} {
		wg.Go(func() {
			occ, err := db.LoseNode(ctx, "a", "node a lost; recorded by node "+db.Node, now)
			if err != nil {
				t.Error(err)
			}
			lost[k] = occ
		})
	}
	wg.Wait()
	if n := len(lost[0]) + len(lost[1]); n != 3 || (len(lost[0]) != 0 && len(lost[1]) != 0) {
		t.Fatalf("lost %d and %d calls, want 3 by one of them", len(lost[0]), len(lost[1]))
	}
	for i := range 3 {
		call := fmt.Sprintf("call-a%d", i)
		if got := queryString(t, b, `SELECT count(*) || ' ' || min(node) || ' ' || min(reason) FROM history WHERE call_uuid = ? AND event = 'lost'`, call); !strings.HasPrefix(got, "1 a node a lost; recorded by node ") {
			t.Errorf("%s's lost rows: %q", call, got)
		}
		if got := queryString(t, b, `SELECT outcome || ' ' || node FROM sessions WHERE call_uuid = ?`, call); got != "lost a" {
			t.Errorf("%s's session: %q", call, got)
		}
	}
	if got := queryString(t, b, `SELECT count(*) FROM occupancy`); got != "0" {
		t.Fatalf("%s occupancy rows left", got)
	}
	if err := b.ClaimSlot(ctx, nodeOcc("call-b1", 701)); err != nil {
		t.Fatalf("b claims a freed slot: %v", err)
	}
	if got, err := c.LoseNode(ctx, "a", "again", now); err != nil || len(got) != 0 {
		t.Fatalf("a second loss of a: %v %v", got, err)
	}
}

// Ensure MoveClaim moves a call's row to a free slot and refuses one
// another node holds.
func TestNodes_MoveClaim(t *testing.T) {
	loc := pgLoc(t)
	a, b := openNode(t, loc, "a"), openNode(t, loc, "b")
	ctx := context.Background()
	if err := a.ClaimSlot(ctx, nodeOcc("call-a", 701)); err != nil {
		t.Fatal(err)
	}
	if err := b.ClaimSlot(ctx, nodeOcc("call-b", 702)); err != nil {
		t.Fatal(err)
	}
	if err := a.MoveClaim(ctx, "call-a", "", "main", 702); !errors.Is(err, parking.ErrSlotTaken) {
		t.Fatalf("move into b's slot: %v", err)
	}
	if err := a.MoveClaim(ctx, "call-a", "", "main", 705); err != nil {
		t.Fatal(err)
	}
	if got := queryString(t, a, `SELECT slot || ' ' || node FROM occupancy WHERE call_uuid = 'call-a'`); got != "705 a" {
		t.Fatalf("call-a's row: %q", got)
	}
}

// Ensure a call whose slot claim was written but whose parked row was not
// (its parkd died between the two) gets its parked row, at its parked_at,
// from the parkd that takes the node over (RecordUnrecordedParks, once) or
// that records the node lost (LoseNode: parked, then lost); a call whose
// row was written, or another node's, is left alone.
func TestNodes_UnrecordedParks(t *testing.T) {
	loc := pgLoc(t)
	a, b := openNode(t, loc, "a"), openNode(t, loc, "b")
	ctx := context.Background()
	written := nodeOcc("call-written", 701)
	for _, o := range []parking.Occupant{written, nodeOcc("call-unwritten", 702)} {
		if err := a.ClaimSlot(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Record(ctx, parking.Transition{At: t0.Add(time.Millisecond), Event: parking.EventParked, Lot: "main", Slot: 701, Call: written.Call, Occupancy: &written}); err != nil {
		t.Fatal(err)
	}
	if err := b.ClaimSlot(ctx, nodeOcc("call-b", 703)); err != nil {
		t.Fatal(err)
	}
	events := func(call string) string {
		return queryString(t, a, `SELECT coalesce(string_agg(event || '@' || at || '/' || node, ' ' ORDER BY id), '') FROM history WHERE call_uuid = ?`, call)
	}
	occ, err := a.RecordUnrecordedParks(ctx)
	if err != nil || len(occ) != 1 || occ[0].Call != "call-unwritten" {
		t.Fatalf("RecordUnrecordedParks: %v %v, want call-unwritten", occ, err)
	}
	at := t0.UTC().Format("2006-01-02T15:04:05.000Z")
	if got := events("call-unwritten"); got != "parked@"+at+"/a" {
		t.Fatalf("call-unwritten's history %q", got)
	}
	if got := queryString(t, a, `SELECT count(*) FROM history WHERE call_uuid = 'call-written'`); got != "1" {
		t.Fatalf("call-written has %s rows", got)
	}
	if occ, err := a.RecordUnrecordedParks(ctx); err != nil || len(occ) != 0 {
		t.Fatalf("a second RecordUnrecordedParks: %v %v", occ, err)
	}
	if got := events("call-b"); got != "" {
		t.Fatalf("node b's call written by node a: %q", got)
	}

	// Node b is lost with its call's parked row never written.
	if _, err := a.LoseNode(ctx, "b", "node b lost", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := events("call-b"); !strings.HasPrefix(got, "parked@"+at+"/b lost@") || strings.Count(got, " ") != 1 {
		t.Fatalf("node b's lost call's history %q, want parked then lost, on node b", got)
	}
}

// Ensure a webhook's payload names the node of its history row: the
// writing parkd's, and the lost node's for the rows a survivor writes for
// it.
func TestNodes_WebhookPayloadNamesNode(t *testing.T) {
	loc := pgLoc(t)
	a := loc.New()
	a.Node, a.Webhooks = "a", []store.WebhookTarget{{Name: "crm"}}
	if err := a.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	b := openNode(t, loc, "b")
	ctx := context.Background()
	o := nodeOcc("call-a", 701)
	if err := a.ClaimSlot(ctx, o); err != nil {
		t.Fatal(err)
	}
	if err := a.Record(ctx, parking.Transition{At: t0, Event: parking.EventParked, Lot: "main", Slot: 701, Call: o.Call, Occupancy: &o}); err != nil {
		t.Fatal(err)
	}
	ob := nodeOcc("call-b", 702)
	if err := b.ClaimSlot(ctx, ob); err != nil {
		t.Fatal(err)
	}
	if err := b.Record(ctx, parking.Transition{At: t0, Event: parking.EventParked, Lot: "main", Slot: 702, Call: ob.Call, Occupancy: &ob}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.LoseNode(ctx, "b", "node b lost", t0.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range due(t, a, "crm", t0.Add(time.Hour)) {
		var row struct{ Call, Event, Node string }
		if err := json.Unmarshal(d.Payload, &row); err != nil {
			t.Fatal(err)
		}
		got = append(got, row.Call+" "+row.Event+" "+row.Node)
	}
	if want := []string{"call-a parked a", "call-b lost b"}; !slices.Equal(got, want) {
		t.Fatalf("deliveries %q, want %q", got, want)
	}
}
