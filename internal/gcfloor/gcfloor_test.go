package gcfloor

import (
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
	"time"
)

const mb = 1 << 20

func TestPercent(t *testing.T) {
	for _, tc := range []struct {
		name        string
		live, floor uint64
		base, want  int
	}{
		// 3 MB live: 1067 would put the runtime's minimum goal
		// (4 MiB × GOGC/100) at 42.7 MB; 875 puts it at 35 MB.
		{"small heap: the runtime's minimum decides", 3 * mb, 32 * mb, 100, 875},
		{"1 MB heap: not 128 MB", 1 * mb, 32 * mb, 100, 825},
		{"heap of 8 MB: grows by the floor", 8 * mb, 32 * mb, 100, 400},
		{"heap of half the floor", 16 * mb, 32 * mb, 100, 200},
		{"heap of the floor: doubling is enough", 32 * mb, 32 * mb, 100, 100},
		{"50,000 parked: untouched", 100 * mb, 32 * mb, 100, 100},
		{"a higher base is kept", 100 * mb, 32 * mb, 300, 300},
		{"an empty heap: the goal is the floor", 0, 32 * mb, 100, 800},
		{"no floor", 3 * mb, 0, 100, 100},
	} {
		if got := Percent(tc.live, tc.floor, tc.base); got != tc.want {
			t.Errorf("%s: Percent(%d, %d, %d) = %d, want %d", tc.name, tc.live, tc.floor, tc.base, got, tc.want)
		}
	}
}

// fakeGC is a Tuner's runtime: the live heap it reports, and the GOGC
// settings it receives.
type fakeGC struct {
	live uint64
	gogc int
	sets []int
}

func (f *fakeGC) tuner(floor uint64) *Tuner {
	return &Tuner{floor: floor, live: func() uint64 { return f.live }, set: func(p int) int {
		old := f.gogc
		f.gogc = p
		f.sets = append(f.sets, p)
		return old
	}}
}

// Ensure each cycle sets GOGC from the live heap, only when it changes, and
// Stop puts back the GOGC in force before, after which cycles do nothing.
func TestTuner_Cycles(t *testing.T) {
	f := &fakeGC{gogc: 100}
	tu := f.tuner(32 * mb)
	if !tu.start() {
		t.Fatal("start refused with GOGC 100")
	}
	f.sets = nil
	for _, step := range []struct {
		live     uint64
		wantGOGC int
		wantSets int
	}{
		{3 * mb, 875, 1},
		{3 * mb, 875, 1},  // unchanged: not set again
		{64 * mb, 100, 2}, // a big heap: back to the base
		{16 * mb, 200, 3},
	} {
		f.live = step.live
		tu.cycle()
		if f.gogc != step.wantGOGC || len(f.sets) != step.wantSets {
			t.Fatalf("live %d MB: GOGC %d after %d settings, want %d after %d", step.live/mb, f.gogc, len(f.sets), step.wantGOGC, step.wantSets)
		}
	}
	tu.Stop()
	if f.gogc != 100 {
		t.Fatalf("GOGC %d after Stop, want 100 back", f.gogc)
	}
	f.live = 3 * mb
	tu.cycle()
	if f.gogc != 100 {
		t.Fatalf("GOGC %d after a cycle past Stop, want 100", f.gogc)
	}
}

// Ensure a collector turned off in-process stays off.
func TestTuner_CollectorOff(t *testing.T) {
	f := &fakeGC{gogc: -1}
	if f.tuner(32 * mb).start() {
		t.Fatal("start tuned a collector that was off")
	}
	if f.gogc != -1 {
		t.Fatalf("GOGC %d, want -1", f.gogc)
	}
}

// Ensure the environment's GOGC or GOMEMLIMIT wins.
func TestStart_Environment(t *testing.T) {
	for _, name := range []string{"GOGC", "GOMEMLIMIT"} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(name, "200")
			if _, ok := Start(DefaultFloor); ok {
				t.Fatalf("Start tuned with %s set", name)
			}
		})
	}
}

// Ensure the tuner runs after real collections, cycle after cycle: the
// sentinel's finalizer arms the next one.
func TestTuner_FollowsCollections(t *testing.T) {
	var cycles atomic.Int32
	tu := &Tuner{floor: 32 * mb, set: debug.SetGCPercent, live: func() uint64 {
		cycles.Add(1)
		return liveHeap()
	}}
	if !tu.start() {
		t.Skip("the collector is off in this process")
	}
	defer tu.Stop()
	for deadline := time.Now().Add(10 * time.Second); cycles.Load() < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("%d tuner cycles after 10s of collections, want 3", cycles.Load())
		}
		runtime.GC()
		time.Sleep(time.Millisecond) // the finalizer runs on its own goroutine
	}
	// A test's heap is far below the floor, so GOGC is above 100 now.
	if got := debug.SetGCPercent(100); got <= 100 {
		t.Errorf("GOGC %d with a live heap of %d bytes, want above 100", got, liveHeap())
	}
}
