package parking

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// Ensure Reconfigure applies new lots to new calls at once, keeps the
// calls already parked where they are (retrievable, never parked over), and
// refuses an invalid set of lots without changing anything.
func TestService_Reconfigure(t *testing.T) {
	main := LotConfig{Name: "main", First: 201, Last: 205, Music: "local_stream://moh", Timeout: 2 * time.Minute}
	with := func(edit func(*LotConfig)) LotConfig { c := main; edit(&c); return c }
	vip := LotConfig{Name: "vip", First: 801, Last: 802, Music: "local_stream://vip", Timeout: time.Minute}

	// A step after the reload: park into or retrieve from lot/slot
	// ("" and 0: the default lot, any slot), wanting the slot it lands in
	// (or is taken from) or an error.
	type step struct {
		op       string // "park", "retrieve" or "hangup"
		call     string // the parked call for park and hangup
		lot      string
		slot     int
		wantLot  string
		wantSlot int
		wantErr  error
		music    string // the music a park must hold with
	}
	for _, tc := range []struct {
		name    string
		parked  map[string]int // call -> slot in main, before the reload
		after   []LotConfig
		wantErr bool
		steps   []step
	}{{
		name:  "NewMusicForNewCalls",
		after: []LotConfig{with(func(c *LotConfig) { c.Music = "local_stream://jazz" })},
		steps: []step{{op: "park", call: "b", slot: 203, wantLot: "main", wantSlot: 203, music: "local_stream://jazz"}},
	}, {
		name:   "GrownRange",
		parked: map[string]int{"a": 205},
		after:  []LotConfig{with(func(c *LotConfig) { c.Last = 210 })},
		steps: []step{
			{op: "park", call: "b", slot: 209, wantLot: "main", wantSlot: 209},
			{op: "park", call: "c", slot: 205, wantErr: ErrSlotTaken},
			{op: "retrieve", lot: "main", slot: 205, wantLot: "main", wantSlot: 205},
		},
	}, {
		name:   "ShrunkRangeKeepsItsCall",
		parked: map[string]int{"a": 204, "b": 201},
		after:  []LotConfig{with(func(c *LotConfig) { c.Last = 202 })},
		steps: []step{
			{op: "park", call: "c", slot: 204, wantErr: ErrBadSlot},
			{op: "park", call: "c", wantLot: "main", wantSlot: 202},
			{op: "park", call: "d", wantErr: ErrLotFull},
			{op: "retrieve", lot: "main", slot: 204, wantLot: "main", wantSlot: 204},
			{op: "retrieve", lot: "main", slot: 204, wantErr: ErrBadSlot},
		},
	}, {
		name:   "ShrunkRangeLongestWaitingIsTheHeldCall",
		parked: map[string]int{"a": 204},
		after:  []LotConfig{with(func(c *LotConfig) { c.Last = 202 })},
		steps: []step{
			{op: "park", call: "b", wantLot: "main", wantSlot: 201},
			{op: "retrieve", lot: "main", wantLot: "main", wantSlot: 204},
			{op: "retrieve", lot: "main", wantLot: "main", wantSlot: 201},
		},
	}, {
		name:   "RemovedLotKeepsItsCallsUntilTheyLeave",
		parked: map[string]int{"a": 202, "b": 203},
		after:  []LotConfig{vip},
		steps: []step{
			{op: "park", call: "c", lot: "main", wantErr: ErrUnknownLot},
			{op: "park", call: "c", wantLot: "vip", wantSlot: 801},
			{op: "retrieve", lot: "main", slot: 202, wantLot: "main", wantSlot: 202},
			{op: "hangup", call: "b"},
			{op: "retrieve", lot: "main", slot: 203, wantErr: ErrUnknownLot},
		},
	}, {
		name:   "RemovedLotRetrievesLongestWaiting",
		parked: map[string]int{"a": 202},
		after:  []LotConfig{vip},
		steps: []step{
			{op: "retrieve", lot: "main", wantLot: "main", wantSlot: 202},
			{op: "retrieve", lot: "main", wantErr: ErrUnknownLot},
		},
	}, {
		name:   "NewDefaultLot",
		parked: map[string]int{"a": 201},
		after:  []LotConfig{vip, main},
		steps: []step{
			{op: "park", call: "b", wantLot: "vip", wantSlot: 801, music: "local_stream://vip"},
			{op: "park", call: "c", lot: "main", wantLot: "main", wantSlot: 202},
		},
	}, {
		name:    "NoLotsRefused",
		parked:  map[string]int{"a": 201},
		after:   nil,
		wantErr: true,
		steps:   []step{{op: "park", call: "b", wantLot: "main", wantSlot: 202, music: "local_stream://moh"}},
	}, {
		name:    "BadRangeRefused",
		after:   []LotConfig{with(func(c *LotConfig) { c.First, c.Last = 300, 299; c.Music = "x" })},
		wantErr: true,
		steps:   []step{{op: "park", call: "b", slot: 205, wantLot: "main", wantSlot: 205, music: "local_stream://moh"}},
	}, {
		name:    "DuplicateLotRefused",
		after:   []LotConfig{vip, vip},
		wantErr: true,
		steps: []step{
			{op: "park", call: "b", wantLot: "main", wantSlot: 201},
			{op: "park", call: "c", lot: "vip", wantErr: ErrUnknownLot},
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newMemStore()
				svc, _ := mustService(t, st, main)
				for call, slot := range tc.parked {
					park(t, svc, call, slot)
				}
				err := svc.Reconfigure(tc.after)
				time.Sleep(time.Second) // calls parked from now on waited less
				if (err != nil) != tc.wantErr {
					t.Fatalf("Reconfigure: err=%v, want error %v", err, tc.wantErr)
				}
				for i, s := range tc.steps {
					what := fmt.Sprintf("step %d (%s %s %s/%d)", i, s.op, s.call, s.lot, s.slot)
					var occ Occupant
					var err error
					switch s.op {
					case "park":
						leg := newLeg(s.call)
						occ, err = svc.Park(ctx, ParkRequest{Leg: leg, Parker: "1000", Lot: s.lot, Slot: s.slot})
						if err == nil && s.music != "" && !slices.Contains(leg.calls(), fmt.Sprintf("hold %s/%d %s", occ.Lot, occ.Slot, s.music)) {
							t.Errorf("%s: leg calls %q, want the music %s", what, leg.calls(), s.music)
						}
					case "retrieve":
						occ, err = svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg(fmt.Sprint("r", i)), Retriever: "1001", Lot: s.lot, Slot: s.slot})
					case "hangup":
						svc.Hangup(ctx, CallID(s.call), "NORMAL_CLEARING")
						continue
					}
					if s.wantErr != nil {
						if !errors.Is(err, s.wantErr) {
							t.Fatalf("%s: err=%v, want %v", what, err, s.wantErr)
						}
						continue
					}
					if err != nil {
						t.Fatalf("%s: %v", what, err)
					}
					if occ.Lot != s.wantLot || occ.Slot != s.wantSlot {
						t.Fatalf("%s: got %s/%d, want %s/%d", what, occ.Lot, occ.Slot, s.wantLot, s.wantSlot)
					}
				}
			})
		})
	}
}

