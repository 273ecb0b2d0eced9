package parking

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recallLot is a lot that recalls after 120 s, retries every 30 s, three
// attempts, and falls back to the operator.
func recallLot(edit func(*LotConfig)) LotConfig {
	l := LotConfig{
		Name: "main", First: 201, Last: 210, Music: "local_stream://moh", Timeout: 120 * time.Second,
		Recall: RecallConfig{
			Enabled: true, Dial: "user/{parker}@{domain}", AlertInfo: "<http://127.0.0.1/Bellcore-dr4>",
			CallerIDName: "Park {slot} - {caller_name}", CallerIDNumber: "{slot}",
			RingFor: 30 * time.Second, RetryAfter: 30 * time.Second, Attempts: 3,
		},
		Fallback: Destination{Extension: "operator"},
	}
	if edit != nil {
		edit(&l)
	}
	return l
}

// recallService runs a Service on the bubble's fake clock.
func recallService(t *testing.T, st Store, lots ...LotConfig) (*Service, *fakeSwitch) {
	t.Helper()
	sw := &fakeSwitch{live: map[CallID]bool{}, phones: map[string]phone{}}
	svc, err := NewService(lots, sw, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Shutdown(context.Background()) })
	t.Cleanup(func() {
		if msg := countProblem(svc); msg != "" {
			t.Errorf("at the end: %s", msg)
		}
	})
	return svc, sw
}

func parkFor(t *testing.T, svc *Service, call, parker string, slot int) {
	t.Helper()
	_, err := svc.Park(ctx, ParkRequest{
		Leg: newLeg(call), Caller: Caller{Name: "Jane Roe", Number: "5550100"},
		Parker: parker, ParkerDomain: "example.com", Slot: slot,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// parkedJane parks "jane" (Jane Roe) for parker 1000@example.com in slot
// 202 of recallLot(edit), the parker's phone behaving as p.
func parkedJane(t *testing.T, p phone, edit func(*LotConfig)) (*Service, *fakeSwitch, *memStore) {
	t.Helper()
	st := newMemStore()
	svc, sw := recallService(t, st, recallLot(edit))
	sw.phones["user/1000@example.com"] = p
	parkFor(t, svc, "jane", "1000", 202)
	return svc, sw, st
}

// sleep advances the bubble's clock and lets everything settle.
func sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

// Ensure the timeout rings the parker with the lot's ring and caller ID,
// and an answer is bridged to the caller and recorded as recalled.
func TestRecall_Answered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{answerAfter: 5 * time.Second}, nil)

		sleep(119 * time.Second)
		if placed, _, _, _ := sw.snapshot(); len(placed) != 0 {
			t.Fatalf("recalled before the timeout: %+v", placed)
		}
		sleep(time.Second)
		placed, _, _, _ := sw.snapshot()
		if len(placed) != 1 {
			t.Fatalf("%d recalls at the timeout, want 1", len(placed))
		}
		o := placed[0]
		if o.Dial != "user/1000@example.com" || o.AlertInfo != "<http://127.0.0.1/Bellcore-dr4>" ||
			o.CallerIDName != "Park 202 - Jane Roe" || o.CallerIDNumber != "202" || o.Parked != "jane" ||
			o.RingFor != 30*time.Second || o.Leg == "" {
			t.Fatalf("origination=%+v", o)
		}
		sleep(5 * time.Second)
		_, _, bridged, _ := sw.snapshot()
		if !slices.Equal(bridged, [][2]CallID{{"jane", o.Leg}}) {
			t.Fatalf("bridged=%v, want jane to the recall leg", bridged)
		}
		if got, want := st.events("jane"), []Event{EventParked, EventRecall, EventRecalled}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
		last := st.last()
		if last.Retriever != "1000" || last.Wait != 125*time.Second {
			t.Fatalf("recalled row=%+v", last)
		}
		if _, held := st.occupant("jane"); len(svc.Occupants()) != 0 || held {
			t.Fatal("slot not freed")
		}
	})
}

// slowStore holds every write while held (from hold until release).
type slowStore struct {
	*memStore
	mu   sync.Mutex
	gate chan struct{}
}

func (s *slowStore) hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate = make(chan struct{})
}

func (s *slowStore) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

func (s *slowStore) Record(ctx context.Context, t Transition) error {
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	return s.memStore.Record(ctx, t)
}

