package esl_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl/fstest"
)

// Ensure an attended transfer into the parked consult call leaves the
// caller parked in the slot reception heard, with music and reception as
// parker, and the consult leg gone, whichever of the consult call's hangup
// and the caller's connect comes first.
func TestAttended_CallerTakesConsultSlot(t *testing.T) {
	for _, last := range []bool{false, true} {
		t.Run(map[bool]string{false: "HangupFirst", true: "HangupLast"}[last], func(t *testing.T) {
			r, caller, consult := startAttended(t)
			if st := consult.State(); !slices.ContainsFunc(st.Played, func(p string) bool { return p == "en number iterated 201" }) {
				t.Fatalf("reception did not hear the slot: played %q", st.Played)
			}
			if err := r.sim.CompleteAttendedTransfer(caller, consult, fstest.AttendedTransfer{
				SocketAddr: r.addr, Vars: parkVars, ConsultHangupLast: last,
			}); err != nil {
				t.Fatal(err)
			}
			r.parkedIn(t, caller, "main", 201)
			if _, err := consult.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.Alive }); err != nil {
				t.Fatalf("consult leg still up: %v", err)
			}
			occ := r.svc.Occupants()
			if len(occ) != 1 || occ[0].Parker != "1000" || string(occ[0].Call) != caller.UUID() {
				t.Fatalf("occupants %+v, want only the caller, parked by 1000", occ)
			}
			if st := caller.State(); slices.ContainsFunc(st.Played, func(p string) bool { return strings.HasPrefix(p, "en number iterated") }) {
				t.Fatalf("the caller heard an announcement: %q", st.Played)
			}
		})
	}
}
