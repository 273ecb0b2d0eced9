package esl_test

import (
	"testing"

	"github.com/parkd/parkd/esl/fstest"
)

// attendedRig is parkd's outbound server over a real parking.Service (the
// key rig's lots: main 201-203, vip 301-302) for attended-transfer parks.
func startAttended(t *testing.T) (*keyRig, *fstest.Channel, *fstest.Channel) {
	t.Helper()
	r := startKeyRig(t)
	caller, _, err := r.sim.BridgedCall("Jane Roe", "5550100", "1000")
	if err != nil {
		t.Fatal(err)
	}
	consult, err := r.sim.Call(fstest.CallSpec{SocketAddr: r.addr, CallerNumber: "1000", Destination: "*70", Vars: parkVars})
	if err != nil {
		t.Fatal(err)
	}
	r.parkedIn(t, consult, "main", 201)
	return r, caller, consult
}

// Ensure hanging up the consult call instead of completing the transfer
// frees its slot, and the caller stays with reception.
func TestAttended_AbandonedFreesSlot(t *testing.T) {
	r, caller, consult := startAttended(t)
	consult.Hangup("")
	r.empty(t)
	if st := caller.State(); !st.Alive || st.BridgedTo == "" {
		t.Fatalf("caller: %v", st)
	}
}
