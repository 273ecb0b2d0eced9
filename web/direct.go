package web

import (
	"errors"
	"net"
	"sync"
	"time"
)

// errFellBehind: a client got more events than it read.
var errFellBehind = errors.New("live events client fell behind")

// errClientLeft: a direct stream's client closed its end of the
// connection.
var errClientLeft = errors.New("live events client left")

// maxHeldFrames bounds the events held for a direct stream between its
// subscription and its handler handing over the connection (the replay).
const maxHeldFrames = 10000

// directStream is the Hub's side of a direct /api/events stream: the
// socket it owns and writes without blocking, what it could not write
// yet, and the events held before the handler handed the connection over.
//
// Once handed over, a stream costs no goroutine and is none of the net
// package's: the Hub owns a duplicate of the socket's descriptor, outside
// the runtime's poller, writes it from its fan-outs and, at each
// keepalive, reads it without waiting to learn whether the client left
// (checkPeer).
type directStream struct {
	mu      sync.Mutex
	who     string // the client's name, for the log of its cut-off
	fd      int    // the socket, owned; -1 until open, and once closed
	closed  bool
	last    int64    // the last history row ID written: later rows only
	held    []*frame // fanned out before open
	pending []byte   // written in part: the socket's buffer was full
}

func newDirectStream(who string) *directStream { return &directStream{who: who, fd: -1} }

// open gives the stream its connection, whose replay went up to row last:
// the stream takes a duplicate of its descriptor and closes conn, so that
// neither the net package nor the runtime's poller keep it. On error conn
// is left as it was, for the caller to close.
func (d *directStream) open(conn net.Conn, last int64) error {
	fd, err := dupSocket(conn)
	if err != nil {
		return err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		closeSocket(fd)
		return errors.New("live events: stream already closed")
	}
	d.fd, d.last = fd, last
	d.mu.Unlock()
	// Only the net package's descriptor goes (and its poller
	// registration): the connection stays open through fd.
	_ = conn.Close()
	return nil
}

// close closes the stream's socket (the connection ends: the client sees
// the end of the response) and forgets what was waiting; later writes do
// nothing. The socket is closed under mu: a burst writing d's descriptor
// holds mu, so the descriptor cannot be closed, and its number reused,
// under the burst's feet.
func (d *directStream) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed, d.held, d.pending = true, nil, nil
	if d.fd >= 0 {
		closeSocket(d.fd)
		d.fd = -1
	}
}

// directWrite is one direct stream's share of a fan-out's burst: its
// bytes, arena[off:off+n] of the burst's arena, and what became of them.
// The stream's mutex is held from queueDirect to finishBurst, so that its
// socket's descriptor stays open, and its number d's, meanwhile.
type directWrite struct {
	c      *subscriber
	fd     int // the stream's socket
	off, n int
	took   int   // set by the burst writer: bytes the socket took
	err    error // set by the burst writer: the write failed (not a full socket)
}

// burst is a fan-out's writes to its direct streams, done together by a
// burstWriter once the fan-out has gathered them.
type burst struct {
	arena  []byte // every stream's bytes, back to back
	writes []directWrite

	// scratch takes what a client sent, read and thrown away by the
	// keepalive's check of its socket.
	scratch [512]byte

	// The fan-out's frames, written once in arena for every stream that
	// gets exactly them (no bytes left from before, every row new to it).
	frames    []*frame
	sharedOff int // -1: not in arena yet
	sharedN   int
	ids       frameIDs
}

// frameIDs is what a fan-out's frames say about history row IDs: whether
// the rows come in ascending order, and the first and the last.
type frameIDs struct {
	ascending   bool
	first, last int64 // 0: no row
}

func idsOf(fs []*frame) frameIDs {
	ids := frameIDs{ascending: true}
	for _, f := range fs {
		if f.id == 0 {
			continue
		}
		if ids.first == 0 {
			ids.first = f.id
		} else if f.id <= ids.last {
			ids.ascending = false
		}
		ids.last = f.id
	}
	return ids
}

// shrinkArenaAbove is the size past which a burst's bytes are not kept
// for the next burst: a usual fan-out's frames for 1,000 streams are far
// smaller, and boards that stalled together can leave up to the backlog
// bound each.
const shrinkArenaAbove = 1 << 20

// reset makes b empty for a fan-out of frames.
func (b *burst) reset(frames []*frame) {
	b.arena = b.arena[:0]
	if cap(b.arena) > shrinkArenaAbove {
		b.arena = nil // a burst of backlogs once: not kept for good
	}
	clear(b.writes) // drop the subscribers and conns for the collector
	b.writes = b.writes[:0]
	b.frames, b.sharedOff, b.ids = frames, -1, idsOf(frames)
}

