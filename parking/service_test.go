package parking

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
)

var ctx = context.Background()

func park(t *testing.T, svc *Service, id string, slot int) Occupant {
	t.Helper()
	occ, err := svc.Park(ctx, ParkRequest{Leg: newLeg(id), Caller: Caller{Name: "Jane", Number: "5551234"}, Parker: "1000", Slot: slot})
	if err != nil {
		t.Fatalf("park %s: %v", id, err)
	}
	return occ
}

// Ensure a park answers, holds with the lot's music, and records one
// "parked" row whose occupancy carries the deadline.
func TestService_Park(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		svc, _ := mustService(t, st)
		leg := newLeg("call-1")
		occ, err := svc.Park(ctx, ParkRequest{Leg: leg, Caller: Caller{Name: "Jane", Number: "5551234"}, Parker: "1000", Slot: 202})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := leg.calls(), []string{"answer", "hold main/202 local_stream://moh"}; !slices.Equal(got, want) {
			t.Fatalf("leg calls=%q, want %q", got, want)
		}
		if got, want := occ.Deadline, time.Now().Add(2*time.Minute); !got.Equal(want) {
			t.Errorf("deadline=%v, want %v", got, want)
		}
		if got, want := st.events("call-1"), []Event{EventParked}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
		if o := st.occ["call-1"]; o.Slot != 202 || o.Parker != "1000" || o.Caller.Name != "Jane" {
			t.Fatalf("occupancy=%+v", o)
		}
	})
}

// Ensure the announcement is made when the lot asks for it, and when the
// call did not get the slot it asked for.
func TestService_Park_Announce(t *testing.T) {
	for _, tc := range []struct {
		name     string
		announce bool
		next     bool
		taken    bool
		slot     int
		want     []string
	}{
		{name: "LotAnnouncesAutoPark", announce: true, want: []string{"answer", "announce 201", "hold main/201 m"}},
		{name: "DirectedParkNotAnnounced", announce: true, slot: 201, want: []string{"answer", "hold main/201 m"}},
		{name: "Quiet", want: []string{"answer", "hold main/201 m"}},
		{name: "MovedToNext", next: true, taken: true, slot: 201, want: []string{"answer", "announce 202", "hold main/202 m"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, _ := mustService(t, newMemStore(), LotConfig{Name: "main", First: 201, Last: 203, Music: "m", Announce: tc.announce, NextIfTaken: tc.next})
			if tc.taken {
				park(t, svc, "first", 201)
			}
			leg := newLeg("call")
			if _, err := svc.Park(ctx, ParkRequest{Leg: leg, Slot: tc.slot}); err != nil {
				t.Fatal(err)
			}
			if got := leg.calls(); !slices.Equal(got, tc.want) {
				t.Fatalf("leg calls=%q, want %q", got, tc.want)
			}
		})
	}
}

// Ensure refused parks play the error tone, go back to the parker (or hang
// up a call that parked itself, whose parker is its own phone), and are
// recorded as rejected without taking a slot.
func TestService_Park_Refused(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  ParkRequest
		want error
		leg  string // the leg's call after the tone
	}{
		{name: "ErrUnknownLot", req: ParkRequest{Lot: "nope", Parker: "1000"}, want: ErrUnknownLot, leg: "refuse 1000"},
		{name: "ErrBadSlot", req: ParkRequest{Slot: 999, Parker: "1000"}, want: ErrBadSlot, leg: "refuse 1000"},
		{name: "ErrSlotTaken", req: ParkRequest{Slot: 201, Parker: "1000"}, want: ErrSlotTaken, leg: "refuse 1000"},
		{name: "SelfParkHungUp", req: ParkRequest{Slot: 201, Parker: "1000", SelfPark: true}, want: ErrSlotTaken, leg: "refuse "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore()
			svc, _ := mustService(t, st)
			park(t, svc, "first", 201)
			leg := newLeg("call")
			tc.req.Leg = leg
			if _, err := svc.Park(ctx, tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("err=%v, want %v", err, tc.want)
			}
			if got, want := leg.calls(), []string{tc.leg}; !slices.Equal(got, want) {
				t.Fatalf("leg calls=%q, want %q", got, want)
			}
			if got, want := st.events("call"), []Event{EventRejected}; !slices.Equal(got, want) {
				t.Fatalf("history=%v, want %v", got, want)
			}
			if got := len(svc.Occupants()); got != 1 {
				t.Fatalf("%d occupants, want 1", got)
			}
		})
	}
}

