//go:build unix && !(linux && cgo)

package web

import "testing"

// burstWriters is every burst writer this system has.
func burstWriters() map[string]func(*testing.T) burstWriter {
	return map[string]func(*testing.T) burstWriter{
		"poller": func(*testing.T) burstWriter { return pollerWriter{} },
	}
}
