//go:build unix

package web

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// openFDs counts this process's open descriptors; the test is skipped
// where /proc/self/fd does not list them. Tests compare with "at most":
// an earlier test's Hub may close its writer's descriptor meanwhile.
func openFDs(t *testing.T) func() int {
	t.Helper()
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skipf("skipped: no /proc/self/fd: %v", err)
	}
	return func() int {
		es, err := os.ReadDir("/proc/self/fd")
		if err != nil {
			t.Fatal(err)
		}
		return len(es)
	}
}

// dialRaw opens GET /api/events over a bare TCP connection and reads its
// head and retry line, in the calling goroutine: a client that costs the
// test process no goroutine.
func (le *liveEnv) dialRaw(token string) net.Conn {
	le.t.Helper()
	conn, err := net.Dial("tcp", le.ts.Listener.Addr().String())
	if err != nil {
		le.t.Fatal(err)
	}
	le.t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /api/events HTTP/1.1\r\nHost: parkd\r\nAuthorization: Bearer %s\r\n\r\n", token)
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		le.t.Fatalf("GET /api/events: %v %v", resp, err)
	}
	if l, _ := r.ReadString('\n'); l != "retry: 2000\n" {
		le.t.Fatalf("first line %q, want the retry", l)
	}
	if l, _ := r.ReadString('\n'); l != "\n" {
		le.t.Fatalf("retry line followed by %q", l)
	}
	if r.Buffered() != 0 {
		le.t.Fatalf("%d bytes after the retry line", r.Buffered())
	}
	return conn
}

// hubPair is a direct stream handed to a Hub over a loopback TCP
// connection, as a handler hands it over: client is the board's end.
type hubPair struct {
	sub    *subscriber
	client *net.TCPConn
	r      *bufio.Reader
}

// handOver subscribes a direct stream to h and hands it the server's end
// of a new connection.
func handOver(t *testing.T, h *Hub) *hubPair {
	t.Helper()
	p := newSockPair(t)
	sub := h.subscribeDirect(func(string, string) bool { return true }, "board")
	if sub == nil || !h.ready(sub, p.w, 0) {
		t.Fatal("the hub did not take the stream")
	}
	return &hubPair{sub: sub, client: p.r, r: bufio.NewReader(p.r)}
}

// line reads the client's next line.
func (p *hubPair) line(t *testing.T) string {
	t.Helper()
	_ = p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	l, err := p.r.ReadString('\n')
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return l
}

// hubWithTicker is a Hub whose keepalive fires when the test sends on
// the channel returned, closed at the test's end.
func hubWithTicker(t *testing.T) (*Hub, chan time.Time) {
	tick := make(chan time.Time)
	h := newHub(zerolog.Nop(), 0, 0)
	h.useTicker(func(time.Duration) (<-chan time.Time, func()) { return tick, func() {} })
	t.Cleanup(h.Close)
	return h, tick
}

// Ensure a direct stream handed to the Hub keeps no goroutine: the
// goroutines do not grow with the number of boards, and the descriptors
// all go when the Hub closes.
func TestEvents_DirectKeepsNoGoroutine(t *testing.T) {
	fds := openFDs(t)
	le := newLiveEnv(t, 0)
	le.park("call-0", "main", 200) // the store's files are open
	first := le.dialRaw(superTok)  // the Hub's loop runs
	waitFor(t, "the first stream handed over", func() bool { return directReady(le.hub) == 1 })
	first.Close()
	le.tick <- t0 // and drops it
	waitFor(t, "the first stream dropped", func() bool { return le.hub.clientCount() == 0 })
	base, baseFDs := runtime.NumGoroutine(), fds()

	const boards = 50
	var clients []net.Conn
	for range boards {
		clients = append(clients, le.dialRaw(superTok))
	}
	waitFor(t, "the streams handed to the hub", func() bool { return directReady(le.hub) == boards })
	const slack = 5 // the server's and the runtime's own, coming and going
	waitFor(t, "the handlers to return", func() bool { return runtime.NumGoroutine() <= base+slack })
	id := le.park("call-1", "main", 201)
	if l, _ := bufio.NewReader(clients[boards-1]).ReadString('\n'); l != fmt.Sprintf("id: %d\n", id) {
		t.Fatalf("a board got %q, want row %d", l, id)
	}
	if n := runtime.NumGoroutine(); n > base+slack {
		t.Fatalf("%d goroutines with %d streams, %d with none", n, boards, base)
	}

	le.hub.Close()
	for _, c := range clients {
		c.Close()
	}
	waitFor(t, "every stream's descriptor closed", func() bool { return fds() <= baseFDs })
}