// Ensure parks racing for one slot never share it, and auto-parks racing
// into a small lot fill it with distinct slots and refuse the rest.
func TestService_Park_Races(t *testing.T) {
	t.Run("SameSlot", func(t *testing.T) {
		svc, _ := mustService(t, newMemStore())
		var wg sync.WaitGroup
		var mu sync.Mutex
		won := 0
		for i := 0; i < 50; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := svc.Park(ctx, ParkRequest{Leg: newLeg(fmt.Sprint("c", i)), Slot: 203})
				if err == nil {
					mu.Lock()
					won++
					mu.Unlock()
				} else if !errors.Is(err, ErrSlotTaken) {
					t.Errorf("err=%v", err)
				}
			}()
		}
		wg.Wait()
		if won != 1 {
			t.Fatalf("%d parks won slot 203, want 1", won)
		}
	})
	t.Run("AutoFill", func(t *testing.T) {
		svc, _ := mustService(t, newMemStore())
		var wg sync.WaitGroup
		errs := make([]error, 20)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = svc.Park(ctx, ParkRequest{Leg: newLeg(fmt.Sprint("c", i))})
			}()
		}
		wg.Wait()
		full := 0
		for _, err := range errs {
			if errors.Is(err, ErrLotFull) {
				full++
			} else if err != nil {
				t.Fatal(err)
			}
		}
		occ := svc.Occupants()
		if len(occ) != 5 || full != 15 {
			t.Fatalf("%d parked, %d full; want 5 and 15", len(occ), full)
		}
		for i, o := range occ {
			if o.Slot != 201+i {
				t.Fatalf("slots %+v not distinct and dense", occ)
			}
		}
	})
}

// Ensure a retrieve answers the retriever before bridging, frees the slot
// and records who retrieved it and how long the caller waited.
func TestService_Retrieve(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		svc, _ := mustService(t, st)
		park(t, svc, "parked", 202)
		time.Sleep(42 * time.Second)
		r := newLeg("retriever")
		occ, err := svc.Retrieve(ctx, RetrieveRequest{Leg: r, Retriever: "2002", Slot: 202})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := r.calls(), []string{"answer", "bridge parked"}; !slices.Equal(got, want) {
			t.Fatalf("retriever calls=%q, want %q", got, want)
		}
		if occ.Call != "parked" || len(svc.Occupants()) != 0 || len(st.occ) != 0 {
			t.Fatalf("slot not freed: %+v %+v", svc.Occupants(), st.occ)
		}
		last := st.history[len(st.history)-1]
		if last.Event != EventRetrieved || last.Retriever != "2002" || last.Wait != 42*time.Second {
			t.Fatalf("last row=%+v", last)
		}
	})
}

// Ensure retrieving nothing gives the retriever the error tone and a hangup.
func TestService_Retrieve_Empty(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  RetrieveRequest
		want error
	}{
		{name: "ErrSlotEmpty", req: RetrieveRequest{Slot: 203}, want: ErrSlotEmpty},
		{name: "EmptyLotNoSlot", req: RetrieveRequest{}, want: ErrSlotEmpty},
		{name: "ErrUnknownLot", req: RetrieveRequest{Lot: "x"}, want: ErrUnknownLot},
		{name: "ErrBadSlot", req: RetrieveRequest{Slot: 9}, want: ErrBadSlot},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, _ := mustService(t, newMemStore())
			r := newLeg("r")
			tc.req.Leg = r
			if _, err := svc.Retrieve(ctx, tc.req); !errors.Is(err, tc.want) {
				t.Fatalf("err=%v, want %v", err, tc.want)
			}
			if got, want := r.calls(), []string{"refuse "}; !slices.Equal(got, want) {
				t.Fatalf("calls=%q, want %q", got, want)
			}
		})
	}
}

// Ensure retrieving without a slot takes the call that has waited longest.
func TestService_Retrieve_Longest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, _ := mustService(t, newMemStore())
		park(t, svc, "old", 204)
		time.Sleep(time.Minute)
		park(t, svc, "young", 201)
		time.Sleep(time.Minute)
		park(t, svc, "newest", 202)
		occ, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("r")})
		if err != nil || occ.Call != "old" {
			t.Fatalf("retrieved %v, %v; want old", occ.Call, err)
		}
	})
}

// Ensure two retrievers racing for one call: exactly one bridge, the other
// hears the error.
func TestService_Retrieve_Race(t *testing.T) {
	for i := 0; i < 50; i++ {
		svc, _ := mustService(t, newMemStore())
		park(t, svc, "parked", 201)
		legs := []*fakeLeg{newLeg("r1"), newLeg("r2"), newLeg("r3")}
		var wg sync.WaitGroup
		for _, l := range legs {
			wg.Add(1)
			go func() { defer wg.Done(); svc.Retrieve(ctx, RetrieveRequest{Leg: l, Slot: 201}) }()
		}
		wg.Wait()
		bridges, refusals := 0, 0
		for _, l := range legs {
			bridges += len(l.bridged)
			if slices.Contains(l.calls(), "refuse ") {
				refusals++
			}
		}
		if bridges != 1 || refusals != 2 {
			t.Fatalf("run %d: %d bridges, %d refusals; want 1 and 2", i, bridges, refusals)
		}
	}
}

