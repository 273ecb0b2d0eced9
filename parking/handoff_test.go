package parking

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// Ensure a call that parks itself always hears its slot, whatever the
// lot's announce setting.
func TestService_Park_SelfParkAnnounced(t *testing.T) {
	for _, tc := range []struct {
		name     string
		announce bool
		slot     int
	}{
		{name: "LotSilent", announce: false},
		{name: "LotSilentDirected", announce: false, slot: 202},
		{name: "LotAnnouncesDirected", announce: true, slot: 202},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, _ := mustService(t, newMemStore(), LotConfig{Name: "main", First: 201, Last: 203, Music: "m", Announce: tc.announce})
			leg := newLeg("consult")
			occ, err := svc.Park(ctx, ParkRequest{Leg: leg, Caller: jane, Parker: "1000", Slot: tc.slot, SelfPark: true})
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"answer", fmt.Sprintf("announce %d", occ.Slot), fmt.Sprintf("hold main/%d m", occ.Slot)}
			if got := leg.calls(); !slices.Equal(got, want) {
				t.Fatalf("leg calls=%q, want %q", got, want)
			}
		})
	}
}

// handoffLot recalls after 120 s; its announce is on, which a replacing
// call must not hear.
func handoffLot() LotConfig {
	return recallLot(func(l *LotConfig) { l.Announce = true })
}

// parkConsult parks the receptionist's consult call "consult" (parker 1000,
// Dialog "cid-consult") into the first free slot, as *70 dialled from it.
func parkConsult(t *testing.T, svc *Service) Occupant {
	t.Helper()
	occ, err := svc.Park(ctx, ParkRequest{
		Leg: newLeg("consult"), Caller: Caller{Name: "Reception", Number: "1000"}, Parker: "1000",
		ParkerDomain: "example.com", Dialog: "cid-consult", SelfPark: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return occ
}

// parkHeld sends the held caller "held" to the park replacing dialog.
func parkHeld(t *testing.T, svc *Service, leg *fakeLeg, replaces string) Occupant {
	t.Helper()
	occ, err := svc.Park(ctx, ParkRequest{
		Leg: leg, Caller: jane, Parker: "5550100", Dialog: "cid-held", Replaces: replaces,
	})
	if err != nil {
		t.Fatal(err)
	}
	return occ
}

// Ensure an attended transfer into a parked consult call leaves the held
// caller in the consult's slot with the consult's parker, whichever of the
// consult's hangup and the caller's park comes first, and the consult's
// stay ends as replaced.
func TestHandoff_Orders(t *testing.T) {
	for _, tc := range []struct {
		name string
		// before runs between the consult's park and the held caller's
		// park; after runs after the held caller's park.
		before, after func(svc *Service)
		recalling     bool // the consult's recall rings when replaced
	}{
		{
			name:   "HangupFirst",
			before: func(svc *Service) { sleep(80 * time.Millisecond); svc.Hangup(ctx, "consult", causeAttendedTransfer) },
		},
		{
			name: "HangupFirstNearTheEnd",
			before: func(svc *Service) {
				svc.Hangup(ctx, "consult", causeAttendedTransfer)
				sleep(handoffWait - time.Millisecond)
			},
		},
		{
			name:  "ParkFirst",
			after: func(svc *Service) { sleep(10 * time.Millisecond); svc.Hangup(ctx, "consult", causeAttendedTransfer) },
		},
		{
			name:      "RecallRingingHangupFirst",
			recalling: true,
			before:    func(svc *Service) { svc.Hangup(ctx, "consult", causeAttendedTransfer) },
		},
		{
			name:      "RecallRingingParkFirst",
			recalling: true,
			after:     func(svc *Service) { svc.Hangup(ctx, "consult", causeAttendedTransfer) },
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newMemStore()
				svc, sw, _ := lampService(t, st, handoffLot())
				sw.phones["user/1000@example.com"] = phone{answerAfter: time.Hour}
				consult := parkConsult(t, svc)
				if tc.recalling {
					sleep(120 * time.Second)
				}
				if tc.before != nil {
					tc.before(svc)
				}
				leg := newLeg("held")
				occ := parkHeld(t, svc, leg, "cid-consult")
				if tc.after != nil {
					tc.after(svc)
				}
				synctest.Wait()

				if occ.Lot != consult.Lot || occ.Slot != consult.Slot || occ.Parker != "1000" ||
					occ.ParkerDomain != "example.com" || occ.Dialog != "cid-held" || occ.Caller != jane {
					t.Fatalf("held caller parked as %+v, consult was %+v", occ, consult)
				}
				if got, want := leg.calls(), []string{"answer", fmt.Sprintf("hold main/%d local_stream://moh", occ.Slot)}; !slices.Equal(got, want) {
					t.Fatalf("held caller's leg=%q, want %q (music, no announcement)", got, want)
				}
				wantConsult := []Event{EventParked, EventReplaced}
				if tc.recalling {
					wantConsult = []Event{EventParked, EventRecall, EventReplaced}
				}
				if got := st.events("consult"); !slices.Equal(got, wantConsult) {
					t.Fatalf("consult history=%v, want %v", got, wantConsult)
				}
				if got := st.events("held"); !slices.Equal(got, []Event{EventParked}) {
					t.Fatalf("held caller history=%v", got)
				}
				if o, ok := st.occupant("held"); !ok || o.Slot != consult.Slot || o.Parker != "1000" || o.Dialog != "cid-held" {
					t.Fatalf("held caller's row=%+v, %v", o, ok)
				}
				if _, ok := st.occupant("consult"); ok {
					t.Fatal("consult call still has a row")
				}
				if got := svc.Occupants(); len(got) != 1 || got[0].Call != "held" {
					t.Fatalf("occupants=%+v", got)
				}
				if _, killed, _, _ := sw.snapshot(); slices.Contains(killed, "consult") != (tc.before == nil) {
					t.Fatalf("consult hung up by parkd=%v, want %v (only when the caller came first): killed=%v",
						!slices.Contains(killed, "consult"), tc.before == nil, killed)
				}
				if tc.recalling {
					placed, killed, bridged, _ := sw.snapshot()
					if len(placed) != 1 || !slices.Contains(killed, placed[0].Leg) || len(bridged) != 0 {
						t.Fatalf("recall for the consult: placed=%v killed=%v bridged=%v", placed, killed, bridged)
					}
				}
				// The handoff's timer is void: nothing happens to the slot
				// when it would have fired, and the caller is recalled to
				// the consult's parker in its own time.
				sleep(handoffWait)
				if got := st.events("held"); !slices.Equal(got, []Event{EventParked}) {
					t.Fatalf("held caller history after the handoff wait=%v", got)
				}
				if l, _ := svc.Lamp("", "main", consult.Slot); l.State != LampParked || l.Caller != jane {
					t.Fatalf("lamp=%+v", l)
				}
			})
		})
	}
}

