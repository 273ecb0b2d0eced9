package esl_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
)

// Ensure calls that parkd never touched cost it nothing: the switch
// filters the inbound connection's hangups to the channels parkd marked,
// so fifty ordinary calls send no event at all, while the hangup of a
// parked call still reaches the Service and frees its slot.
func TestClient_OrdinaryCallsSendNoEvents(t *testing.T) {
	r := startKeyRig(t)
	before := r.client.Stats().Events
	for i := range 50 {
		from, to, err := r.sim.Talk(fstest.TalkSpec{FromUser: "1001", ToUser: "1002", FromName: "Call " + string(rune('A'+i%26))})
		if err != nil {
			t.Fatal(err)
		}
		from.Hangup("NORMAL_CLEARING")
		to.Hangup("NORMAL_CLEARING")
	}

	ch, err := r.sim.Call(fstest.CallSpec{
		SocketAddr: r.addr, CallerNumber: "5551234", CallerName: "Patient", Destination: "*70",
		Vars:     map[string]string{esl.VarAction: esl.ActionPark, esl.VarLot: "main"},
		Answered: true, Callee: "1000", ReferredBy: "<sip:1000@127.0.0.1>",
	})
	if err != nil {
		t.Fatal(err)
	}
	r.parkedIn(t, ch, "main", 201)
	ch.Hangup("NORMAL_CLEARING")
	// The Service frees the slot only on the inbound connection's hangup:
	// parkd's socket to the parked call is gone (parkedIn checked).
	r.empty(t)

	// The switch sends a connection's events in the order they happened,
	// so the parked call's hangup came after anything the fifty calls
	// could have sent.
	got := r.client.Stats().Events - before
	if got != 1 {
		t.Errorf("the inbound connection received %d events for 50 ordinary calls and one parked call's hangup, want 1", got)
	}
	var filters []string
	for _, c := range r.sim.Commands() {
		if strings.HasPrefix(c, "in: filter ") {
			filters = append(filters, strings.TrimPrefix(c, "in: "))
		}
	}
	if want := "filter variable_parkd_instance " + esl.DefaultInstance(); !slices.Contains(filters, want) {
		t.Errorf("filters %q lack %q", filters, want)
	}
}