// Ensure a parked caller who hangs up frees the slot and is recorded as
// abandoned; hangups of other channels are ignored.
func TestService_Hangup(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	park(t, svc, "parked", 201)
	svc.Hangup(ctx, "someone-else", "NORMAL_CLEARING")
	svc.Hangup(ctx, "parked", "NORMAL_CLEARING")
	if got, want := st.events("parked"), []Event{EventParked, EventAbandoned}; !slices.Equal(got, want) {
		t.Fatalf("history=%v, want %v", got, want)
	}
	if len(svc.Occupants()) != 0 {
		t.Fatal("slot still held")
	}
	park(t, svc, "next", 201) // the slot is reusable
}

// Ensure a caller who hangs up while being parked never shows as parked:
// the slot is free again and the history has one abandoned row, naming
// the slot and the hangup cause.
func TestService_Hangup_DuringPark(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	leg := newLeg("c")
	release := make(chan struct{})
	leg.blockOn["hold"] = release
	done := make(chan error)
	go func() {
		_, err := svc.Park(ctx, ParkRequest{Leg: leg, Slot: 201})
		done <- err
	}()
	for len(leg.calls()) < 2 {
		time.Sleep(time.Millisecond)
	}
	svc.Hangup(ctx, "c", "NORMAL_CLEARING")
	close(release)
	if err := <-done; !errors.Is(err, ErrCallGone) {
		t.Fatalf("err=%v, want ErrCallGone", err)
	}
	if len(svc.Occupants()) != 0 || len(st.occ) != 0 {
		t.Fatalf("occupants=%v %v, want none", svc.Occupants(), st.occ)
	}
	if len(st.history) != 1 {
		t.Fatalf("history=%v, want one abandoned row", st.history)
	}
	if h := st.history[0]; h.Event != EventAbandoned || h.Slot != 201 || h.Occupancy != nil ||
		h.Reason != "caller left before the park completed: NORMAL_CLEARING" {
		t.Fatalf("row=%+v, want abandoned in 201 with the cause", h)
	}
}

// Ensure a parked caller hanging up while a retriever is being bridged ends
// as abandoned when the bridge fails, and the retriever hears the error.
func TestService_Hangup_DuringRetrieve(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	park(t, svc, "parked", 201)
	r := newLeg("r")
	release := make(chan struct{})
	r.blockOn["bridge"] = release
	r.failOn["bridge"] = ErrCallGone
	done := make(chan error)
	go func() {
		_, err := svc.Retrieve(ctx, RetrieveRequest{Leg: r, Slot: 201})
		done <- err
	}()
	for len(r.calls()) < 2 {
		time.Sleep(time.Millisecond)
	}
	svc.Hangup(ctx, "parked", "NORMAL_CLEARING")
	close(release)
	if err := <-done; !errors.Is(err, ErrCallGone) {
		t.Fatalf("err=%v", err)
	}
	if got, want := st.events("parked"), []Event{EventParked, EventAbandoned}; !slices.Equal(got, want) {
		t.Fatalf("history=%v, want %v", got, want)
	}
}

// Ensure a failed bridge with the caller still there leaves it parked.
func TestService_Retrieve_BridgeFails(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	park(t, svc, "parked", 201)
	r := newLeg("r")
	r.failOn["bridge"] = errors.New("timeout")
	if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: r, Slot: 201}); err == nil {
		t.Fatal("want an error")
	}
	if got := svc.Occupants(); len(got) != 1 || got[0].Call != "parked" {
		t.Fatalf("occupants=%v, want the parked call", got)
	}
	if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("r2"), Slot: 201}); err != nil {
		t.Fatalf("second retrieve: %v", err)
	}
}

// Ensure a failing store never stops a park or retrieve: rows wait in
// order and are written once the store works again.
func TestService_StoreFailure(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	st.fail = errDisk
	park(t, svc, "a", 201)
	if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("r"), Slot: 201}); err != nil {
		t.Fatal(err)
	}
	if got := svc.Pending(); got != 2 {
		t.Fatalf("pending=%d, want 2", got)
	}
	st.fail = nil
	if err := svc.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := st.events("a"), []Event{EventParked, EventRetrieved}; !slices.Equal(got, want) {
		t.Fatalf("history=%v, want %v", got, want)
	}
}