// Ensure a new timeout applies to calls parked after the reload, and a
// call parked before keeps the deadline it was given.
func TestService_Reconfigure_TimeoutForNewCalls(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		main := LotConfig{Name: "main", First: 201, Last: 205, Timeout: 2 * time.Minute}
		svc, _ := mustService(t, newMemStore(), main)
		start := time.Now()
		before := park(t, svc, "a", 201)
		main.Timeout = 10 * time.Minute
		if err := svc.Reconfigure([]LotConfig{main}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		after := park(t, svc, "b", 202)
		if want := start.Add(2 * time.Minute); !before.Deadline.Equal(want) {
			t.Errorf("call parked before the reload: deadline %v, want %v", before.Deadline, want)
		}
		occ := svc.Occupants()
		if len(occ) != 2 || !occ[0].Deadline.Equal(before.Deadline) {
			t.Errorf("call parked before the reload now %+v, want its deadline %v kept", occ, before.Deadline)
		}
		if want := start.Add(time.Second + 10*time.Minute); !after.Deadline.Equal(want) {
			t.Errorf("call parked after the reload: deadline %v, want %v", after.Deadline, want)
		}
	})
}

// Ensure a parked call's recall follows its lot's configuration at its
// deadline: a new dial string and ring are used, recall switched off means
// the fallback, and a removed lot recalls with its last configuration.
func TestService_Reconfigure_Recall(t *testing.T) {
	for _, tc := range []struct {
		name      string
		after     func(LotConfig) []LotConfig
		wantDial  string // "" means no recall is placed
		wantRing  time.Duration
		wantXfers int
	}{
		{
			name: "NewDial",
			after: func(l LotConfig) []LotConfig {
				l.Recall.Dial = "user/{parker}-desk"
				l.Recall.RingFor = 20 * time.Second
				return []LotConfig{l}
			},
			wantDial: "user/1000-desk", wantRing: 20 * time.Second,
		},
		{
			name:      "RecallSwitchedOff",
			after:     func(l LotConfig) []LotConfig { l.Recall.Enabled = false; return []LotConfig{l} },
			wantXfers: 1,
		},
		{
			name: "LotRemoved",
			after: func(l LotConfig) []LotConfig {
				l.Name, l.First, l.Last, l.Recall.Dial = "other", 1, 5, "user/nobody"
				return []LotConfig{l}
			},
			wantDial: "user/1000@example.com", wantRing: 30 * time.Second,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				svc, sw, _ := parkedJane(t, phone{answerAfter: time.Second}, nil)
				sw.phones["user/1000-desk"] = phone{answerAfter: time.Second}
				sleep(60 * time.Second)
				if err := svc.Reconfigure(tc.after(recallLot(nil))); err != nil {
					t.Fatal(err)
				}
				sleep(59 * time.Second)
				if placed, _, _, xfers := sw.snapshot(); len(placed) != 0 || len(xfers) != 0 {
					t.Fatalf("something happened before the deadline set at the park: %+v %v", placed, xfers)
				}
				sleep(time.Second)
				placed, _, _, xfers := sw.snapshot()
				if tc.wantDial == "" && len(placed) != 0 {
					t.Fatalf("recalled: %+v", placed)
				}
				if tc.wantDial != "" && (len(placed) != 1 || placed[0].Dial != tc.wantDial || placed[0].RingFor != tc.wantRing) {
					t.Fatalf("recalls %+v, want one to %s ringing %v", placed, tc.wantDial, tc.wantRing)
				}
				if len(xfers) != tc.wantXfers {
					t.Fatalf("transfers %v, want %d", xfers, tc.wantXfers)
				}
			})
		})
	}
}

// Ensure a call in flight is untouched by a reload that removes its lot:
// a park under way completes into the slot it claimed.
func TestService_Reconfigure_ParkInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		main := LotConfig{Name: "main", First: 201, Last: 205, Timeout: 2 * time.Minute}
		svc, _ := mustService(t, newMemStore(), main)
		leg := newLeg("a")
		hold := make(chan struct{})
		leg.blockOn["hold"] = hold
		done := make(chan error)
		go func() {
			_, err := svc.Park(ctx, ParkRequest{Leg: leg, Parker: "1000", Slot: 203})
			done <- err
		}()
		synctest.Wait() // the park waits in Hold
		if err := svc.Reconfigure([]LotConfig{{Name: "vip", First: 801, Last: 802}}); err != nil {
			t.Fatal(err)
		}
		close(hold)
		if err := <-done; err != nil {
			t.Fatalf("park in flight: %v", err)
		}
		if occ := svc.Occupants(); len(occ) != 1 || occ[0].Lot != "main" || occ[0].Slot != 203 {
			t.Fatalf("occupants %+v, want the call in main/203", occ)
		}
		if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("r"), Lot: "main", Slot: 203}); err != nil {
			t.Fatalf("retrieve from the removed lot: %v", err)
		}
	})
}
