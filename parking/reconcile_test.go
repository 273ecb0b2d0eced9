package parking

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// Ensure Reconcile repairs what parkd missed: a vanished call is lost, a
// bridged one was retrieved, an unknown parked channel is re-adopted with
// its own facts, a known one stays.
func TestReconcile(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		svc, sw := mustService(t, st)
		park(t, svc, "alive", 201)
		park(t, svc, "gone", 202)
		park(t, svc, "bridged", 203)
		parkedAt := time.Now().Add(-time.Minute)
		sw.live["alive"] = true
		sw.channels = []Channel{
			{Call: "bridged", Lot: "main", Slot: 203, Bridged: true},
			{Call: "marked-but-not-parked", Lot: "main", Slot: 205, Parker: "1001"},
			{Call: "stranger", Lot: "main", Slot: 204, Parker: "1001", ParkedAt: parkedAt, Parked: true,
				Caller: Caller{Name: "Ann", Number: "5550122"}},
		}
		if err := svc.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		// The switch is told every call parkd holds, so that it can report
		// those its listing does not show yet.
		known := slices.Clone(sw.surveyedKnown)
		slices.Sort(known)
		if want := []CallID{"alive", "bridged", "gone"}; !slices.Equal(known, want) {
			t.Errorf("Survey was given %v, want %v", known, want)
		}
		for call, want := range map[CallID][]Event{
			"alive":                 {EventParked},
			"gone":                  {EventParked, EventLost},
			"bridged":               {EventParked, EventRetrieved},
			"stranger":              {EventParked},
			"marked-but-not-parked": nil,
		} {
			if got := st.events(call); !slices.Equal(got, want) {
				t.Errorf("%s: history=%v, want %v", call, got, want)
			}
		}
		o, ok := st.occupant("stranger")
		if !ok || o.Slot != 204 || o.Parker != "1001" || !o.ParkedAt.Equal(parkedAt) || o.Caller.Name != "Ann" ||
			!o.Deadline.Equal(parkedAt.Add(2*time.Minute)) {
			t.Fatalf("re-adopted occupant=%+v", o)
		}
		if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("r"), Slot: 204}); err != nil {
			t.Fatalf("re-adopted call not retrievable: %v", err)
		}
	})
}

// Ensure a call let go of while a survey was under way is not re-adopted
// from that survey, which saw it parked, whether it was parked before the
// survey began or while it was under way: it would be parked twice in the
// history and then abandoned (found by the bench under load).
func TestReconcile_CallCameAndWentDuringSurvey(t *testing.T) {
	for _, tc := range []struct {
		name         string
		parkedBefore bool
		end          string
	}{
		{"retrieved", false, "retrieved"},
		{"hung up", false, "hung up"},
		{"parked before/retrieved", true, "retrieved"},
		{"parked before/hung up", true, "hung up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore()
			svc, sw := mustService(t, st)
			sw.channels = []Channel{{Call: "late", Lot: "main", Slot: 205, Parker: "1000", Parked: true}}
			if tc.parkedBefore {
				park(t, svc, "late", 205)
			}
			sw.duringSurvey = func() {
				if !tc.parkedBefore {
					park(t, svc, "late", 205)
				}
				if tc.end == "retrieved" {
					if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("r"), Slot: 205}); err != nil {
						t.Fatal(err)
					}
				} else {
					svc.Hangup(ctx, "late", "NORMAL_CLEARING")
				}
			}
			if err := svc.Reconcile(ctx); err != nil {
				t.Fatal(err)
			}
			want := []Event{EventParked, EventRetrieved}
			if tc.end == "hung up" {
				want = []Event{EventParked, EventAbandoned}
			}
			if got := st.events("late"); !slices.Equal(got, want) {
				t.Fatalf("history=%v, want %v", got, want)
			}
			if _, ok := st.occupant("late"); ok {
				t.Fatal("the call is occupying a slot again")
			}
		})
	}
}

// Ensure a re-adopted call whose slot is taken (or gone from the config)
// moves to a free slot instead of being lost.
func TestReconcile_AdoptMoves(t *testing.T) {
	st := newMemStore()
	svc, sw := mustService(t, st)
	park(t, svc, "owner", 201)
	sw.live["owner"] = true
	sw.channels = []Channel{
		{Call: "clash", Lot: "main", Slot: 201, Parker: "1000", Parked: true},
		{Call: "oldlot", Lot: "removed", Slot: 901, Parker: "1000", Parked: true},
	}
	if err := svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	seen := map[int]CallID{}
	for _, o := range svc.Occupants() {
		if prev, dup := seen[o.Slot]; dup {
			t.Fatalf("slot %d holds %s and %s", o.Slot, prev, o.Call)
		}
		seen[o.Slot] = o.Call
	}
	if len(seen) != 3 || seen[201] != "owner" {
		t.Fatalf("occupants=%v", seen)
	}
	if r := st.last(); r.Event != EventParked || r.Reason == "" {
		t.Fatalf("moved adoption row=%+v", r)
	}
}

