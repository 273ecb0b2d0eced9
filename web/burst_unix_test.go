//go:build unix && !(linux && cgo)

package web

import "testing"

// burstWriters is every burst writer this system has, pacing by pace.
func burstWriters(pace pacing) map[string]func(*testing.T) burstWriter {
	return map[string]func(*testing.T) burstWriter{
		"poller": func(*testing.T) burstWriter { return pollerWriter{pace: pace} },
	}
}