// Ensure a direct stream whose client closed its end is dropped at the
// next keepalive, though no write to it failed, its descriptor closed
// and not counted as cut off.
func TestHub_DirectClientLeftDroppedAtKeepalive(t *testing.T) {
	fds := openFDs(t)
	h, tick := hubWithTicker(t)
	stays := handOver(t, h)
	tick <- t0 // the writer is made
	if l := stays.line(t); l != ": keepalive\n" {
		t.Fatalf("got %q, want the keepalive", l)
	}
	stays.line(t)

	leaves := handOver(t, h)
	before := fds()
	leaves.client.Close()
	tick <- t0
	waitFor(t, "the stream whose client left dropped", func() bool { return h.clientCount() == 1 })
	waitFor(t, "its descriptor closed", func() bool { return fds() <= before-2 }) // the client's and the hub's
	if n := h.Dropped(); n != 0 {
		t.Fatalf("%d streams counted as cut off, want none: the client left", n)
	}
	if l := stays.line(t); l != ": keepalive\n" {
		t.Fatalf("the stream that stays got %q, want the keepalive", l)
	}
}

// Ensure a client that sends stray bytes on its stream is kept and still
// gets events, and the bytes are read: the stream still ends cleanly
// (unread bytes would make closing it a reset).
func TestHub_DirectStrayBytesKept(t *testing.T) {
	h, tick := hubWithTicker(t)
	p := handOver(t, h)
	if _, err := p.client.Write([]byte(strings.Repeat("hello?\r\n", 500))); err != nil {
		t.Fatal(err)
	}
	tick <- t0
	if l := p.line(t); l != ": keepalive\n" {
		t.Fatalf("got %q, want the keepalive", l)
	}
	p.line(t)
	if n := h.clientCount(); n != 1 {
		t.Fatalf("%d streams after the stray bytes, want the one kept", n)
	}
	h.send([]*frame{{data: []byte("event: note\ndata: {}\n\n")}})
	if l := p.line(t); l != "event: note\n" {
		t.Fatalf("got %q, want the event", l)
	}
	p.line(t)
	p.line(t)
	h.Close()
	_ = p.client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if rest, err := io.ReadAll(p.r); err != nil || len(rest) != 0 {
		t.Fatalf("after Close: %q, %v; want the stream's clean end", rest, err)
	}
}

// Ensure no descriptor is left behind by streams that come and go, nor
// by those the Hub still has when it closes, nor by one handed over
// after the Hub closed.
func TestHub_DirectNoDescriptorLeak(t *testing.T) {
	fds := openFDs(t)
	base := fds()
	h, tick := hubWithTicker(t)
	warm := handOver(t, h)
	tick <- t0 // the writer is made
	warm.line(t)
	warm.line(t)
	warm.client.Close()
	tick <- t0
	waitFor(t, "the first stream dropped", func() bool { return h.clientCount() == 0 })

	var kept []*hubPair
	for range 10 {
		var leaving []*hubPair
		for i := range 10 {
			p := handOver(t, h)
			if i%3 == 0 {
				kept = append(kept, p)
			} else {
				leaving = append(leaving, p)
			}
		}
		for _, p := range leaving {
			p.client.Close()
		}
		before := fds()
		tick <- t0
		waitFor(t, "the streams whose client left dropped", func() bool { return h.clientCount() == len(kept) })
		waitFor(t, "their descriptors closed", func() bool { return fds() <= before-len(leaving) })
	}
	// One subscribed before the Hub closes and handed over after: refused,
	// its connection left to the caller, which closes it.
	p := newSockPair(t)
	late := h.subscribeDirect(func(string, string) bool { return true }, "board")
	for _, p := range kept {
		p.client.Close()
	}
	h.Close()
	if h.ready(late, p.w, 0) {
		t.Fatal("a closed hub took a stream")
	}
	p.w.Close()
	p.r.Close()
	waitFor(t, "every descriptor closed", func() bool { return fds() <= base })
	if n := h.Dropped(); n != 0 {
		t.Fatalf("%d streams counted as cut off", n)
	}
}
