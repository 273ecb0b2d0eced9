//go:build !linux

package web

import "github.com/rs/zerolog"

// lowerThreadPriority does nothing where threads have no priority of
// their own to lower.
func lowerThreadPriority(zerolog.Logger) int { return 0 }
