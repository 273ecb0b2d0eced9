package web

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
)

// errFellBehind: a client got more events than it read.
var errFellBehind = errors.New("live events client fell behind")

// maxHeldFrames bounds the events held for a direct stream between its
// subscription and its handler handing over the connection (the replay).
const maxHeldFrames = 10000

// directStream is the Hub's side of a direct /api/events stream: the
// hijacked connection it writes without blocking, what it could not write
// yet, and the events held before the handler handed the connection over.
type directStream struct {
	mu      sync.Mutex
	conn    net.Conn
	raw     syscall.RawConn // nil until open
	closed  bool
	last    int64    // the last history row ID written: later rows only
	held    []*frame // fanned out before open
	pending []byte   // written in part: the socket's buffer was full
}

// open gives the stream its connection, whose replay went up to row last.
func (d *directStream) open(conn net.Conn, last int64) error {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return fmt.Errorf("live events: a %T has no file descriptor", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("live events: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("live events: stream already closed")
	}
	d.conn, d.raw, d.last = conn, raw, last
	return nil
}

// close closes the connection (the handler's read returns) and forgets
// what was waiting; later writes do nothing.
func (d *directStream) close() {
	d.mu.Lock()
	conn := d.conn
	d.closed, d.held, d.pending = true, nil, nil
	d.mu.Unlock()
	if conn != nil {
		conn.Close()
	}
}

// writeDirect writes what d has waiting and frames (the history rows after
// d.last only), without blocking, from the Hub's goroutine. left: bytes
// are still waiting for the socket. An error means d is to be dropped.
// keepalive: frames is the keepalive comment, written only to an idle
// stream.
func (h *Hub) writeDirect(d *directStream, frames []*frame, keepalive bool) (left bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch {
	case d.closed:
		return false, nil
	case d.raw == nil: // the handler is still replaying
		if !keepalive {
			d.held = append(d.held, frames...)
		}
		if len(d.held) > maxHeldFrames {
			return false, errFellBehind
		}
		return false, nil
	case keepalive && len(d.pending) > 0:
		return true, nil
	}
	buf := append(h.scratch[:0], d.pending...)
	buf, d.last = appendFrameBytes(buf, d.held, d.last)
	buf, d.last = appendFrameBytes(buf, frames, d.last)
	d.held = nil
	defer func() { h.scratch = buf[:0] }()
	if len(buf) == 0 {
		return false, nil
	}
	n, err := writeNonBlocking(d.raw, buf)
	if err != nil {
		return false, err
	}
	rest := buf[n:]
	if len(rest) > h.backlog {
		return false, errFellBehind
	}
	if len(rest) == 0 && cap(d.pending) > 64<<10 {
		d.pending = nil // give back a drained backlog's memory
	}
	d.pending = append(d.pending[:0], rest...)
	return len(rest) > 0, nil
}

// appendFrameBytes adds fs to b but for the history rows the client has
// (replayed, or before its Last-Event-ID), and returns the last row ID
// sent.
func appendFrameBytes(b []byte, fs []*frame, last int64) ([]byte, int64) {
	for _, f := range fs {
		if f.id != 0 {
			if f.id <= last {
				continue
			}
			last = f.id
		}
		b = append(b, f.data...)
	}
	return b, last
}