// Ensure the parker's phone rings at the deadline even while the store is
// slow to write: the recall's row follows, in its place in the history.
// Waiting for the write first made recalls late by a commit, tens of
// milliseconds when a WAL checkpoint fell in it.
func TestRecall_RingsBeforeItsRowIsWritten(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &slowStore{memStore: newMemStore()}
		svc, sw := recallService(t, st, recallLot(nil))
		t.Cleanup(st.release) // before the Service's shutdown, which waits for the write
		sw.phones["user/1000@example.com"] = phone{answerAfter: 5 * time.Second}
		parkFor(t, svc, "jane", "1000", 202)

		st.hold()
		sleep(120 * time.Second)
		if placed, _, _, _ := sw.snapshot(); len(placed) != 1 {
			t.Fatalf("%d recalls placed at the deadline with the store holding its write, want 1", len(placed))
		}
		if got := st.events("jane"); !slices.Equal(got, []Event{EventParked}) {
			t.Fatalf("history=%v while the store holds, want the park only", got)
		}
		st.release()
		sleep(5 * time.Second)
		if got, want := st.events("jane"), []Event{EventParked, EventRecall, EventRecalled}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
	})
}

// Ensure failed recalls are recorded with FreeSWITCH's cause, retried after
// retry_after, and the call goes to the fallback after the last attempt.
func TestRecall_FailuresThenFallback(t *testing.T) {
	for _, cause := range []string{"USER_BUSY", "NO_ANSWER", "USER_NOT_REGISTERED", "CALL_REJECTED"} {
		t.Run(cause, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p := phone{fail: cause}
				if cause == "NO_ANSWER" {
					p = phone{answerAfter: time.Hour}
				}
				svc, sw, st := parkedJane(t, p, nil)
				sleep(120 * time.Second) // first recall
				for i := 0; i < 3; i++ {
					sleep(30 * time.Second) // ring (NO_ANSWER) or retry pause
					sleep(30 * time.Second)
				}
				want := []Event{EventParked,
					EventRecall, EventRecallFailed, EventRecall, EventRecallFailed, EventRecall, EventRecallFailed,
					EventFallback}
				if got := st.events("jane"); !slices.Equal(got, want) {
					t.Fatalf("history=%v, want %v", got, want)
				}
				for _, tr := range st.rows() {
					if tr.Event == EventRecallFailed && tr.Reason != cause {
						t.Fatalf("recall_failed reason=%q, want %q", tr.Reason, cause)
					}
				}
				if _, _, _, xfers := sw.snapshot(); !slices.Equal(xfers, []string{"jane -> operator"}) {
					t.Fatalf("transfers=%v", xfers)
				}
				if len(svc.Occupants()) != 0 {
					t.Fatal("slot not freed after the fallback")
				}
			})
		})
	}
}

// Ensure the occupancy row carries the attempts and the next recall time,
// so a restart resumes where it was.
func TestRecall_FailedAttemptUpdatesOccupancy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, _, st := parkedJane(t, phone{fail: "USER_BUSY"}, nil)
		start := time.Now()
		sleep(120 * time.Second)
		o, _ := st.occupant("jane")
		if o.Attempts != 1 || !o.Deadline.Equal(start.Add(150*time.Second)) {
			t.Fatalf("occupancy after one failure: attempts=%d deadline=+%v", o.Attempts, o.Deadline.Sub(start))
		}
	})
}

// Ensure a lot without a fallback keeps the caller parked and keeps
// recalling: a caller is never hung up on.
func TestRecall_NoFallbackKeepsRecalling(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, _ := parkedJane(t, phone{fail: "USER_BUSY"}, func(l *LotConfig) { l.Fallback = Destination{} })
		sleep(120*time.Second + 6*30*time.Second)
		placed, _, _, xfers := sw.snapshot()
		if len(placed) != 7 || len(xfers) != 0 {
			t.Fatalf("%d recalls and %d transfers, want 7 and 0", len(placed), len(xfers))
		}
		if len(svc.Occupants()) != 1 {
			t.Fatal("caller no longer parked")
		}
	})
}

// Ensure an unknown parker sends the call to the fallback at the timeout,
// and without a fallback leaves it parked.
func TestRecall_UnknownParker(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fallback Destination
		want     []Event
	}{
		{"Fallback", Destination{Extension: "9000", Dialplan: "XML", Context: "default"}, []Event{EventParked, EventFallback}},
		{"NoFallback", Destination{}, []Event{EventParked}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newMemStore()
				svc, sw := recallService(t, st, recallLot(func(l *LotConfig) { l.Fallback = tc.fallback }))
				parkFor(t, svc, "jane", "", 202)
				sleep(10 * time.Minute)
				if got := st.events("jane"); !slices.Equal(got, tc.want) {
					t.Fatalf("history=%v, want %v", got, tc.want)
				}
				placed, _, _, xfers := sw.snapshot()
				if len(placed) != 0 {
					t.Fatalf("recalled nobody: %+v", placed)
				}
				if !tc.fallback.IsZero() && !slices.Equal(xfers, []string{"jane -> 9000 XML default"}) {
					t.Fatalf("transfers=%v", xfers)
				}
			})
		})
	}
}