// Ensure a recall leg nobody waits for is hung up, and one the parker
// answered while parkd was away is bridged to its caller.
func TestReconcile_RecallLegs(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		svc, sw := recallService(t, st, recallLot(nil))
		parkFor(t, svc, "jane", "1000", 202)
		parkFor(t, svc, "tom", "1000", 203)
		sw.live["jane"], sw.live["tom"] = true, true
		sw.channels = []Channel{
			{Call: "answered-leg", RecallFor: "jane", Answered: true},
			{Call: "ringing-leg", RecallFor: "tom"},
			{Call: "orphan-leg", RecallFor: "nobody"},
		}
		sw.live["answered-leg"], sw.live["orphan-leg"] = true, true
		if err := svc.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		_, killed, bridged, _ := sw.snapshot()
		if !slices.Equal(bridged, [][2]CallID{{"jane", "answered-leg"}}) {
			t.Fatalf("bridged=%v", bridged)
		}
		if !slices.Contains(killed, "ringing-leg") || !slices.Contains(killed, "orphan-leg") || slices.Contains(killed, "answered-leg") {
			t.Fatalf("killed=%v", killed)
		}
		if got, want := st.events("jane"), []Event{EventParked, EventRecalled}; !slices.Equal(got, want) {
			t.Fatalf("jane: history=%v, want %v", got, want)
		}
		if got, want := st.events("tom"), []Event{EventParked}; !slices.Equal(got, want) {
			t.Fatalf("tom: history=%v, want %v", got, want)
		}
	})
}

// Ensure FreeSWITCH shutting down closes every parked call as lost, not
// abandoned: the callers did not give up.
func TestSwitchShutdown(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	park(t, svc, "a", 201)
	park(t, svc, "b", 202)
	svc.SwitchShutdown(ctx)
	svc.Hangup(ctx, "a", "SYSTEM_SHUTDOWN") // the hangups that follow change nothing
	for _, c := range []CallID{"a", "b"} {
		if got, want := st.events(c), []Event{EventParked, EventLost}; !slices.Equal(got, want) {
			t.Fatalf("%s: history=%v, want %v", c, got, want)
		}
	}
	if r := st.last(); r.Reason != "FreeSWITCH shut down" {
		t.Fatalf("reason=%q", r.Reason)
	}
	if len(svc.Occupants()) != 0 {
		t.Fatal("slots not freed")
	}
	// A SYSTEM_SHUTDOWN hangup alone (the SHUTDOWN event missed) is lost too.
	park(t, svc, "c", 203)
	svc.Hangup(ctx, "c", "SYSTEM_SHUTDOWN")
	if r := st.last(); r.Event != EventLost {
		t.Fatalf("row=%+v, want lost", r)
	}
}

// Ensure Open re-adopts a stored call whose lot was removed from the
// configuration into a free slot of the default lot.
func TestOpen_LotRemoved(t *testing.T) {
	st := newMemStore()
	st.occ["old"] = Occupant{Lot: "gone", Slot: 901, Call: "old", Parker: "1000", ParkedAt: time.Now(), Deadline: time.Now()}
	svc, _ := mustService(t, st)
	occ := svc.Occupants()
	if len(occ) != 1 || occ[0].Lot != "main" || occ[0].Slot != 201 {
		t.Fatalf("occupants=%+v", occ)
	}
}

// Ensure a reconcile that runs while an answered recall is being bridged
// leaves that leg alone.
func TestReconcile_DuringRecallBridge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{answerAfter: time.Second}, nil)
		release := sw.holdBridges(nil)
		sleep(122 * time.Second) // answered, bridge under way
		placed, _, _, _ := sw.snapshot()
		sw.mu.Lock()
		sw.live["jane"] = true
		sw.channels = []Channel{{Call: placed[0].Leg, RecallFor: "jane", Answered: true}}
		sw.mu.Unlock()
		if err := svc.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		release()
		synctest.Wait()
		_, killed, bridged, _ := sw.snapshot()
		if len(killed) != 0 || len(bridged) != 1 {
			t.Fatalf("killed=%v bridged=%v: the leg being bridged was touched", killed, bridged)
		}
		if got, want := st.events("jane"), []Event{EventParked, EventRecall, EventRecalled}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
	})
}

// Ensure a reconcile whose survey fails still starts the recall timers of
// the calls loaded from the store: a flaky switch must not mean no recalls.
func TestReconcile_SurveyFailsStillArms(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		st.occ["jane"] = Occupant{Lot: "main", Slot: 202, Call: "jane", Parker: "1000", ParkerDomain: "example.com",
			ParkedAt: time.Now(), Deadline: time.Now().Add(10 * time.Second)}
		svc, sw := recallService(t, st, recallLot(nil))
		sw.err = errors.New("show calls: timeout")
		if err := svc.Reconcile(ctx); err == nil {
			t.Fatal("want the survey's error")
		}
		sw.mu.Lock()
		sw.err = nil
		sw.mu.Unlock()
		sleep(10 * time.Second)
		if placed, _, _, _ := sw.snapshot(); len(placed) != 1 {
			t.Fatalf("%d recalls at the deadline, want 1", len(placed))
		}
	})
}

// Ensure a call stranded on its way to a parkd that stopped is sent where
// the dialplan sends calls parkd cannot take, without a history row (it
// was never parked), and the calls parkd holds are untouched.
func TestReconcile_SendsBackStrandedCalls(t *testing.T) {
	st := newMemStore()
	svc, sw := mustService(t, st)
	park(t, svc, "mine", 201)
	sw.live["mine"] = true
	back := Destination{Extension: "parkd_return", Dialplan: "XML", Context: "default"}
	sw.channels = []Channel{{Call: "stranded", Stranded: true, Return: back}}
	before := len(st.history)
	if err := svc.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	sw.mu.Lock()
	got := slices.Clone(sw.transfers)
	sw.mu.Unlock()
	if want := []string{"stranded -> parkd_return XML default"}; !slices.Equal(got, want) {
		t.Fatalf("transfers=%q, want %q", got, want)
	}
	if len(st.history) != before || len(svc.Occupants()) != 1 {
		t.Fatalf("history %v, occupants %v: want no new row and mine still parked", st.history[before:], svc.Occupants())
	}
}
