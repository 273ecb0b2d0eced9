// Package gcfloor keeps Go's garbage collector from running more often
// than a small heap needs.
//
// With the default GOGC of 100 the next collection comes when the heap has
// doubled. parkd's live heap is a few megabytes until thousands of calls are
// parked, while a park with its retrieve allocates some 200 KB (frames,
// events, the history), so at 200 parks a second the collector ran about 13
// times a second: 5% of the time a collection was under way, one park in
// eleven overlapped one, and a quarter of the slowest 1% did (BENCHMARKS.md,
// issue 16). A floor lets the heap grow by about Floor bytes between
// collections, so a small heap is collected some ten times less often; a
// large one (50,000 parked, about 100 MB live) is not affected, since
// doubling it already adds more than the floor.
package gcfloor

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// DefaultFloor is the least growth of the heap between two collections that
// parkd allows: 32 MiB, a few tenths of a second of allocation at 200 parks
// a second.
const DefaultFloor = 32 << 20

// maxPercent bounds the GOGC the floor sets, for a heap of almost nothing.
const maxPercent = 100_000

// heapMinimum is the runtime's least heap goal at GOGC 100; it scales
// with GOGC (runtime/mgcpacer.go, setGCPercent: 4 MiB × GOGC/100).
const heapMinimum = 4 << 20

// Percent returns the GOGC that lets a heap of live bytes grow by about
// floor before the next collection, and never less than base (the GOGC the
// process would otherwise run with). The heap goal is the larger of
// live × (1 + GOGC/100) and the runtime's minimum, 4 MiB × GOGC/100: for a
// heap under 4 MiB the minimum decides, so GOGC is held where it puts the
// goal at live + floor, not above it (a heap of 1 MB would otherwise get a
// goal of some 128 MB).
func Percent(live, floor uint64, base int) int {
	if live == 0 {
		live = 1
	}
	p := (floor*100 + live - 1) / live // ceil(100 × floor / live)
	if byMinimum := (live + floor) * 100 / heapMinimum; p > byMinimum {
		p = byMinimum
	}
	if p > maxPercent {
		p = maxPercent
	}
	return max(base, int(p))
}

// Tuner sets GOGC after every collection from the live heap that
// collection found (Percent). Use Start.
type Tuner struct {
	floor uint64
	base  int
	// live and set are the runtime's, replaced in tests.
	live func() uint64
	set  func(percent int) int

	mu      sync.Mutex
	stopped bool
	last    int // the GOGC set last; 0: none yet
}

// Start sets a floor of floor bytes under the heap's growth between
// collections, from now until stop is called (stop puts GOGC back to what it
// was). It does nothing, and says so with ok false, when the environment
// sets GOGC or GOMEMLIMIT: the operator has chosen how the collector runs.
func Start(floor uint64) (stop func(), ok bool) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}, false
	}
	t := &Tuner{floor: floor, live: liveHeap, set: debug.SetGCPercent}
	if !t.start() {
		return func() {}, false
	}
	return t.Stop, true
}

// start reads the GOGC in force as the base and arms the first cycle; with
// the collector off (a negative GOGC set in-process) it leaves it so.
func (t *Tuner) start() bool {
	t.base = t.set(100) // the current GOGC; 100 unless changed in-process
	t.set(t.base)
	if t.base < 0 {
		return false
	}
	t.arm()
	return true
}

// Stop ends the tuning and puts GOGC back to what it was before Start.
func (t *Tuner) Stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	t.stopped = true
	if t.last != 0 {
		t.set(t.base)
	}
}

// sentinel is garbage from birth: its finalizer runs once the collection
// after it was made has found it unreachable, so once per cycle, and arms
// the next one. It holds a pointer so as not to come from the tiny
// allocator, whose objects may share a block and never be finalized.
type sentinel struct {
	t   *Tuner
	pad [16]byte
}

// arm makes the next cycle's sentinel.
func (t *Tuner) arm() {
	s := &sentinel{t: t}
	runtime.SetFinalizer(s, func(s *sentinel) { s.t.cycle() })
}

// cycle runs after a collection: it sets GOGC for the live heap that
// collection found, and arms the next cycle unless stopped.
func (t *Tuner) cycle() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.stopped {
		return
	}
	if p := Percent(t.live(), t.floor, t.base); p != t.last {
		t.set(p)
		t.last = p
	}
	t.arm()
}

// liveHeap is the heap the last collection marked live.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
