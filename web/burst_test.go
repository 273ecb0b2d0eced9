//go:build unix

package web

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// sockPair is a loopback TCP connection: w is the side a burst writes
// (the server's, as for a direct stream), r the reader's.
type sockPair struct {
	w, r *net.TCPConn
	fd   int // w's descriptor
}

// newSockPair makes a connection whose sending buffer is small, so that
// a test fills it with little. (A reader's small buffer would make the
// kernel wait for its window to open again, for seconds.)
func newSockPair(t *testing.T) *sockPair {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	w, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	p := &sockPair{w: w.(*net.TCPConn), r: r.(*net.TCPConn)}
	t.Cleanup(func() { p.w.Close(); p.r.Close() })
	_ = p.w.SetWriteBuffer(4096)
	raw, err := p.w.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := raw.Control(func(fd uintptr) { p.fd = int(fd) }); err != nil {
		t.Fatal(err)
	}
	return p
}

// write is p's share of a burst: arena[off:off+n].
func (p *sockPair) write(off, n int) directWrite {
	return directWrite{fd: p.fd, off: off, n: n}
}

// readN reads n bytes from p's reader, or fails.
func (p *sockPair) readN(t *testing.T, n int) []byte {
	t.Helper()
	_ = p.r.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(p.r, b); err != nil {
		t.Fatalf("reading %d bytes: %v", n, err)
	}
	return b
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

// Ensure every burst writer writes each stream its own bytes, several
// streams sharing the same ones included, all of them taken.
func TestBurstWriters_WriteEveryStream(t *testing.T) {
	for name, newW := range burstWriters(pacing{}) {
		t.Run(name, func(t *testing.T) {
			bw := newW(t)
			a, b, c := newSockPair(t), newSockPair(t), newSockPair(t)
			arena := []byte("sharedonlyc")
			ws := []directWrite{a.write(0, 6), b.write(0, 6), c.write(6, 5)}
			bw.write(arena, ws)
			for i, w := range ws {
				if w.took != w.n || w.err != nil {
					t.Fatalf("write %d: took %d of %d, %v", i, w.took, w.n, w.err)
				}
			}
			for p, want := range map[*sockPair]string{a: "shared", b: "shared", c: "onlyc"} {
				if got := p.readN(t, len(want)); string(got) != want {
					t.Fatalf("read %q, want %q", got, want)
				}
			}
		})
	}
}

// Ensure a paced writer pauses between its chunks of streams, and still
// writes every stream: 5 streams in chunks of 2 make two pauses. (A lower
// bound on the time taken: sleeping never takes less.)
func TestBurstWriters_Paced(t *testing.T) {
	const pause = 40 * time.Millisecond
	for name, newW := range burstWriters(pacing{every: 2, pause: pause}) {
		t.Run(name, func(t *testing.T) {
			bw := newW(t)
			var ps []*sockPair
			var ws []directWrite
			for range 5 {
				p := newSockPair(t)
				ps = append(ps, p)
				ws = append(ws, p.write(0, 5))
			}
			start := time.Now()
			bw.write([]byte("event"), ws)
			if took := time.Since(start); took < 2*pause {
				t.Fatalf("a burst of 5 in chunks of 2 took %v, want at least two pauses of %v", took, pause)
			}
			for i, p := range ps {
				if ws[i].took != 5 || ws[i].err != nil {
					t.Fatalf("write %d: took %d, %v", i, ws[i].took, ws[i].err)
				}
				if got := p.readN(t, 5); string(got) != "event" {
					t.Fatalf("stream %d read %q", i, got)
				}
			}
		})
	}
}

// Ensure a full socket takes part of its bytes and reports no error, the
// other streams of the burst are written all the same, and the rest goes
// out, in order, once the reader has read.
func TestBurstWriters_FullSocketTakesPart(t *testing.T) {
	for name, newW := range burstWriters(pacing{}) {
		t.Run(name, func(t *testing.T) {
			bw := newW(t)
			full, other := newSockPair(t), newSockPair(t)
			data := pattern(1 << 20) // far more than the buffers hold
			arena := append(append([]byte(nil), data...), "after"...)
			ws := []directWrite{full.write(0, len(data)), other.write(len(data), 5)}
			bw.write(arena, ws)
			if w := ws[0]; w.err != nil || w.took <= 0 || w.took >= w.n {
				t.Fatalf("full socket: took %d of %d, %v; want a part, no error", w.took, w.n, w.err)
			}
			if w := ws[1]; w.err != nil || w.took != 5 {
				t.Fatalf("the other socket: took %d of 5, %v", w.took, w.err)
			}
			if got := other.readN(t, 5); string(got) != "after" {
				t.Fatalf("the other socket read %q", got)
			}
			// The reader reads; the rest goes out in later bursts.
			var got bytes.Buffer
			readDone := make(chan error, 1)
			go func() {
				_ = full.r.SetReadDeadline(time.Now().Add(20 * time.Second))
				_, err := io.CopyN(&got, full.r, int64(len(data)))
				readDone <- err
			}()
			sent := ws[0].took
			for tries := 0; sent < len(data); tries++ {
				if tries == 100000 {
					t.Fatalf("%d of %d bytes sent after %d bursts", sent, len(data), tries)
				}
				rest := []directWrite{full.write(0, len(data)-sent)}
				bw.write(data[sent:], rest)
				if rest[0].err != nil {
					t.Fatalf("after %d bytes: %v", sent, rest[0].err)
				}
				if sent += rest[0].took; rest[0].took == 0 {
					time.Sleep(time.Millisecond)
				}
			}
			if err := <-readDone; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), data) {
				t.Fatal("the bytes read are not the bytes written, in order")
			}
		})
	}
}

