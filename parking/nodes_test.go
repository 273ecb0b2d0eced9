package parking

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeClaims is a shared store in which another node holds some slots.
type fakeClaims struct {
	mu        sync.Mutex
	other     map[int]CallID // slots another node holds
	mine      map[CallID]int // this node's claims
	unclaimed []CallID
}

func newFakeClaims(otherSlots ...int) *fakeClaims {
	c := &fakeClaims{other: map[int]CallID{}, mine: map[CallID]int{}}
	for _, s := range otherSlots {
		c.other[s] = CallID(fmt.Sprintf("remote-%d", s))
	}
	return c
}

func (c *fakeClaims) ClaimSlot(_ context.Context, o Occupant) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.other[o.Slot]; ok {
		return fmt.Errorf("claim %d: %w", o.Slot, ErrSlotTaken)
	}
	c.mine[o.Call] = o.Slot
	return nil
}

func (c *fakeClaims) Unclaim(_ context.Context, call CallID) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.mine, call)
	c.unclaimed = append(c.unclaimed, call)
	return nil
}

func (c *fakeClaims) MoveClaim(_ context.Context, call CallID, _, _ string, slot int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.other[slot]; ok {
		return ErrSlotTaken
	}
	c.mine[call] = slot
	return nil
}

// Ensure parks skip the slots another node holds: the next free slot is
// the first neither node holds, a directed park into another node's slot
// is refused (rejected row, error tone), or moves on with NextIfTaken, a
// park that fails after its claim gives the claim back, and a move into
// another node's slot is refused with the call left where it was.
func TestSharedSlotClaims(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st,
		LotConfig{Name: "main", First: 201, Last: 205, Music: "m"},
		LotConfig{Name: "next", First: 301, Last: 303, Music: "m", NextIfTaken: true})
	claims := newFakeClaims(201, 202, 301)
	svc.Claims = claims

	occ, err := svc.Park(ctx, ParkRequest{Leg: newLeg("a"), Parker: "1000"})
	if err != nil || occ.Slot != 203 {
		t.Fatalf("next free park: %+v, %v; want 203", occ, err)
	}
	leg := newLeg("b")
	if _, err := svc.Park(ctx, ParkRequest{Leg: leg, Parker: "1000", Slot: 202}); !errors.Is(err, ErrSlotTaken) {
		t.Fatalf("directed park into another node's slot: %v", err)
	}
	if got := leg.calls(); !slices.Equal(got, []string{"refuse 1000"}) {
		t.Fatalf("refused leg heard %v", got)
	}
	if last := st.last(); last.Event != EventRejected || last.Call != "b" || last.Slot != 202 {
		t.Fatalf("rejected row %+v", last)
	}
	if occ, err := svc.Park(ctx, ParkRequest{Leg: newLeg("c"), Parker: "1000", Lot: "next", Slot: 301}); err != nil || occ.Slot != 302 {
		t.Fatalf("NextIfTaken park: %+v, %v; want 302", occ, err)
	}
	failing := newLeg("d")
	failing.failOn["hold"] = errors.New("no music")
	if _, err := svc.Park(ctx, ParkRequest{Leg: failing, Parker: "1000"}); err == nil {
		t.Fatal("a park whose hold failed succeeded")
	}
	if !slices.Contains(claims.unclaimed, "d") {
		t.Fatalf("the failed park's claim was not given back: %v", claims.unclaimed)
	}
	if _, err := svc.Move(ctx, "a", "", 201, "web:desk"); !errors.Is(err, ErrSlotTaken) {
		t.Fatalf("move into another node's slot: %v", err)
	}
	if o, _ := svc.Occupant("a"); o.Slot != 203 {
		t.Fatalf("the refused move moved the call to %d", o.Slot)
	}
	if o, err := svc.Move(ctx, "a", "", 205, "web:desk"); err != nil || o.Slot != 205 || claims.mine["a"] != 205 {
		t.Fatalf("move to a free slot: %+v %v, claim %d", o, err, claims.mine["a"])
	}
}

// fakeNodes is the shared store's view of the other nodes.
type fakeNodes struct {
	mu     sync.Mutex
	remote map[int]RemoteCall
	issued []Hop
	tokens map[string]Hop
}

func (n *fakeNodes) RemoteCall(_ context.Context, domain, lot string, slot int) (RemoteCall, bool, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	rc, ok := n.remote[slot]
	return rc, ok, nil
}

func (n *fakeNodes) IssueHop(_ context.Context, h Hop) (Hop, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	h.Token, h.From = fmt.Sprintf("%032x", len(n.issued)+1), "b"
	n.issued = append(n.issued, h)
	return h, nil
}

func (n *fakeNodes) ConsumeHop(_ context.Context, token string) (Hop, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	h, ok := n.tokens[token]
	if !ok {
		return Hop{}, ErrHopRefused
	}
	delete(n.tokens, token)
	return h, nil
}

// hopLeg is a fakeLeg that can be sent to another node.
type hopLeg struct {
	*fakeLeg
	hops []Hop
}

