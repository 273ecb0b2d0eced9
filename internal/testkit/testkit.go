// Package testkit holds the small helpers that the tests of several
// packages share (the daemon's, the CLI's, the commands'). Only tests
// import it, so no production binary links it.
package testkit

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Buffer is a strings.Builder that many goroutines (a logger, a child
// process's output copier) may write while a test reads it.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

// Write appends p.
func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// FreeAddr returns a loopback address that nothing listens on now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	return FreeAddrs(t, 1)[0]
}

// FreeAddrs returns n distinct loopback addresses that nothing listens on
// now. The listeners stay open until all n are chosen: closed one by one,
// the kernel may hand the same port out twice.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	for i := range addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		addrs[i] = ln.Addr().String()
	}
	return addrs
}

// MusicParked reports whether a simulated call is up and hears music.
func MusicParked(s fstest.ChannelState) bool {
	return s.Alive && strings.HasPrefix(s.Hearing, "music:")
}

// EndsLife reports whether e closes a parked call's life.
func EndsLife(e parking.Event) bool {
	switch e {
	case parking.EventRetrieved, parking.EventRecalled, parking.EventAbandoned, parking.EventFallback, parking.EventLost:
		return true
	}
	return false
}

// Snapshot copies calls under mu.
func Snapshot(mu *sync.Mutex, calls []*fstest.Channel) []*fstest.Channel {
	mu.Lock()
	defer mu.Unlock()
	return append([]*fstest.Channel(nil), calls...)
}

// WaitUntil polls cond until it holds, or fails the test after limit,
// saying what it waited for and what explain adds.
func WaitUntil(t testing.TB, limit time.Duration, what string, cond func() bool, explain ...func() string) {
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

// DirNames lists the names in dir, sorted.
func DirNames(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// ReadStore returns the occupancy and the whole history of the parkd
// database at path, read as the operator's commands read it.
func ReadStore(t testing.TB, path string) ([]parking.Occupant, []store.HistoryRow) {
	t.Helper()
	db, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatalf("the database at %s: %v", path, err)
	}
	defer db.Close()
	occ, err := db.Occupied(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.History(context.Background(), store.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return occ, rows
}

// The ESL passwords of the secrets tests: the right one, and the wrong one
// a misconfigured parkd presents. Neither may appear in any output.
const (
	SecretPassword = "s3cret-Pw-42"
	WrongPassword  = "wr0ng-Pw-17"
)

// SecretLeaks returns the test passwords found in s.
func SecretLeaks(s string) []string {
	var out []string
	for _, pw := range []string{SecretPassword, WrongPassword} {
		if strings.Contains(s, pw) {
			out = append(out, pw)
		}
	}
	return out
}

// LoadAvg is the first three fields of /proc/loadavg, printed beside a
// test's figures; "?" where it cannot be read.
func LoadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
