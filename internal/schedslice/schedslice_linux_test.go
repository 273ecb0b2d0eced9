package schedslice

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// applyOrSkip applies slice, skipping the test on a kernel without
// per-task slices, and gives every thread the kernel's default back at the
// end.
func applyOrSkip(t *testing.T, slice time.Duration) int {
	t.Helper()
	n, err := Apply(slice)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("skipped: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Reset(); err != nil {
			t.Error(err)
		}
	})
	return n
}

// threadSlices is every thread's slice.
func threadSlices(t *testing.T) map[int]time.Duration {
	t.Helper()
	tids, err := Threads(0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]time.Duration{}
	for _, tid := range tids {
		if d, err := Of(tid); err == nil {
			got[tid] = d
		}
	}
	return got
}

// Ensure every thread the process has gets the slice, and so does every
// thread the runtime makes afterwards (inherited, not set again).
func TestApply_EveryThreadAndLaterOnes(t *testing.T) {
	const slice = 300 * time.Microsecond
	n := applyOrSkip(t, slice)
	if n == 0 {
		t.Fatal("no thread set")
	}
	for tid, d := range threadSlices(t) {
		if d != slice {
			t.Errorf("thread %d: slice %v, want %v", tid, d, slice)
		}
	}
	before := len(threadSlices(t))

	// Goroutines locked to their threads and blocked in a read make the
	// runtime start new threads for everything else.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	const extra = 4
	var started, ended sync.WaitGroup
	tids := make(chan int, extra)
	for range extra {
		started.Add(1)
		ended.Add(1)
		go func() {
			defer ended.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			tids <- unix.Gettid()
			started.Done()
			var b [1]byte
			_, _ = unix.Read(int(r.Fd()), b[:]) // blocks this thread until w closes
		}()
	}
	started.Wait()
	close(tids)
	all := threadSlices(t)
	if len(all) <= before {
		t.Logf("threads: %d before, %d after (the runtime reused idle ones)", before, len(all))
	}
	for tid := range tids {
		if all[tid] != slice {
			t.Errorf("thread %d (locked goroutine): slice %v, want %v", tid, all[tid], slice)
		}
	}
	for tid, d := range all {
		if d != slice {
			t.Errorf("thread %d made after Apply: slice %v, want %v", tid, d, slice)
		}
	}
	w.Close()
	ended.Wait()
}

// Ensure a thread an operator moved to another policy keeps it, and
// Apply still succeeds for the others.
func TestApply_LeavesOtherPoliciesAlone(t *testing.T) {
	applyOrSkip(t, 300*time.Microsecond) // the kernel has slices
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	tid := unix.Gettid()
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		t.Fatal(err)
	}
	idle := *a
	idle.Policy, idle.Flags = unix.SCHED_IDLE, 0
	if err := unix.SchedSetAttr(tid, &idle, 0); err != nil {
		t.Skipf("skipped: cannot move a thread to SCHED_IDLE here: %v", err)
	}
	defer func() { _ = unix.SchedSetAttr(tid, a, 0) }()
	was, err := Of(tid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Apply(500 * time.Microsecond); err != nil {
		t.Fatalf("Apply with a SCHED_IDLE thread: %v", err)
	}
	got, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got.Policy != unix.SCHED_IDLE || time.Duration(got.Runtime) != was {
		t.Fatalf("after Apply: policy %d, slice %v; want SCHED_IDLE (%d) and %v as before",
			got.Policy, time.Duration(got.Runtime), unix.SCHED_IDLE, was)
	}
}
