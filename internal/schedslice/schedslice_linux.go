package schedslice

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// maxPasses bounds the walks over /proc/self/task: a thread made during a
// walk was cloned from one that may not have had the slice yet, so walks
// repeat until one finds no thread it has not seen.
const maxPasses = 5

func apply(slice time.Duration) (int, error) { return setAll(slice) }

// Reset gives every thread of this process the kernel's default slice
// back, undoing Apply.
func Reset() error {
	_, err := setAll(0)
	return err
}

// setAll sets slice (0: the kernel's default) on every thread of this
// process and returns how many fair-scheduled threads took it. A thread it
// cannot set does not stop it: the others still get the slice, and the
// errors come back joined.
func setAll(slice time.Duration) (int, error) {
	seen := map[int]bool{}
	took := 0
	var errs []error
	for pass := 0; pass < maxPasses; pass++ {
		tids, err := Threads(0)
		if err != nil {
			return took, err
		}
		fresh := 0
		for _, tid := range tids {
			if seen[tid] {
				continue
			}
			seen[tid] = true
			fresh++
			fair, ok, err := set(tid, slice)
			switch {
			case errors.Is(err, unix.ESRCH):
				// ended meanwhile
			case err != nil:
				errs = append(errs, fmt.Errorf("scheduler slice for thread %d: %w", tid, err))
			case !fair:
				// an operator's choice (chrt): not ours to change
			case !ok:
				return 0, ErrUnsupported
			default:
				took++
			}
		}
		if fresh == 0 {
			break
		}
	}
	return took, errors.Join(errs...)
}

// set asks for slice (0: the kernel's default) on thread tid, keeping its
// policy, nice value and reset-on-fork flag. fair is false for a thread
// under another policy, left as it is; ok reports whether the kernel took
// the slice (before 6.12 it ignores sched_runtime for the fair scheduler
// and reads back 0).
func set(tid int, slice time.Duration) (fair, ok bool, err error) {
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return false, false, err
	}
	if a.Policy != unix.SCHED_NORMAL && a.Policy != unix.SCHED_BATCH {
		return false, false, nil
	}
	a.Runtime = uint64(slice)
	// Clearing reset-on-fork needs CAP_SYS_NICE: keep it as it is.
	a.Flags &= unix.SCHED_FLAG_RESET_ON_FORK
	if err := unix.SchedSetAttr(tid, a, 0); err != nil {
		return true, false, err
	}
	if slice == 0 {
		return true, true, nil // the default reads back as the kernel's own slice
	}
	got, err := Of(tid)
	if err != nil {
		return true, false, err
	}
	return true, got == slice, nil
}

// Of is the slice thread tid runs with, as the kernel reports it (0 before
// Linux 6.12).
func Of(tid int) (time.Duration, error) {
	a, err := unix.SchedGetAttr(tid, 0)
	if err != nil {
		return 0, err
	}
	return time.Duration(a.Runtime), nil
}

// Threads lists the threads of process pid (0: this one).
func Threads(pid int) ([]int, error) {
	dir := "/proc/self/task"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid) + "/task"
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("scheduler slice: list threads: %w", err)
	}
	tids := make([]int, 0, len(ents))
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			tids = append(tids, tid)
		}
	}
	return tids, nil
}