// Ensure a consult call hung up by an attended transfer that nobody
// replaces keeps its slot for handoffWait, then is abandoned.
func TestHandoff_Timeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		svc, _, _ := lampService(t, st, handoffLot())
		consult := parkConsult(t, svc)
		svc.Hangup(ctx, "consult", causeAttendedTransfer)
		sleep(handoffWait - time.Millisecond)
		if got := st.events("consult"); !slices.Equal(got, []Event{EventParked}) {
			t.Fatalf("history before the wait ended=%v", got)
		}
		other, err := svc.Park(ctx, ParkRequest{Leg: newLeg("other"), Caller: jane, Parker: "1001"})
		if err != nil || other.Slot == consult.Slot {
			t.Fatalf("another park took the waiting slot: %+v, %v", other, err)
		}
		sleep(time.Millisecond)
		if got := st.events("consult"); !slices.Equal(got, []Event{EventParked, EventAbandoned}) {
			t.Fatalf("history=%v, want parked, abandoned", got)
		}
		if r := st.last(); r.Reason != causeAttendedTransfer || r.Slot != consult.Slot {
			t.Fatalf("abandoned row=%+v", r)
		}
		if l, _ := svc.Lamp("", "main", consult.Slot); l.State != LampIdle {
			t.Fatalf("lamp=%+v", l)
		}
		// Too late: the held caller parks as any call would.
		occ := parkHeld(t, svc, newLeg("held"), "cid-consult")
		if occ.Parker != "5550100" || occ.Slot != consult.Slot {
			t.Fatalf("late replacement parked as %+v", occ)
		}
	})
}

