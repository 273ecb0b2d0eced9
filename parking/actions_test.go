package parking

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// pickupResult is what a Pickup run in the background returned.
type pickupResult struct {
	occ Occupant
	err error
}

// pickupAsync starts a pickup of jane on ext by web:desk.
func pickupAsync(svc *Service, ext string) <-chan pickupResult {
	out := make(chan pickupResult, 1)
	go func() {
		occ, err := svc.Pickup(ctx, PickupRequest{Call: "jane", Extension: ext, By: "web:desk"})
		out <- pickupResult{occ, err}
	}()
	return out
}

// Ensure a pickup rings the extension like a recall, without the
// distinctive ring, bridges the answer to the caller and records retrieved
// by the person who asked.
func TestPickup_Answered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{}, nil)
		setPhone(sw, "user/2002@example.com", phone{answerAfter: 3 * time.Second})
		res := pickupAsync(svc, "2002")
		sleep(3 * time.Second)
		r := <-res
		if r.err != nil || r.occ.Slot != 202 || r.occ.Call != "jane" {
			t.Fatalf("pickup: %+v", r)
		}
		placed, _, bridged, _ := sw.snapshot()
		if len(placed) != 1 {
			t.Fatalf("placed=%+v", placed)
		}
		o := placed[0]
		if o.Dial != "user/2002@example.com" || o.AlertInfo != "" || o.CallerIDName != "Park 202 - Jane Roe" ||
			o.CallerIDNumber != "202" || o.RingFor != 30*time.Second || o.Parked != "jane" {
			t.Fatalf("origination=%+v", o)
		}
		if !slices.Equal(bridged, [][2]CallID{{"jane", o.Leg}}) {
			t.Fatalf("bridged=%v", bridged)
		}
		if got := st.events("jane"); !slices.Equal(got, []Event{EventParked, EventRetrieved}) {
			t.Fatalf("history=%v", got)
		}
		if last := st.last(); last.Retriever != "web:desk" || last.Wait != 3*time.Second {
			t.Fatalf("retrieved row=%+v", last)
		}
		if len(svc.Occupants()) != 0 {
			t.Fatal("slot not freed")
		}
	})
}

// Ensure each way a pickup can end while its phone rings has one outcome.
func TestPickup_Races(t *testing.T) {
	for _, tc := range []struct {
		name    string
		phone   phone
		during  func(t *testing.T, svc *Service) // 5 s into the ring
		wantErr []error
		cause   string  // the CallFailure's cause, if any
		history []Event // jane's rows
		parked  bool    // still parked afterwards
	}{
		{name: "busy", phone: phone{fail: "USER_BUSY"}, wantErr: []error{ErrPickupFailed}, cause: "USER_BUSY",
			history: []Event{EventParked}, parked: true},
		{name: "no answer", phone: phone{answerAfter: time.Hour}, wantErr: []error{ErrPickupFailed}, cause: "NO_ANSWER",
			history: []Event{EventParked}, parked: true},
		{name: "dialled retrieve wins", phone: phone{answerAfter: time.Hour},
			during: func(t *testing.T, svc *Service) {
				if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("desk"), Retriever: "2003", Slot: 202}); err != nil {
					t.Fatal(err)
				}
			},
			wantErr: []error{ErrMovedOn}, history: []Event{EventParked, EventRetrieved}},
		{name: "caller hangs up", phone: phone{answerAfter: time.Hour},
			during:  func(t *testing.T, svc *Service) { svc.Hangup(ctx, "jane", "NORMAL_CLEARING") },
			wantErr: []error{ErrMovedOn}, history: []Event{EventParked, EventAbandoned}},
		{name: "switch shuts down", phone: phone{answerAfter: time.Hour},
			during:  func(t *testing.T, svc *Service) { svc.SwitchShutdown(ctx) },
			wantErr: []error{ErrMovedOn}, history: []Event{EventParked, EventLost}},
		{name: "a second pickup", phone: phone{answerAfter: time.Hour},
			during: func(t *testing.T, svc *Service) {
				if _, err := svc.Pickup(ctx, PickupRequest{Call: "jane", Extension: "2003", By: "web:al"}); !errors.Is(err, ErrMovedOn) {
					t.Fatalf("second pickup: %v, want ErrMovedOn", err)
				}
			},
			wantErr: []error{ErrPickupFailed}, cause: "NO_ANSWER", history: []Event{EventParked}, parked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				svc, sw, st := parkedJane(t, phone{}, nil)
				setPhone(sw, "user/2002@example.com", tc.phone)
				res := pickupAsync(svc, "2002")
				sleep(5 * time.Second)
				if tc.during != nil {
					tc.during(t, svc)
				}
				sleep(time.Minute)
				r := <-res
				for _, want := range tc.wantErr {
					if !errors.Is(r.err, want) {
						t.Fatalf("err=%v, want %v", r.err, want)
					}
				}
				var cf *CallFailure
				if got := errors.As(r.err, &cf); got != (tc.cause != "") || (got && cf.Cause != tc.cause) {
					t.Fatalf("err=%v, want cause %q", r.err, tc.cause)
				}
				if got := st.events("jane"); !slices.Equal(got, tc.history) {
					t.Fatalf("history=%v, want %v", got, tc.history)
				}
				if _, err := svc.Occupant("jane"); (err == nil) != tc.parked {
					t.Fatalf("occupant: %v, want parked=%v", err, tc.parked)
				}
				placed, killed, _, _ := sw.snapshot()
				if slices.Contains(tc.wantErr, ErrMovedOn) && !slices.Contains(killed, placed[0].Leg) {
					t.Fatalf("the pickup leg %s was not hung up: killed %v", placed[0].Leg, killed)
				}
			})
		})
	}
}