// queueDirect adds what d has waiting and frames (the history rows after
// d.last only) to b. A stream with bytes to write stays locked until
// finishBurst. left: bytes are still waiting (a keepalive skipped a
// stream with a backlog). An error means d is to be dropped. keepalive:
// frames is the keepalive comment, written only to an idle stream; the
// keepalive also checks that the stream's client is still there, as no
// goroutine reads its socket: errClientLeft when it has gone.
func (b *burst) queueDirect(c *subscriber, frames []*frame, keepalive bool) (left bool, err error) {
	d := c.direct
	d.mu.Lock()
	switch {
	case d.closed:
		d.mu.Unlock()
		return false, nil
	case d.fd < 0: // the handler is still replaying
		if !keepalive {
			d.held = append(d.held, frames...)
		}
		n := len(d.held)
		d.mu.Unlock()
		if n > maxHeldFrames {
			return false, errFellBehind
		}
		return false, nil
	}
	if keepalive {
		if err := checkPeer(d.fd, b.scratch[:]); err != nil {
			d.mu.Unlock()
			return false, err
		}
		if len(d.pending) > 0 {
			d.mu.Unlock()
			return true, nil
		}
	}
	w := directWrite{c: c, fd: d.fd}
	if b.shares(d, frames) {
		if b.sharedOff < 0 {
			b.sharedOff = len(b.arena)
			b.arena, _ = appendFrameBytes(b.arena, frames, 0)
			b.sharedN = len(b.arena) - b.sharedOff
		}
		w.off, w.n = b.sharedOff, b.sharedN
		if b.ids.last != 0 {
			d.last = b.ids.last
		}
	} else {
		w.off = len(b.arena)
		b.arena = append(b.arena, d.pending...)
		b.arena, d.last = appendFrameBytes(b.arena, d.held, d.last)
		b.arena, d.last = appendFrameBytes(b.arena, frames, d.last)
		w.n = len(b.arena) - w.off
	}
	d.held = nil
	if w.n == 0 {
		d.mu.Unlock()
		return false, nil
	}
	b.writes = append(b.writes, w)
	return false, nil
}

// shares reports whether d gets exactly the fan-out's frames: nothing
// waits for it and every row in them is new to it.
func (b *burst) shares(d *directStream, frames []*frame) bool {
	if len(d.pending) > 0 || len(d.held) > 0 || len(frames) != len(b.frames) || len(frames) == 0 || &frames[0] != &b.frames[0] {
		return false
	}
	return b.ids.ascending && (b.ids.first == 0 || b.ids.first > d.last)
}

// finishBurst keeps what each stream's socket did not take for later and
// unlocks the streams. It returns the streams to drop (a failed write, or
// a backlog past the bound) and whether bytes are still waiting.
func (b *burst) finishBurst(backlog int, drops []dropped) ([]dropped, bool) {
	stalled := false
	for i := range b.writes {
		w := &b.writes[i]
		d := w.c.direct
		rest := b.arena[w.off+w.took : w.off+w.n]
		err := w.err
		if err == nil && len(rest) > backlog {
			err = errFellBehind
		}
		if err == nil {
			if len(rest) == 0 && cap(d.pending) > 64<<10 {
				d.pending = nil // give back a drained backlog's memory
			}
			d.pending = append(d.pending[:0], rest...)
			stalled = stalled || len(rest) > 0
		}
		d.mu.Unlock()
		if err != nil {
			drops = append(drops, dropped{w.c, err})
		}
	}
	return drops, stalled
}

// dropped is a stream to cut off, and why.
type dropped struct {
	c   *subscriber
	why error
}

// burstWriter writes a burst's bytes to their sockets without blocking,
// setting each write's took and err.
type burstWriter interface {
	write(arena []byte, ws []directWrite)
	close()
}

// pacing spreads a burst's writes: after every `every` streams written
// the writer pauses for pause before it writes the next ones. The zero
// value writes a burst in one go.
//
// Each write wakes the stream's reader. When the readers share parkd's
// cores (a TLS proxy in front of the boards, or, in the bench, the
// browsers themselves), a thousand of them woken at once keep every core
// busy for some milliseconds, and a park that arrives meanwhile waits for
// one. In chunks, the readers of one chunk have read before the next is
// woken, and a park finds a core. BENCHMARKS.md ("Bursts in chunks")
// has the figures.
type pacing struct {
	every int
	pause time.Duration
}

// burstPacing is the fan-out's: a thousand boards are written in ten
// chunks, some 5 ms of pauses in all, well inside the 100 ms within which
// an event is to reach a board.
var burstPacing = pacing{every: 100, pause: 500 * time.Microsecond}

// pausesBefore says whether the writer pauses before the write of
// index i.
func (p pacing) pausesBefore(i int) bool {
	return p.every > 0 && p.pause > 0 && i > 0 && i%p.every == 0
}

// pollerWriter writes a burst from the calling goroutine, one
// non-blocking write(2) per stream: the writer where no other is built,
// and the fallback. (Its name is from when the streams' sockets were the
// runtime poller's; the writes never waited on it.)
type pollerWriter struct {
	pace pacing
}

func (p pollerWriter) write(arena []byte, ws []directWrite) {
	for i := range ws {
		if p.pace.pausesBefore(i) {
			time.Sleep(p.pace.pause)
		}
		w := &ws[i]
		w.took, w.err = writeNonBlocking(w.fd, arena[w.off:w.off+w.n])
	}
}

func (pollerWriter) close() {}

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