// Ensure a write to a socket whose reader has gone (reset) fails with the
// socket's error, and the burst's other streams are written all the same.
func TestBurstWriters_ClosedSocketFails(t *testing.T) {
	for name, newW := range burstWriters(pacing{}) {
		t.Run(name, func(t *testing.T) {
			bw := newW(t)
			gone, other := newSockPair(t), newSockPair(t)
			_ = gone.r.SetLinger(0) // close sends a reset
			gone.r.Close()
			arena := []byte("event")
			var err error
			for tries := 0; err == nil; tries++ {
				if tries == 1000 {
					t.Fatal("writes to a reset socket did not fail")
				}
				ws := []directWrite{gone.write(0, 5), other.write(0, 5)}
				bw.write(arena, ws)
				if ws[1].err != nil || ws[1].took != 5 {
					t.Fatalf("the other socket: took %d of 5, %v", ws[1].took, ws[1].err)
				}
				if got := other.readN(t, 5); string(got) != "event" {
					t.Fatalf("the other socket read %q", got)
				}
				err = ws[0].err
				time.Sleep(time.Millisecond)
			}
			if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE) {
				t.Fatalf("error %v, want a reset or a broken pipe", err)
			}
		})
	}
}

// Ensure the Hub keeps its streams' order and backlog with every burst
// writer: a reader whose socket filled gets every event in order, none
// twice, once it reads again.
func TestEvents_DirectSlowReaderEveryWriter(t *testing.T) {
	for name := range burstWriters(pacing{}) {
		t.Run(name, func(t *testing.T) {
			le := newLiveEnv(t, 0)
			if name == "poller" {
				le.hub.newWriter = func(zerolog.Logger) burstWriter { return pollerWriter{} }
			} // else the system's own, which the Hub closes
			le.hub.onDirect = func(c net.Conn) { _ = c.(*net.TCPConn).SetWriteBuffer(2048) }
			rs := le.openRaw(superTok)
			var ids []int64
			for i := range 120 {
				ids = append(ids, le.park(fmt.Sprintf("call-%d", i), "main", 201+i))
			}
			for _, id := range ids {
				le.wantRow(rs.s.next(), id)
			}
			if n := le.hub.Dropped(); n != 0 {
				t.Fatalf("%d clients dropped", n)
			}
		})
	}
}

// Ensure a burst's Go arena is not kept past a large burst either.
func TestBurst_ResetGivesBackALargeArena(t *testing.T) {
	var b burst
	b.arena = make([]byte, 0, shrinkArenaAbove+1)
	b.reset(nil)
	if cap(b.arena) != 0 {
		t.Fatalf("kept %d bytes", cap(b.arena))
	}
	b.arena = make([]byte, 10, 4096)
	b.reset(nil)
	if cap(b.arena) != 4096 || len(b.arena) != 0 {
		t.Fatalf("usual arena: len %d cap %d, want 0 and 4096 kept", len(b.arena), cap(b.arena))
	}
}