// Ensure a restart re-adopts stored calls and Reconcile closes the vanished
// ones as lost.
func TestService_OpenReconcile(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	park(t, svc, "alive", 201)
	park(t, svc, "gone", 202)

	svc2, sw := mustService(t, st)
	sw.live["alive"] = true
	if got := len(svc2.Occupants()); got != 2 {
		t.Fatalf("%d occupants after Open, want 2", got)
	}
	if err := svc2.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := st.events("gone"), []Event{EventParked, EventLost}; !slices.Equal(got, want) {
		t.Fatalf("history=%v, want %v", got, want)
	}
	if occ := svc2.Occupants(); len(occ) != 1 || occ[0].Call != "alive" {
		t.Fatalf("occupants=%v", occ)
	}
	if _, err := svc2.Retrieve(ctx, RetrieveRequest{Leg: newLeg("r"), Slot: 201}); err != nil {
		t.Fatalf("re-adopted call not retrievable: %v", err)
	}
}

// Ensure Shutdown refuses new requests but leaves parked calls alone.
func TestService_Shutdown(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	park(t, svc, "a", 201)
	if err := svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Park(ctx, ParkRequest{Leg: newLeg("b"), Parker: "1000"}); !errors.Is(err, ErrClosed) {
		t.Fatalf("err=%v, want ErrClosed", err)
	}
	if _, ok := st.occ["a"]; !ok {
		t.Fatal("parked call removed from the store on shutdown")
	}
}

// Ensure a park request for a call that is already parked, arriving while
// the Service shuts down, leaves the call alone: no error tone to the
// parked caller, no "rejected" row clearing its occupancy.
func TestService_Shutdown_ParkOfParkedCall(t *testing.T) {
	st := newMemStore()
	svc, _ := mustService(t, st)
	park(t, svc, "a", 201)
	if err := svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	leg := newLeg("a")
	if _, err := svc.Park(ctx, ParkRequest{Leg: leg, Parker: "1000"}); !errors.Is(err, ErrAlreadyParked) {
		t.Fatalf("err=%v, want ErrAlreadyParked", err)
	}
	if got := leg.calls(); len(got) != 0 {
		t.Fatalf("the parked caller was driven: %q", got)
	}
	if got, want := st.events("a"), []Event{EventParked}; !slices.Equal(got, want) {
		t.Fatalf("history=%v, want %v", got, want)
	}
	if _, ok := st.occupant("a"); !ok {
		t.Fatal("occupancy row cleared")
	}
}

// Ensure every transition is logged once, in the order it happened, with
// what it was about, by the time the request that made it returns.
func TestService_LogsTransitions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var buf bytes.Buffer
		svc, _ := mustService(t, newMemStore())
		svc.Logger = zerolog.New(&buf)
		park(t, svc, "a", 201)
		time.Sleep(42 * time.Second)
		if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("r"), Retriever: "2002", Slot: 201}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Park(ctx, ParkRequest{Leg: newLeg("b"), Slot: 999}); err == nil {
			t.Fatal("want the park refused")
		}
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
			var l struct {
				Level, Event, Lot, Call, Retriever string
				Slot                               int
				WaitMS                             int `json:"wait_ms"`
			}
			if err := json.Unmarshal([]byte(line), &l); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			got = append(got, fmt.Sprintf("%s %s %s/%d %s %s %d", l.Level, l.Event, l.Lot, l.Slot, l.Call, l.Retriever, l.WaitMS))
		}
		want := []string{
			"info parked main/201 a  0",
			"info retrieved main/201 a 2002 42000",
			"warn rejected main/999 b  0",
		}
		if !slices.Equal(got, want) {
			t.Fatalf("log lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// Ensure a parked channel can never be used as a retriever: two parked
// callers are never bridged to each other.
func TestService_Retrieve_ParkedRetriever(t *testing.T) {
	svc, _ := mustService(t, newMemStore())
	park(t, svc, "a", 201)
	park(t, svc, "b", 202)
	legB := newLeg("b")
	if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: legB, Slot: 201}); !errors.Is(err, ErrAlreadyParked) {
		t.Fatalf("err=%v, want ErrAlreadyParked", err)
	}
	if got := legB.calls(); len(got) != 0 {
		t.Fatalf("the parked caller was driven: %q", got)
	}
	if got := len(svc.Occupants()); got != 2 {
		t.Fatalf("%d occupants, want both still parked", got)
	}
}

