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

// talkSwitch is a fakeSwitch that knows the phones' current calls.
type talkSwitch struct {
	*fakeSwitch
	tmu   sync.Mutex
	talks map[string]Talk
	legs  map[CallID]*fakeLeg
	err   error // returned by Talk when set
}

func (s *talkSwitch) Talk(_ context.Context, ext string) (Talk, error) {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if s.err != nil {
		return Talk{}, s.err
	}
	t, ok := s.talks[ext]
	if !ok {
		return Talk{}, ErrNoCall
	}
	return t, nil
}

func (s *talkSwitch) Remote(call CallID) Leg {
	s.tmu.Lock()
	defer s.tmu.Unlock()
	if l, ok := s.legs[call]; ok {
		return l
	}
	l := newLeg(string(call))
	s.legs[call] = l
	return l
}

// talking makes ext talk to the far party far on its channel own.
func (s *talkSwitch) talking(ext, own, far string) *fakeLeg {
	s.tmu.Lock()
	s.talks[ext] = Talk{Own: CallID(own), Far: CallID(far), Caller: Caller{Name: "Jane", Number: "5551234"}, Domain: "pbx.example.com"}
	s.tmu.Unlock()
	s.mu.Lock()
	s.live[CallID(own)], s.live[CallID(far)] = true, true
	s.mu.Unlock()
	return s.Remote(CallID(far)).(*fakeLeg)
}

func talkService(t *testing.T, st Store) (*Service, *talkSwitch) {
	t.Helper()
	lots := []LotConfig{{Name: "main", First: 201, Last: 203, Music: "local_stream://moh", Timeout: 2 * time.Minute}}
	sw := &talkSwitch{fakeSwitch: &fakeSwitch{live: map[CallID]bool{}, phones: map[string]phone{}},
		talks: map[string]Talk{}, legs: map[CallID]*fakeLeg{}}
	svc, err := NewService(lots, sw, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Open(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Shutdown(context.Background()) })
	return svc, sw
}

