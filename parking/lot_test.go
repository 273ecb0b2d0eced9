package parking

import (
	"errors"
	"testing"
)

// Ensure choose follows the slot, on_occupied and on_full rules.
func TestChoose(t *testing.T) {
	type lotSpec struct {
		cfg   LotConfig
		taken []int
	}
	main := LotConfig{Name: "main", First: 201, Last: 204}
	next := main
	next.NextIfTaken = true
	over := main
	over.OverflowTo = "spill"
	spill := LotConfig{Name: "spill", First: 901, Last: 902}
	loopA := LotConfig{Name: "a", First: 1, Last: 1, OverflowTo: "b"}
	loopB := LotConfig{Name: "b", First: 2, Last: 2, OverflowTo: "a"}
	// Tenants: lot main of domain a overflows to spill, which only domain
	// b has; domain a's own spill takes it.
	overA := over
	overA.Domain = "a.example"
	spillB := spill
	spillB.Domain = "b.example"
	spillA := spill
	spillA.Domain = "a.example"

	for _, tc := range []struct {
		name      string
		lots      []lotSpec // first is the target
		want      int       // requested slot, 0 = auto
		gotLot    string
		gotSlot   int
		moved     bool
		wantError error
	}{
		{name: "DirectedFree", lots: []lotSpec{{cfg: main}}, want: 203, gotLot: "main", gotSlot: 203},
		{name: "DirectedTakenRejects", lots: []lotSpec{{cfg: main, taken: []int{203}}}, want: 203, wantError: ErrSlotTaken},
		{name: "DirectedTakenNext", lots: []lotSpec{{cfg: next, taken: []int{203}}}, want: 203, gotLot: "main", gotSlot: 204, moved: true},
		{name: "DirectedTakenNextWraps", lots: []lotSpec{{cfg: next, taken: []int{204}}}, want: 204, gotLot: "main", gotSlot: 201, moved: true},
		{name: "DirectedNextFullRejects", lots: []lotSpec{{cfg: next, taken: []int{201, 202, 203, 204}}}, want: 202, wantError: ErrLotFull},
		{name: "DirectedNextFullOverflows", lots: []lotSpec{{cfg: func() LotConfig { c := next; c.OverflowTo = "spill"; return c }(), taken: []int{201, 202, 203, 204}}, {cfg: spill}}, want: 202, gotLot: "spill", gotSlot: 901, moved: true},
		{name: "DirectedBelowRange", lots: []lotSpec{{cfg: main}}, want: 200, wantError: ErrBadSlot},
		{name: "DirectedAboveRange", lots: []lotSpec{{cfg: main}}, want: 205, wantError: ErrBadSlot},
		{name: "AutoLowestFree", lots: []lotSpec{{cfg: main, taken: []int{201, 203}}}, gotLot: "main", gotSlot: 202},
		{name: "AutoFullRejects", lots: []lotSpec{{cfg: main, taken: []int{201, 202, 203, 204}}}, wantError: ErrLotFull},
		{name: "AutoFullOverflows", lots: []lotSpec{{cfg: over, taken: []int{201, 202, 203, 204}}, {cfg: spill, taken: []int{901}}}, gotLot: "spill", gotSlot: 902, moved: true},
		{name: "OverflowAlsoFull", lots: []lotSpec{{cfg: over, taken: []int{201, 202, 203, 204}}, {cfg: spill, taken: []int{901, 902}}}, wantError: ErrLotFull},
		{name: "OverflowUnknownLot", lots: []lotSpec{{cfg: over, taken: []int{201, 202, 203, 204}}}, wantError: ErrLotFull},
		{name: "OverflowNeverLeavesDomain", lots: []lotSpec{{cfg: overA, taken: []int{201, 202, 203, 204}}, {cfg: spillB}, {cfg: spill}}, wantError: ErrLotFull},
		{name: "OverflowWithinDomain", lots: []lotSpec{{cfg: overA, taken: []int{201, 202, 203, 204}}, {cfg: spillB}, {cfg: spillA, taken: []int{901}}}, gotLot: "spill", gotSlot: 902, moved: true},
		{name: "OverflowLoopTerminates", lots: []lotSpec{{cfg: loopA, taken: []int{1}}, {cfg: loopB, taken: []int{2}}}, wantError: ErrLotFull},
	} {
		t.Run(tc.name, func(t *testing.T) {
			byName := map[lotKey]*lot{}
			for _, ls := range tc.lots {
				l := newLot(ls.cfg)
				for _, n := range ls.taken {
					l.set(n, &entry{state: stateParked})
				}
				byName[ls.cfg.key()] = l
			}
			got, err := choose(byName[tc.lots[0].cfg.key()], tc.want, byName, nil)
			if tc.wantError != nil {
				if !errors.Is(err, tc.wantError) {
					t.Fatalf("err=%v, want %v", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.lot.cfg.Name != tc.gotLot || got.slot != tc.gotSlot || got.moved != tc.moved {
				t.Fatalf("got %s/%d moved=%v, want %s/%d moved=%v", got.lot.cfg.Name, got.slot, got.moved, tc.gotLot, tc.gotSlot, tc.moved)
			}
		})
	}
}

// Ensure the lowest-free search stays right as slots fill and free in any
// order: it always finds the lowest free slot, and reports a full lot.
func TestLot_FreeTracksLowest(t *testing.T) {
	l := newLot(LotConfig{Name: "main", First: 1, Last: 50})
	taken := map[int]bool{}
	lowest := func() (int, bool) {
		for s := 1; s <= 50; s++ {
			if !taken[s] {
				return s, true
			}
		}
		return 0, false
	}
	for i := 0; i < 2000; i++ {
		s := 1 + (i*37)%50
		if taken[s] && i%3 == 0 {
			l.set(s, nil)
			delete(taken, s)
		} else if got, ok := l.free(1); ok {
			l.set(got, &entry{})
			taken[got] = true
		}
		got, ok := l.free(1)
		want, wantOK := lowest()
		if got != want || ok != wantOK {
			t.Fatalf("step %d: free()=%d,%v want %d,%v", i, got, ok, want, wantOK)
		}
	}
}
