// Package schedslice asks Linux for short scheduler slices for parkd's
// threads, so that a park or a retrieve that wakes while the cores are busy
// gets one at once instead of after another task's slice.
//
// Since Linux 6.6 the fair scheduler (EEVDF) lets a running task keep its
// core until it has used its slice (about 1.4 ms on a 2-core machine,
// sched_base_slice scaled by the CPUs) before a task that woke may take it.
// parkd's work is a string of wake-ups, each a few tens of microseconds:
// the switch's reply arrives, parkd sends the next command. On a switch's
// host the other tasks (FreeSWITCH's threads, the board's browsers on a
// test host, a backup) run for whole slices, and each of parkd's wake-ups
// could wait one out. Since Linux 6.12 a task may ask for a shorter slice
// (sched_setattr's sched_runtime, 0.1 to 100 ms, no privilege needed): its
// virtual deadline comes sooner, so when it wakes it preempts a task that
// has run longer, and it gives the core back sooner itself. Measured on 2
// cores (BENCHMARKS.md, "Short scheduler slices"): parkd's own park p99
// about a fifth lower at 200 parks a second and a quarter lower with 1,000
// board clients, for about 10% more CPU per call.
//
// The slice is per thread. Apply sets it on every thread the process has,
// and a thread made later inherits it from the thread that makes it (clone
// copies it), so the Go runtime's later threads and cgo's get it too.
// Threads that should not have it (the board's low-priority writer) reset
// their own.
package schedslice

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// Env is the environment variable that sets the slice: a duration from Min
// to Max ("100us", "1ms"), or "off" (also "0") for the kernel's default.
const Env = "PARKD_SCHED_SLICE"

// Default is the slice parkd asks for: the least the kernel grants, a few
// of parkd's wake-ups.
const Default = 100 * time.Microsecond

// Min and Max bound a slice; the kernel clamps to the same range.
const (
	Min = 100 * time.Microsecond
	Max = 100 * time.Millisecond
)

// ErrUnsupported: the kernel (or the platform) has no per-task slices; the
// threads run with the kernel's default.
var ErrUnsupported = errors.New("scheduler slices not supported (Linux 6.12 or later)")

// Parse reads a slice as Env gives it: "" is Default, "off" or "0" is 0
// (leave the kernel's default), a duration must lie within [Min, Max].
func Parse(v string) (time.Duration, error) {
	switch strings.TrimSpace(v) {
	case "":
		return Default, nil
	case "off", "0":
		return 0, nil
	}
	d, err := time.ParseDuration(strings.TrimSpace(v))
	if err != nil {
		return 0, fmt.Errorf("%s=%q: want a duration such as 100us, or off: %w", Env, v, err)
	}
	if d < Min || d > Max {
		return 0, fmt.Errorf("%s=%q: want %v to %v, or off", Env, v, Min, Max)
	}
	return d, nil
}

// FromEnv is Parse of the environment's Env.
func FromEnv() (time.Duration, error) { return Parse(os.Getenv(Env)) }

// Apply asks for slice on every thread of this process and returns how
// many took it. slice 0 does nothing. It returns ErrUnsupported where the
// kernel ignores the request; threads whose policy is not the fair
// scheduler's (an operator's chrt) are left alone and not counted. A
// thread that refuses (a seccomp filter, say) does not keep the others
// from the slice: its error comes back, joined with any others.
func Apply(slice time.Duration) (threads int, err error) {
	if slice == 0 {
		return 0, nil
	}
	if slice < Min || slice > Max {
		return 0, fmt.Errorf("scheduler slice %v: want %v to %v", slice, Min, Max)
	}
	return apply(slice)
}