// Ensure the recall timer does not fire while a pickup rings, and after a
// failed pickup whose ring outlasted the deadline the recall waits one
// retry_after.
func TestPickup_HoldsTheRecall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{answerAfter: time.Hour}, nil)
		setPhone(sw, "user/2002@example.com", phone{answerAfter: time.Hour})
		sleep(110 * time.Second)
		res := pickupAsync(svc, "2002")
		sleep(20 * time.Second) // the deadline (120 s) passes while it rings
		if placed, _, _, _ := sw.snapshot(); len(placed) != 1 {
			t.Fatalf("a recall was placed while the pickup rang: %+v", placed)
		}
		sleep(10 * time.Second) // NO_ANSWER at 140 s
		if r := <-res; !errors.Is(r.err, ErrPickupFailed) {
			t.Fatalf("pickup: %v", r.err)
		}
		o, err := svc.Occupant("jane")
		if err != nil || !o.Deadline.Equal(time.Now().Add(30*time.Second)) {
			t.Fatalf("occupant %+v, %v: want the deadline one retry_after away", o, err)
		}
		sleep(29 * time.Second)
		if placed, _, _, _ := sw.snapshot(); len(placed) != 1 {
			t.Fatalf("recalled before retry_after: %+v", placed)
		}
		sleep(time.Second)
		if placed, _, _, _ := sw.snapshot(); len(placed) != 2 || placed[1].Dial != "user/1000@example.com" {
			t.Fatalf("no recall after retry_after: %+v", placed)
		}
		if got := st.events("jane"); !slices.Equal(got, []Event{EventParked, EventRecall}) {
			t.Fatalf("history=%v", got)
		}
	})
}

