package parking

import (
	"testing"
	"testing/synctest"
	"time"
)

// Ensure ParkedCalls says which call a recall rings for, from the same
// state the slot's lamp shows, and stops saying it once the recall ends.
func TestParkedCalls_Recalling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, _, _ := parkedJane(t, phone{answerAfter: time.Hour}, nil)
		check := func(when string, recalling bool) {
			t.Helper()
			calls := svc.ParkedCalls()
			if len(calls) != 1 || calls[0].Slot != 202 || calls[0].Caller.Name == "" {
				t.Fatalf("%s: %+v", when, calls)
			}
			if calls[0].Recalling != recalling {
				t.Fatalf("%s: recalling %v, want %v", when, calls[0].Recalling, recalling)
			}
			if l, _ := svc.Lamp("", "main", 202); (l.State == LampRinging) != recalling {
				t.Fatalf("%s: the lamp says %v", when, l.State)
			}
			if occ := svc.Occupants(); len(occ) != 1 || occ[0] != calls[0].Occupant {
				t.Fatalf("%s: Occupants %+v, ParkedCalls %+v", when, occ, calls)
			}
		}
		check("parked", false)
		sleep(121 * time.Second)
		check("recall ringing", true)
		sleep(40 * time.Second)
		check("recall unanswered", false)
	})
}
