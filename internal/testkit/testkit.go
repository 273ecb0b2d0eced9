// Package testkit holds the small helpers that the tests of several
// packages share (the daemon's, the CLI's, the commands'). Only tests
// import it, so no production binary links it.
package testkit

import (
	"net"
	"strings"
	"sync"
	"testing"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