// Ensure ParkCall parks the far party with the phone as its parker and
// ends the phone's leg only once the park is done, and that every refusal
// leaves both legs as they were.
func TestService_ParkCall(t *testing.T) {
	for _, tc := range []struct {
		name     string
		req      CallPark
		setup    func(svc *Service, sw *talkSwitch, far *fakeLeg)
		wantErr  error
		wantSlot int
		wantLeg  []string
		wantKill bool
		history  []Event
	}{
		{name: "directed", req: CallPark{Extension: "1001", Slot: 202}, wantSlot: 202,
			wantLeg: []string{"answer", "hold main/202 local_stream://moh"}, wantKill: true, history: []Event{EventParked}},
		{name: "next free", req: CallPark{Extension: "1001"}, wantSlot: 201,
			wantLeg: []string{"answer", "hold main/201 local_stream://moh"}, wantKill: true, history: []Event{EventParked}},
		{name: "slot taken", req: CallPark{Extension: "1001", Slot: 202},
			setup:   func(svc *Service, _ *talkSwitch, _ *fakeLeg) { park(t, svc, "other", 202) },
			wantErr: ErrSlotTaken, wantLeg: []string{"refuse 1001"}, history: []Event{EventRejected}},
		{name: "lot full", req: CallPark{Extension: "1001"},
			setup: func(svc *Service, _ *talkSwitch, _ *fakeLeg) {
				for i := range 3 {
					park(t, svc, fmt.Sprint("other-", i), 0)
				}
			},
			wantErr: ErrLotFull, wantLeg: []string{"refuse 1001"}, history: []Event{EventRejected}},
		{name: "bad slot", req: CallPark{Extension: "1001", Slot: 999}, wantErr: ErrBadSlot,
			wantLeg: []string{"refuse 1001"}, history: []Event{EventRejected}},
		{name: "unknown lot", req: CallPark{Extension: "1001", Lot: "nope"}, wantErr: ErrUnknownLot,
			wantLeg: []string{"refuse 1001"}, history: []Event{EventRejected}},
		{name: "no call", req: CallPark{Extension: "1002"}, wantErr: ErrNoCall},
		{name: "no extension", req: CallPark{}, wantErr: ErrNoCall},
		{name: "switch down", req: CallPark{Extension: "1001"},
			setup:   func(_ *Service, sw *talkSwitch, _ *fakeLeg) { sw.err = fmt.Errorf("wrapped: %w", ErrSwitchDown) },
			wantErr: ErrSwitchDown},
		{name: "far party hangs up while moved", req: CallPark{Extension: "1001", Slot: 203},
			setup:   func(_ *Service, _ *talkSwitch, far *fakeLeg) { far.failOn["hold"] = ErrCallGone },
			wantErr: ErrCallGone, wantLeg: []string{"answer", "hold main/203 local_stream://moh"}, history: []Event{EventAbandoned}},
		{name: "already parked", req: CallPark{Extension: "1001"},
			setup: func(svc *Service, _ *talkSwitch, far *fakeLeg) {
				if _, err := svc.Park(ctx, ParkRequest{Leg: far, Slot: 201}); err != nil {
					t.Fatal(err)
				}
				far.log = nil
			},
			wantErr: ErrAlreadyParked, history: []Event{EventParked}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := newMemStore()
			svc, sw := talkService(t, st)
			far := sw.talking("1001", "own-1", "far-1")
			if tc.setup != nil {
				tc.setup(svc, sw, far)
			}
			occ, err := svc.ParkCall(ctx, tc.req)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("err=%v, want %v", err, tc.wantErr)
			}
			if err == nil && (occ.Slot != tc.wantSlot || occ.Parker != "1001" || occ.Call != "far-1" ||
				occ.ParkerDomain != "pbx.example.com" || occ.Caller.Number != "5551234") {
				t.Errorf("occupant %+v", occ)
			}
			if got := far.calls(); !slices.Equal(got, tc.wantLeg) {
				t.Errorf("far leg calls=%q, want %q", got, tc.wantLeg)
			}
			_, killed, _, _ := sw.snapshot()
			if got := slices.Contains(killed, "own-1"); got != tc.wantKill {
				t.Errorf("phone's leg killed=%v, want %v (killed %v)", got, tc.wantKill, killed)
			}
			if slices.Contains(killed, "far-1") {
				t.Errorf("the far party was hung up")
			}
			if got := st.events("far-1"); !slices.Equal(got, tc.history) {
				t.Errorf("history=%v, want %v", got, tc.history)
			}
		})
	}
}

// Ensure two phones parking their calls into one slot at once get one
// park, and the loser keeps talking.
func TestService_ParkCall_RaceForSlot(t *testing.T) {
	svc, sw := talkService(t, newMemStore())
	exts := []string{"1001", "1002", "1003", "1004"}
	for i, ext := range exts {
		sw.talking(ext, fmt.Sprint("own-", i), fmt.Sprint("far-", i))
	}
	errs := make([]error, len(exts))
	var wg sync.WaitGroup
	for i, ext := range exts {
		wg.Go(func() { _, errs[i] = svc.ParkCall(ctx, CallPark{Extension: ext, Slot: 202}) })
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, ErrSlotTaken):
			t.Errorf("err=%v, want ErrSlotTaken", err)
		}
	}
	_, killed, _, _ := sw.snapshot()
	if won != 1 || len(killed) != 1 {
		t.Fatalf("%d parks won, %d phone legs ended; want 1 and 1", won, len(killed))
	}
}

// Ensure a switch that cannot find calls says so.
func TestService_ParkCall_Unsupported(t *testing.T) {
	svc, _ := mustService(t, newMemStore())
	if _, err := svc.ParkCall(ctx, CallPark{Extension: "1001"}); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("err=%v, want ErrUnsupported", err)
	}
}