func (l *hopLeg) Hop(_ context.Context, h Hop) error {
	l.hops = append(l.hops, h)
	return nil
}

// Ensure a retrieve of a slot empty here but held on another node sends
// the retriever there with a token for that call, and records nothing
// here; a retriever another node sent is bridged to the very call its
// token names, once, and the row names both nodes.
func TestRetrieveAcrossNodes(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	svc.Node = "a"
	nodes := &fakeNodes{remote: map[int]RemoteCall{204: {Node: "c", Call: "remote-204", Lot: "main", Slot: 204}}, tokens: map[string]Hop{}}
	svc.Nodes = nodes

	r := &hopLeg{fakeLeg: newLeg("r")}
	occ, err := svc.Retrieve(ctx, RetrieveRequest{Leg: r, Retriever: "2002", Slot: 204})
	if err != nil || occ.Call != "remote-204" {
		t.Fatalf("retrieve of another node's call: %+v %v", occ, err)
	}
	if len(r.hops) != 1 || r.hops[0].To != "c" || r.hops[0].Call != "remote-204" || r.hops[0].Retriever != "2002" || r.hops[0].Token == "" {
		t.Fatalf("hops %+v", r.hops)
	}
	if rows := st.rows(); len(rows) != 0 {
		t.Fatalf("rows written for a retrieve sent away: %+v", rows)
	}
	// Nothing anywhere: the error tone.
	none := &hopLeg{fakeLeg: newLeg("n")}
	if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: none, Slot: 203}); !errors.Is(err, ErrSlotEmpty) || len(none.hops) != 0 {
		t.Fatalf("retrieve of an empty slot: %v, hops %v", err, none.hops)
	}

	parkFor(t, svc, "jane", "1000", 202)
	parkFor(t, svc, "other", "1000", 203)
	nodes.tokens["tok"] = Hop{Call: "jane", Lot: "main", Slot: 202, From: "b", To: "a", Retriever: "2002"}
	hop := newLeg("hop")
	if _, err := svc.RetrieveHop(ctx, hop, "tok"); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(hop.bridged, []CallID{"jane"}) {
		t.Fatalf("the hop bridged %v", hop.bridged)
	}
	last := st.last()
	if last.Event != EventRetrieved || last.Call != "jane" || last.Retriever != "2002" || last.Reason != "across nodes: parked on node a, retrieved from node b" {
		t.Fatalf("retrieved row %+v", last)
	}
	again := newLeg("again")
	if _, err := svc.RetrieveHop(ctx, again, "tok"); !errors.Is(err, ErrHopRefused) {
		t.Fatalf("the token used twice: %v", err)
	}
	if got := again.calls(); !slices.Equal(got, []string{"refuse "}) {
		t.Fatalf("refused hop heard %v", got)
	}
	// A token for a call no longer here: the error tone, nothing else taken.
	nodes.tokens["gone"] = Hop{Call: "jane", Lot: "main", Slot: 202, From: "b", To: "a"}
	late := newLeg("late")
	if _, err := svc.RetrieveHop(ctx, late, "gone"); !errors.Is(err, ErrSlotEmpty) {
		t.Fatalf("a token for a call retrieved already: %v", err)
	}
	if o, err := svc.Occupant("other"); err != nil || o.Slot != 203 {
		t.Fatal("the other parked call was taken")
	}
}

// Ensure a retrieve of a lot's longest-waiting call (no slot) takes the
// call that has waited longest across the nodes: here when it is here,
// on another node (through the hop) when that one waited longer.
func TestRetrieveLongestAcrossNodes(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	svc.Node = "a"
	parkFor(t, svc, "jane", "1000", 202)
	local, _ := svc.Occupant("jane")
	nodes := &fakeNodes{remote: map[int]RemoteCall{0: {Node: "c", Call: "remote-204", Lot: "main", Slot: 204, ParkedAt: local.ParkedAt.Add(time.Second)}}}
	svc.Nodes = nodes

	r := &hopLeg{fakeLeg: newLeg("r")}
	if occ, err := svc.Retrieve(ctx, RetrieveRequest{Leg: r, Retriever: "2002"}); err != nil || occ.Call != "jane" || len(r.hops) != 0 {
		t.Fatalf("the local call waited longer: %+v %v, hops %v", occ, err, r.hops)
	}
	parkFor(t, svc, "bob", "1000", 203)
	bob, _ := svc.Occupant("bob")
	nodes.remote[0] = RemoteCall{Node: "c", Call: "remote-204", Lot: "main", Slot: 204, ParkedAt: bob.ParkedAt.Add(-time.Second)}
	r2 := &hopLeg{fakeLeg: newLeg("r2")}
	if occ, err := svc.Retrieve(ctx, RetrieveRequest{Leg: r2, Retriever: "2002"}); err != nil || occ.Call != "remote-204" || len(r2.hops) != 1 {
		t.Fatalf("the remote call waited longer: %+v %v, hops %v", occ, err, r2.hops)
	}
	if o, err := svc.Occupant("bob"); err != nil || o.Slot != 203 {
		t.Fatal("bob was taken")
	}
}