// Ensure a consult call given up (hung up normally) frees its slot at once,
// and a Replaces that matches no parked call parks normally.
func TestHandoff_NoReplacement(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cause    string
		replaces string
	}{
		{name: "ConsultGivenUp", cause: "NORMAL_CLEARING", replaces: "cid-consult"},
		{name: "NoMatch", replaces: "cid-unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newMemStore()
				svc, _, _ := lampService(t, st, handoffLot())
				consult := parkConsult(t, svc)
				if tc.cause != "" {
					svc.Hangup(ctx, "consult", tc.cause)
					if got := st.events("consult"); !slices.Equal(got, []Event{EventParked, EventAbandoned}) {
						t.Fatalf("consult history=%v", got)
					}
				}
				leg := newLeg("held")
				occ := parkHeld(t, svc, leg, tc.replaces)
				if occ.Parker != "5550100" {
					t.Fatalf("parked as %+v, want its own parker", occ)
				}
				if tc.cause == "" && occ.Slot == consult.Slot {
					t.Fatalf("took the slot of a call it does not replace: %+v", occ)
				}
				if got := leg.calls(); !slices.Contains(got, fmt.Sprintf("announce %d", occ.Slot)) {
					t.Fatalf("an ordinary park into an announcing lot not announced: %q", got)
				}
				if tc.cause == "" {
					if got := st.events("consult"); !slices.Equal(got, []Event{EventParked}) {
						t.Fatalf("consult history=%v", got)
					}
				}
			})
		})
	}
}

// Ensure the consult's hangup and the held caller's park, racing, always
// end with the caller in the consult's slot and the consult replaced.
func TestHandoff_Race(t *testing.T) {
	for i := range 50 {
		st := newMemStore()
		svc, _ := mustService(t, st, handoffLot())
		consult := parkConsult(t, svc)
		var wg sync.WaitGroup
		var occ Occupant
		var err error
		wg.Go(func() { svc.Hangup(ctx, "consult", causeAttendedTransfer) })
		wg.Go(func() {
			occ, err = svc.Park(ctx, ParkRequest{Leg: newLeg("held"), Caller: jane, Dialog: "cid-held", Replaces: "cid-consult"})
		})
		wg.Wait()
		if err != nil || occ.Slot != consult.Slot || occ.Parker != "1000" {
			t.Fatalf("run %d: parked %+v, %v", i, occ, err)
		}
		if got := st.events("consult"); !slices.Equal(got, []Event{EventParked, EventReplaced}) {
			t.Fatalf("run %d: consult history=%v", i, got)
		}
		if got := svc.Occupants(); len(got) != 1 || got[0].Call != "held" {
			t.Fatalf("run %d: occupants=%+v", i, got)
		}
		svc.Shutdown(ctx)
	}
}

// Ensure a Replaces naming the dialog of a caller someone else parked (not
// a consult call) takes nothing: that caller keeps its slot and its call,
// and the request parks as any other.
func TestHandoff_OnlyConsultCallsAreReplaced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		svc, sw, _ := lampService(t, st, handoffLot())
		parked, err := svc.Park(ctx, ParkRequest{
			Leg: newLeg("patient"), Caller: jane, Parker: "1000", Dialog: "cid-patient",
		})
		if err != nil {
			t.Fatal(err)
		}
		occ := parkHeld(t, svc, newLeg("held"), "cid-patient")
		synctest.Wait()
		if occ.Slot == parked.Slot || occ.Parker != "5550100" {
			t.Fatalf("took a parked caller's slot: %+v (it was %+v)", occ, parked)
		}
		if got := st.events("patient"); !slices.Equal(got, []Event{EventParked}) {
			t.Fatalf("parked caller's history=%v", got)
		}
		if _, killed, _, _ := sw.snapshot(); slices.Contains(killed, "patient") {
			t.Fatal("the parked caller was hung up")
		}
	})
}