// Ensure a pickup cancels a ringing recall: a successful one ends the
// stay, a failed one records the recall's outcome.
func TestPickup_CancelsRecall(t *testing.T) {
	for _, tc := range []struct {
		name    string
		phone   phone
		history []Event
	}{
		{"answered", phone{answerAfter: 2 * time.Second}, []Event{EventParked, EventRecall, EventRetrieved}},
		{"busy", phone{fail: "USER_BUSY"}, []Event{EventParked, EventRecall, EventRecallFailed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				svc, sw, st := parkedJane(t, phone{answerAfter: time.Hour}, nil)
				setPhone(sw, "user/2002@example.com", tc.phone)
				sleep(121 * time.Second)
				if l, _ := svc.Lamp("", "main", 202); l.State != LampRinging {
					t.Fatalf("recall not ringing: %+v", l)
				}
				res := pickupAsync(svc, "2002")
				sleep(5 * time.Second)
				<-res
				placed, killed, _, _ := sw.snapshot()
				if !slices.Contains(killed, placed[0].Leg) {
					t.Fatalf("recall leg not hung up: killed %v", killed)
				}
				if got := st.events("jane"); !slices.Equal(got, tc.history) {
					t.Fatalf("history=%v, want %v", got, tc.history)
				}
				if tc.name == "busy" && !strings.Contains(st.last().Reason, "pickup") {
					t.Fatalf("recall_failed reason %q", st.last().Reason)
				}
			})
		})
	}
}

// Ensure Shutdown hangs up a ringing pickup and returns.
func TestPickup_Shutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, _ := parkedJane(t, phone{}, nil)
		setPhone(sw, "user/2002@example.com", phone{answerAfter: time.Hour})
		res := pickupAsync(svc, "2002")
		sleep(time.Second)
		if err := svc.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		if r := <-res; r.err == nil {
			t.Fatal("pickup succeeded through a shutdown")
		}
		placed, killed, _, _ := sw.snapshot()
		if !slices.Contains(killed, placed[0].Leg) {
			t.Fatalf("pickup leg not hung up: %v", killed)
		}
	})
}

// Ensure bad pickups are refused before anything rings.
func TestPickup_Refused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, _ := parkedJane(t, phone{}, nil)
		if _, err := svc.Pickup(ctx, PickupRequest{Call: "jane", By: "web:desk"}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("no extension: %v", err)
		}
		if _, err := svc.Pickup(ctx, PickupRequest{Call: "nobody", Extension: "2002"}); !errors.Is(err, ErrNoCall) {
			t.Fatalf("unknown call: %v", err)
		}
		if placed, _, _, _ := sw.snapshot(); len(placed) != 0 {
			t.Fatalf("placed %+v", placed)
		}
	})
}

// Ensure Move takes a parked call to a free slot, keeps its deadline and
// attempts, records moved, relights both slots, writes the new slot on
// the channel, and the recall then names the new slot.
func TestMove(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		svc, sw, lamps := lampService(t, st, recallLot(nil), recallLot(func(l *LotConfig) { l.Name, l.First, l.Last = "vip", 701, 702 }))
		setPhone(sw, "user/1000@example.com", phone{answerAfter: time.Hour})
		parkFor(t, svc, "jane", "1000", 202)
		before, _ := svc.Occupant("jane")
		n := lamps.count()
		occ, err := svc.Move(ctx, "jane", "", 205, "web:desk")
		if err != nil || occ.Slot != 205 || occ.Lot != "main" || !occ.Deadline.Equal(before.Deadline) || occ.ParkedAt != before.ParkedAt {
			t.Fatalf("move: %+v, %v", occ, err)
		}
		if got := lamps.since(n); !slices.Equal(got, []Lamp{slotLit(202, LampIdle), {Lot: "main", Slot: 205, State: LampParked, Caller: jane}}) {
			t.Fatalf("lamps=%+v", got)
		}
		last := st.last()
		if last.Event != EventMoved || last.Slot != 205 || last.Retriever != "web:desk" || last.Reason != "from main/202" {
			t.Fatalf("moved row=%+v", last)
		}
		if o, ok := st.occupant("jane"); !ok || o.Slot != 205 {
			t.Fatalf("stored occupancy %+v", o)
		}
		sw.mu.Lock()
		marks := slices.Clone(sw.marks)
		sw.mu.Unlock()
		if !slices.Equal(marks, []string{"jane main/205"}) {
			t.Fatalf("marks=%v", marks)
		}
		// The old slot is free, the new one taken.
		parkFor(t, svc, "al", "1001", 202)
		for _, bad := range []struct {
			call CallID
			lot  string
			slot int
			want error
		}{
			{"jane", "", 202, ErrSlotTaken}, {"jane", "", 205, ErrSlotTaken}, {"jane", "", 211, ErrBadSlot},
			{"jane", "nope", 201, ErrUnknownLot}, {"nobody", "", 203, ErrNoCall},
		} {
			if _, err := svc.Move(ctx, bad.call, bad.lot, bad.slot, "web:desk"); !errors.Is(err, bad.want) {
				t.Errorf("move %s to %q/%d: %v, want %v", bad.call, bad.lot, bad.slot, err, bad.want)
			}
		}
		// To another lot.
		if occ, err := svc.Move(ctx, "jane", "vip", 702, "web:desk"); err != nil || occ.Lot != "vip" || occ.Slot != 702 {
			t.Fatalf("move to vip: %+v, %v", occ, err)
		}
		if l, _ := svc.Lamp("", "main", 0); l.Parked != 1 {
			t.Fatalf("main's key counts %d calls, want 1", l.Parked)
		}
		// The recall at the kept deadline rings for the new slot; a
		// recalling call does not move.
		sleep(time.Until(before.Deadline))
		placed, _, _, _ := sw.snapshot()
		i := slices.IndexFunc(placed, func(o Origination) bool { return o.Parked == "jane" })
		if i < 0 || placed[i].Slot != 702 || placed[i].Lot != "vip" || placed[i].CallerIDName != "Park 702 - Jane Roe" {
			t.Fatalf("recall after the move: %+v", placed)
		}
		if _, err := svc.Move(ctx, "jane", "vip", 701, "web:desk"); !errors.Is(err, ErrMovedOn) {
			t.Fatalf("move while recalling: %v, want ErrMovedOn", err)
		}
	})
}

