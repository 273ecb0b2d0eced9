package daemon

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

func musicParked(s fstest.ChannelState) bool {
	return s.Alive && strings.HasPrefix(s.Hearing, "music:")
}

func endsLife(e parking.Event) bool {
	switch e {
	case parking.EventRetrieved, parking.EventRecalled, parking.EventAbandoned, parking.EventFallback, parking.EventLost:
		return true
	}
	return false
}

func snapshot(mu *sync.Mutex, calls []*fstest.Channel) []*fstest.Channel {
	mu.Lock()
	defer mu.Unlock()
	return append([]*fstest.Channel(nil), calls...)
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool, explain ...func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			why := ""
			for _, e := range explain {
				why += e()
			}
			t.Fatalf("timed out waiting for %s %s", what, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
