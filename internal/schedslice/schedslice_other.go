//go:build !linux

package schedslice

import "time"

func apply(time.Duration) (int, error) { return 0, ErrUnsupported }

// Reset gives every thread of this process the kernel's default slice
// back, undoing Apply.
func Reset() error { return ErrUnsupported }

// Of is the slice thread tid runs with; 0 where it cannot be read.
func Of(tid int) (time.Duration, error) { return 0, ErrUnsupported }

// Threads lists the threads of process pid (0: this one).
func Threads(pid int) ([]int, error) { return nil, ErrUnsupported }