// Ensure Extend pushes the deadline from max(deadline, now), re-arms the
// timer, and cancels a ringing recall.
func TestExtend(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, sw, st := parkedJane(t, phone{answerAfter: time.Hour}, nil)
		for _, d := range []time.Duration{0, time.Second - 1, time.Hour + 1, -time.Minute} {
			if _, err := svc.Extend(ctx, "jane", d, "web:desk"); !errors.Is(err, ErrInvalid) {
				t.Errorf("extend by %v: %v, want ErrInvalid", d, err)
			}
		}
		start := time.Now()
		sleep(100 * time.Second)
		occ, err := svc.Extend(ctx, "jane", time.Minute, "web:desk")
		if err != nil || !occ.Deadline.Equal(start.Add(180*time.Second)) {
			t.Fatalf("extend: %+v, %v", occ, err)
		}
		last := st.last()
		if last.Event != EventExtended || last.Retriever != "web:desk" ||
			last.Reason != "recall at "+start.Add(180*time.Second).UTC().Format(time.RFC3339) {
			t.Fatalf("extended row=%+v", last)
		}
		sleep(79 * time.Second)
		if placed, _, _, _ := sw.snapshot(); len(placed) != 0 {
			t.Fatalf("recalled at the old deadline: %+v", placed)
		}
		sleep(time.Second)
		placed, _, _, _ := sw.snapshot()
		if len(placed) != 1 {
			t.Fatalf("no recall at the new deadline: %+v", placed)
		}
		// Extending while the recall rings stops it.
		sleep(5 * time.Second)
		occ, err = svc.Extend(ctx, "jane", 2*time.Minute, "web:desk")
		if err != nil || !occ.Deadline.Equal(time.Now().Add(2*time.Minute)) {
			t.Fatalf("extend while ringing: %+v, %v", occ, err)
		}
		sleep(time.Second)
		_, killed, _, _ := sw.snapshot()
		if !slices.Contains(killed, placed[0].Leg) {
			t.Fatalf("recall leg not hung up: %v", killed)
		}
		rows := st.rows()
		if got := st.events("jane"); !slices.Equal(got, []Event{EventParked, EventExtended, EventRecall, EventRecallFailed, EventExtended}) {
			t.Fatalf("history=%v", got)
		}
		if r := rows[3]; r.Reason != "cancelled: extended by web:desk" {
			t.Fatalf("recall_failed row=%+v", r)
		}
		if l, _ := svc.Lamp("", "main", 202); l.State != LampParked {
			t.Fatalf("lamp %+v, want parked", l)
		}
	})
}