// Ensure a caller whose socket closes while parkd announces the slot or
// starts the music is recorded as abandoned, and the slot is free at once.
func TestService_Park_CallerGoneMidPark(t *testing.T) {
	for _, step := range []string{"answer", "announce", "hold"} {
		t.Run(step, func(t *testing.T) {
			st := newMemStore()
			svc, _ := mustService(t, st, LotConfig{Name: "main", First: 201, Last: 205, Music: "m", Timeout: time.Minute, Announce: true})
			leg := newLeg("c")
			leg.failOn[step] = fmt.Errorf("connection closed: %w", ErrCallGone)
			if _, err := svc.Park(ctx, ParkRequest{Leg: leg}); !errors.Is(err, ErrCallGone) {
				t.Fatalf("err=%v, want ErrCallGone", err)
			}
			if got := st.events("c"); !slices.Equal(got, []Event{EventAbandoned}) {
				t.Fatalf("history=%v, want [abandoned]", got)
			}
			if slices.Contains(leg.calls(), "refuse ") {
				t.Fatalf("a caller who left was refused: %q", leg.calls())
			}
			if _, err := svc.Park(ctx, ParkRequest{Leg: newLeg("next"), Slot: 201}); err != nil {
				t.Fatalf("slot 201 not free again: %v", err)
			}
		})
	}
}

// Ensure a retrieve for a slot whose park is under way (answered, hearing
// the announcement, music not yet started) waits for the park to end: it
// takes the call once parked, and gets the error tone if the caller left
// during the park. Before, it got the error tone at once, though the slot
// was about to hold the call.
func TestService_Retrieve_DuringPark(t *testing.T) {
	for _, tc := range []struct {
		name   string
		hangUp bool // the caller leaves before the music
		want   error
		calls  []string
	}{
		{name: "Parked", want: nil, calls: []string{"answer", "bridge c"}},
		{name: "CallerLeft", hangUp: true, want: ErrSlotEmpty, calls: []string{"refuse "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newMemStore()
				svc, _ := mustService(t, st)
				leg := newLeg("c")
				music := make(chan struct{})
				leg.blockOn["hold"] = music
				parked := make(chan error, 1)
				go func() {
					_, err := svc.Park(ctx, ParkRequest{Leg: leg, Slot: 201, Parker: "1000"})
					parked <- err
				}()
				synctest.Wait() // the park waits for its music
				r := newLeg("r")
				retrieved := make(chan error, 1)
				go func() {
					_, err := svc.Retrieve(ctx, RetrieveRequest{Leg: r, Retriever: "2002", Slot: 201})
					retrieved <- err
				}()
				synctest.Wait()
				if got := r.calls(); len(got) != 0 {
					t.Fatalf("retriever calls=%q before the park ended, want none", got)
				}
				if tc.hangUp {
					svc.Hangup(ctx, "c", "NORMAL_CLEARING")
				}
				ended := time.Now()
				close(music)
				<-parked
				if err := <-retrieved; !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
					t.Fatalf("retrieve err=%v, want %v", err, tc.want)
				}
				// At once: woken by the park's end, not by MaxParkWait.
				if waited := time.Since(ended); waited != 0 {
					t.Fatalf("the retriever waited %s after the park ended", waited)
				}
				if got := r.calls(); !slices.Equal(got, tc.calls) {
					t.Fatalf("retriever calls=%q, want %q", got, tc.calls)
				}
				if len(svc.Occupants()) != 0 || len(st.occ) != 0 {
					t.Fatalf("occupants=%v %v, want none", svc.Occupants(), st.occ)
				}
			})
		})
	}
}

// Ensure a retriever does not wait forever for a park that never ends: it
// gets the error tone after MaxParkWait, and the park carries on.
func TestService_Retrieve_DuringPark_GivesUp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, _ := mustService(t, newMemStore())
		leg := newLeg("c")
		music := make(chan struct{})
		leg.blockOn["hold"] = music
		parked := make(chan error, 1)
		go func() {
			_, err := svc.Park(ctx, ParkRequest{Leg: leg, Slot: 201})
			parked <- err
		}()
		synctest.Wait()
		start := time.Now()
		r := newLeg("r")
		if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: r, Slot: 201}); !errors.Is(err, ErrSlotEmpty) {
			t.Fatalf("err=%v, want ErrSlotEmpty", err)
		}
		if waited := time.Since(start); waited != MaxParkWait {
			t.Fatalf("waited %s, want %s", waited, MaxParkWait)
		}
		close(music)
		if err := <-parked; err != nil {
			t.Fatalf("park: %v", err)
		}
		if n := len(svc.Occupants()); n != 1 {
			t.Fatalf("%d parked, want the call still parked", n)
		}
	})
}
