//go:build !linux

package schedslice

import "time"

func apply(time.Duration) (int, error) { return 0, ErrUnsupported }

// Of is the slice a thread of this process runs with; 0 where it cannot be
// read.
func Of(tid int) (time.Duration, error) { return 0, ErrUnsupported }