// Ensure HangUpParked kills the call and records hungup once: the hangup
// event that follows adds nothing.
func TestHangUpParked(t *testing.T) {
	for _, tc := range []struct {
		name    string
		live    bool
		killErr error
		recall  bool // the recall rings when it is hung up
		wantErr error
		history []Event
		parked  bool
	}{
		{name: "parked", live: true, history: []Event{EventParked, EventHungup}},
		{name: "recall ringing", live: true, recall: true, history: []Event{EventParked, EventRecall, EventHungup}},
		{name: "caller gone first", wantErr: ErrMovedOn, history: []Event{EventParked, EventAbandoned}},
		{name: "switch down", live: true, killErr: ErrSwitchDown, wantErr: ErrSwitchDown,
			history: []Event{EventParked}, parked: true},
		{name: "switch down while recalling", live: true, recall: true, killErr: ErrSwitchDown, wantErr: ErrSwitchDown,
			history: []Event{EventParked, EventRecall, EventRecallFailed}, parked: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				svc, sw, st := parkedJane(t, phone{answerAfter: time.Hour}, nil)
				sw.mu.Lock()
				sw.live["jane"] = tc.live
				sw.mu.Unlock()
				if tc.recall {
					sleep(121 * time.Second)
				}
				sw.mu.Lock()
				sw.killErr = tc.killErr
				sw.mu.Unlock()
				_, err := svc.HangUpParked(ctx, "jane", "web:boss")
				if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
					t.Fatalf("hang up: %v, want %v", err, tc.wantErr)
				}
				svc.Hangup(ctx, "jane", "NORMAL_CLEARING") // the event that follows a kill
				if tc.parked {
					// A call left parked by a failed hangup is then abandoned.
					tc.history = append(tc.history, EventAbandoned)
				}
				sleep(time.Second)
				if got := st.events("jane"); !slices.Equal(got, tc.history) {
					t.Fatalf("history=%v, want %v", got, tc.history)
				}
				if tc.history[len(tc.history)-1] == EventHungup {
					if last := st.last(); last.Retriever != "web:boss" {
						t.Fatalf("hungup row=%+v", last)
					}
				}
			})
		})
	}
}

// Ensure hanging up races a dialled retrieve with one outcome: the call is
// either retrieved or hung up, never both.
func TestHangUpParked_RaceRetrieve(t *testing.T) {
	for i := 0; i < 50; i++ {
		st := newMemStore()
		svc, sw := mustService(t, st)
		parkFor(t, svc, "jane", "1000", 202)
		sw.mu.Lock()
		sw.live["jane"] = true
		sw.mu.Unlock()
		var wg sync.WaitGroup
		var hErr, rErr error
		wg.Add(2)
		go func() { defer wg.Done(); _, hErr = svc.HangUpParked(ctx, "jane", "web:boss") }()
		go func() {
			defer wg.Done()
			_, rErr = svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("desk"), Retriever: "2003", Slot: 202})
		}()
		wg.Wait()
		svc.Hangup(ctx, "jane", "NORMAL_CLEARING")
		got := st.events("jane")
		switch {
		case hErr == nil && rErr != nil:
			if !slices.Equal(got, []Event{EventParked, EventHungup}) {
				t.Fatalf("hung up: history %v", got)
			}
		case rErr == nil && hErr != nil:
			if !(errors.Is(hErr, ErrMovedOn) || errors.Is(hErr, ErrNoCall)) || !slices.Equal(got, []Event{EventParked, EventRetrieved}) {
				t.Fatalf("retrieved: hang up err %v, history %v", hErr, got)
			}
		default:
			t.Fatalf("hang up %v, retrieve %v: want exactly one to succeed; history %v", hErr, rErr, got)
		}
		svc.Shutdown(ctx)
	}
}

// setPhone scripts the phone of a dial string.
func setPhone(sw *fakeSwitch, dial string, p phone) {
	sw.mu.Lock()
	sw.phones[dial] = p
	sw.mu.Unlock()
}