// Ensure a lot with recall off goes straight to its fallback at the timeout.
func TestRecall_DisabledUsesFallback(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		svc, sw := recallService(t, st, recallLot(func(l *LotConfig) { l.Recall.Enabled = false }))
		parkFor(t, svc, "jane", "1000", 202)
		sleep(120 * time.Second)
		placed, _, _, xfers := sw.snapshot()
		if len(placed) != 0 || len(xfers) != 1 {
			t.Fatalf("recalls=%d transfers=%v", len(placed), xfers)
		}
	})
}

// Ensure a retrieve while the recall rings wins: the ringing leg is
// cancelled, the retriever is bridged, and nothing is bridged twice.
func TestRecall_RetrieveWhileRinging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{answerAfter: 20 * time.Second}, nil)
		sleep(125 * time.Second) // ringing
		r := newLeg("smith")
		if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: r, Retriever: "2002", Slot: 202}); err != nil {
			t.Fatal(err)
		}
		sleep(time.Minute)
		placed, killed, bridged, _ := sw.snapshot()
		if !slices.Contains(killed, placed[0].Leg) {
			t.Fatalf("recall leg not cancelled: killed=%v", killed)
		}
		if len(bridged) != 0 || !slices.Equal(r.bridged, []CallID{"jane"}) {
			t.Fatalf("switch bridges=%v, retriever bridges=%v", bridged, r.bridged)
		}
		if got, want := st.events("jane"), []Event{EventParked, EventRecall, EventRetrieved}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
		if len(placed) != 1 {
			t.Fatalf("%d recalls, want 1", len(placed))
		}
	})
}

// Ensure that when the parker answers just as a retriever takes the call,
// exactly one gets it: the late answer is hung up, never bridged.
func TestRecall_AnswerRacesRetrieve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{answerAfter: 10 * time.Second}, nil)
		sleep(120 * time.Second)
		// The retriever takes the call; its answer is slow, so the recall
		// answers (at +10 s) while the retrieve is still under way.
		r := newLeg("smith")
		release := make(chan struct{})
		r.blockOn["answer"] = release
		done := make(chan error)
		go func() {
			_, err := svc.Retrieve(ctx, RetrieveRequest{Leg: r, Retriever: "2002", Slot: 202})
			done <- err
		}()
		sleep(15 * time.Second)
		close(release)
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		_, killed, bridged, _ := sw.snapshot()
		if len(bridged) != 0 || len(r.bridged) != 1 || len(killed) == 0 {
			t.Fatalf("bridged=%v retriever=%v killed=%v", bridged, r.bridged, killed)
		}
		if got, want := st.events("jane"), []Event{EventParked, EventRecall, EventRetrieved}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
	})
}

// Ensure a retriever arriving while the parker's answer is being bridged
// loses: the parker got there first.
func TestRecall_RetrieveDuringRecallBridge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{answerAfter: time.Second}, nil)
		release := sw.holdBridges(nil)
		sleep(122 * time.Second) // answered, bridge under way
		late := newLeg("late")
		if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: late, Slot: 202}); !errors.Is(err, ErrSlotEmpty) {
			t.Fatalf("late retriever: err=%v, want ErrSlotEmpty", err)
		}
		if !slices.Equal(late.calls(), []string{"refuse "}) {
			t.Fatalf("late retriever calls=%q, want the error tone", late.calls())
		}
		release()
		synctest.Wait()
		if got, want := st.events("jane"), []Event{EventParked, EventRecall, EventRecalled}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
	})
}

// Ensure a caller hanging up while the recall rings cancels the recall and
// is recorded as abandoned.
func TestRecall_CallerHangsUpWhileRinging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{answerAfter: time.Hour}, nil)
		sleep(125 * time.Second)
		svc.Hangup(ctx, "jane", "NORMAL_CLEARING")
		sleep(time.Minute)
		placed, killed, bridged, _ := sw.snapshot()
		if !slices.Contains(killed, placed[0].Leg) || len(bridged) != 0 {
			t.Fatalf("killed=%v bridged=%v", killed, bridged)
		}
		if got, want := st.events("jane"), []Event{EventParked, EventRecall, EventAbandoned}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
		if len(placed) != 1 {
			t.Fatalf("recalled again after the caller left: %d recalls", len(placed))
		}
	})
}

// Ensure a recall cancelled before FreeSWITCH has created its leg (the
// kill finds no such channel) is hung up as soon as the leg exists, not
// left ringing the parker for a caller who is gone.
func TestRecall_CancelledBeforeLegExists(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{setup: 2 * time.Second, answerAfter: time.Hour}, nil)
		sleep(120 * time.Second) // the recall is placed; its leg does not exist yet
		svc.Hangup(ctx, "jane", "NORMAL_CLEARING")
		sleep(3 * time.Second)
		sw.mu.Lock()
		ringing := len(sw.ringing)
		sw.mu.Unlock()
		if ringing != 0 {
			t.Fatal("the cancelled recall leg rings once it exists")
		}
		if got, want := st.events("jane"), []Event{EventParked, EventRecall, EventAbandoned}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
	})
}

