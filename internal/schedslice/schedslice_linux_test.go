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
	if n := applyOrSkip(t, slice); n == 0 {
		t.Fatal("no thread set")
	}
	before := threadSlices(t)
	for tid, d := range before {
		if d != slice {
			t.Errorf("thread %d: slice %v, want %v", tid, d, slice)
		}
	}

	// More goroutines locked to their threads and blocked in a read than
	// there were threads: the runtime must make new ones.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	extra := len(before) + 2
	var started, ended sync.WaitGroup
	for range extra {
		started.Add(1)
		ended.Add(1)
		go func() {
			defer ended.Done()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			started.Done()
			var b [1]byte
			_, _ = unix.Read(int(r.Fd()), b[:]) // blocks this thread until w closes
		}()
	}
	started.Wait()
	after := threadSlices(t)
	made := 0
	for tid, d := range after {
		if _, old := before[tid]; !old {
			made++
		}
		if d != slice {
			t.Errorf("thread %d: slice %v, want %v", tid, d, slice)
		}
	}
	if made == 0 {
		t.Fatalf("no thread made after Apply among %d (%d before)", len(after), len(before))
	}
	w.Close()
	ended.Wait()
}

// Ensure a thread an operator moved to another policy keeps it, and
// Apply still succeeds for the others.
func TestApply_LeavesOtherPoliciesAlone(t *testing.T) {
	applyOrSkip(t, 300*time.Microsecond) // the kernel has slices
	type result struct {
		skip      error
		err       error
		policy    uint32
		was, got  time.Duration
		applyErrs error
	}
	res := make(chan result, 1)
	go func() {
		// SCHED_IDLE is a policy an unprivileged thread may not leave:
		// this goroutine exits still locked to its thread, so the runtime
		// ends that thread instead of running other goroutines on it.
		runtime.LockOSThread()
		tid := unix.Gettid()
		a, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			res <- result{err: err}
			return
		}
		idle := *a
		idle.Policy, idle.Flags = unix.SCHED_IDLE, 0
		if err := unix.SchedSetAttr(tid, &idle, 0); err != nil {
			res <- result{skip: err}
			return
		}
		was, err := Of(tid)
		if err != nil {
			res <- result{err: err}
			return
		}
		_, applyErr := Apply(500 * time.Microsecond)
		after, err := unix.SchedGetAttr(tid, 0)
		if err != nil {
			res <- result{err: err}
			return
		}
		res <- result{policy: after.Policy, was: was, got: time.Duration(after.Runtime), applyErrs: applyErr}
	}()
	r := <-res
	switch {
	case r.skip != nil:
		t.Skipf("skipped: cannot move a thread to SCHED_IDLE here: %v", r.skip)
	case r.err != nil:
		t.Fatal(r.err)
	case r.applyErrs != nil:
		t.Fatalf("Apply with a SCHED_IDLE thread: %v", r.applyErrs)
	case r.policy != unix.SCHED_IDLE || r.got != r.was:
		t.Fatalf("after Apply: policy %d, slice %v; want SCHED_IDLE (%d) and %v as before",
			r.policy, r.got, unix.SCHED_IDLE, r.was)
	}
}