// Ensure a caller hanging up while the parker's answer is being bridged
// ends as abandoned and the parker's leg is hung up.
func TestRecall_CallerHangsUpDuringBridge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{answerAfter: time.Second}, nil)
		release := sw.holdBridges(ErrCallGone)
		sleep(122 * time.Second) // answered, bridge under way
		svc.Hangup(ctx, "jane", "NORMAL_CLEARING")
		release()
		synctest.Wait()
		placed, killed, _, _ := sw.snapshot()
		if got, want := st.events("jane"), []Event{EventParked, EventRecall, EventAbandoned}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
		if !slices.Contains(killed, placed[0].Leg) {
			t.Fatalf("parker's leg not hung up: killed=%v", killed)
		}
	})
}

// Ensure a recall whose outcome is lost (the connection to FreeSWITCH
// dropped) counts as a failed attempt, the leg is hung up, and it retries.
func TestRecall_OutcomeLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, sw, st := parkedJane(t, phone{lost: errors.New("connection closed")}, func(l *LotConfig) { l.Fallback = Destination{} })
		sleep(120 * time.Second)
		placed, killed, _, _ := sw.snapshot()
		if !slices.Contains(killed, placed[0].Leg) {
			t.Fatal("lost recall leg not hung up")
		}
		last := st.last()
		if last.Event != EventRecallFailed || last.Reason != "recall lost: connection closed" {
			t.Fatalf("last row=%+v", last)
		}
		sleep(30 * time.Second)
		if placed, _, _, _ := sw.snapshot(); len(placed) != 2 {
			t.Fatalf("%d recalls, want a retry", len(placed))
		}
	})
}

// Ensure a restart re-arms the recall from the stored deadline, not from
// the restart.
func TestRecall_RestartKeepsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		sw := &fakeSwitch{live: map[CallID]bool{}, phones: map[string]phone{}}
		svc, err := NewService([]LotConfig{recallLot(nil)}, sw, st)
		if err != nil {
			t.Fatal(err)
		}
		svc.Open(ctx)
		parkFor(t, svc, "jane", "1000", 202)
		sleep(60 * time.Second)
		svc.Shutdown(ctx)

		svc2, sw2 := recallService(t, st, recallLot(nil))
		sw2.live["jane"] = true
		if err := svc2.Reconcile(ctx); err != nil { // connected: timers start
			t.Fatal(err)
		}
		sleep(59 * time.Second)
		if placed, _, _, _ := sw2.snapshot(); len(placed) != 0 {
			t.Fatal("recalled early after the restart")
		}
		sleep(time.Second)
		if placed, _, _, _ := sw2.snapshot(); len(placed) != 1 {
			t.Fatalf("%d recalls at the original deadline, want 1", len(placed))
		}
		if placed, _, _, _ := sw.snapshot(); len(placed) != 0 {
			t.Fatal("the stopped service recalled")
		}
	})
}

// Ensure Shutdown hangs up a recall that is still ringing: nobody would be
// left to bridge the parker's answer.
func TestRecall_ShutdownCancelsRinging(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{answerAfter: time.Hour}, nil)
		sleep(125 * time.Second)
		if err := svc.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		placed, killed, _, _ := sw.snapshot()
		if !slices.Contains(killed, placed[0].Leg) {
			t.Fatalf("ringing leg left ringing: killed=%v", killed)
		}
		if _, ok := st.occupant("jane"); !ok {
			t.Fatal("parked call removed by shutdown")
		}
	})
}

// Ensure templates fill every placeholder, drop "@{domain}" when no domain
// is known, and leave unknown text alone.
func TestExpand(t *testing.T) {
	vals := map[string]string{"lot": "main", "slot": "202", "caller_name": "Jane", "caller_number": "555",
		"parker": "1000", "domain": "example.com"}
	noDomain := map[string]string{"parker": "1000", "domain": ""}
	for _, tc := range []struct {
		tmpl string
		vals map[string]string
		want string
	}{
		{"user/{parker}@{domain}", vals, "user/1000@example.com"},
		{"user/{parker}@{domain}", noDomain, "user/1000"},
		{"Park {slot} - {caller_name}", vals, "Park 202 - Jane"},
		{"{slot}", vals, "202"},
		{"{lot}/{caller_number}", vals, "main/555"},
		{"{nope} {", vals, "{nope} {"},
	} {
		if got := expand(tc.tmpl, tc.vals); got != tc.want {
			t.Errorf("expand(%q)=%q, want %q", tc.tmpl, got, tc.want)
		}
	}
}
