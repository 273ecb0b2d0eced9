package web

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rawStream is GET /api/events over a bare TCP connection whose receive
// buffer is small, so that a test decides when its bytes are read.
type rawStream struct {
	conn net.Conn
	r    *bufio.Reader
	s    *stream // next() over r
}

func (le *liveEnv) openRaw(token string) *rawStream {
	le.t.Helper()
	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) {
			_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 2048)
		})
	}}
	conn, err := d.Dial("tcp", le.ts.Listener.Addr().String())
	if err != nil {
		le.t.Fatal(err)
	}
	le.t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "GET /api/events HTTP/1.1\r\nHost: parkd\r\nAuthorization: Bearer %s\r\n\r\n", token)
	rs := &rawStream{conn: conn, r: bufio.NewReaderSize(conn, 512)}
	resp, err := http.ReadResponse(rs.r, nil)
	if err != nil {
		le.t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		le.t.Fatalf("GET /api/events: %s %v", resp.Status, resp.Header)
	}
	rs.s = &stream{t: le.t, r: bufio.NewReaderSize(resp.Body, 512)}
	if l, _ := rs.s.r.ReadString('\n'); l != "retry: 2000\n" {
		le.t.Fatalf("first line %q, want the retry", l)
	}
	if l, _ := rs.s.r.ReadString('\n'); l != "\n" {
		le.t.Fatalf("retry line followed by %q", l)
	}
	waitFor(le.t, "the stream handed to the hub", func() bool { return directReady(le.hub) >= 1 })
	return rs
}

// directReady counts the direct streams the Hub writes.
func directReady(h *Hub) int {
	n := 0
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		if c.direct != nil {
			c.direct.mu.Lock()
			if c.direct.fd >= 0 {
				n++
			}
			c.direct.mu.Unlock()
		}
	}
	return n
}

func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Ensure a plain HTTP/1.1 stream is direct: the Hub writes it unchunked
// on the connection it took over, with the headers every response gets,
// and a stream over TLS is still written by its handler.
func TestEvents_DirectOnlyOverPlainHTTP(t *testing.T) {
	le := newLiveEnv(t, 0)
	s := le.open("/api/events", superTok, nil, nil)
	if te := s.resp.TransferEncoding; len(te) != 0 {
		t.Fatalf("transfer encoding %v: the stream is not direct", te)
	}
	if !s.resp.Close || s.resp.Header.Get("X-Content-Type-Options") != "nosniff" || s.resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("headers %v (close %v)", s.resp.Header, s.resp.Close)
	}
	waitFor(t, "a direct stream", func() bool { return directReady(le.hub) == 1 })
	id := le.park("call-1", "main", 201)
	le.wantRow(s.next(), id)

	tls := httptest.NewUnstartedServer(le.srv)
	tls.EnableHTTP2 = true
	tls.StartTLS()
	t.Cleanup(tls.Close)
	req, _ := http.NewRequest(http.MethodGet, tls.URL+"/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+superTok)
	resp, err := tls.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s over TLS, want HTTP/2", resp.Proto)
	}
	ts := &stream{t: t, resp: resp, r: bufio.NewReader(resp.Body)}
	if head, _ := ts.r.Peek(len("retry: 2000\n\n")); string(head) != "retry: 2000\n\n" {
		t.Fatalf("TLS stream began with %q", head)
	}
	_, _ = ts.r.Discard(len("retry: 2000\n\n"))
	waitFor(t, "the TLS stream's subscription", func() bool { return le.hub.clientCount() == 2 })
	if n := directReady(le.hub); n != 1 {
		t.Fatalf("%d direct streams, want the plain one only", n)
	}
	id = le.park("call-2", "main", 202)
	le.wantRow(ts.next(), id)
	le.wantRow(s.next(), id)
}

// Ensure a direct stream whose socket is full gets, once its client reads
// again, every event in order and none twice, without being cut off.
func TestEvents_DirectSlowReaderCatchesUp(t *testing.T) {
	le := newLiveEnv(t, 0)
	le.hub.onDirect = func(c net.Conn) { _ = c.(*net.TCPConn).SetWriteBuffer(2048) }
	rs := le.openRaw(superTok)
	var ids []int64
	for i := range 120 { // tens of kilobytes: far more than the sockets hold
		ids = append(ids, le.park(fmt.Sprintf("call-%d", i), "main", 201+i))
	}
	waitFor(t, "bytes waiting in the hub", func() bool {
		for c := range le.hub.clients {
			c.direct.mu.Lock()
			n := len(c.direct.pending)
			c.direct.mu.Unlock()
			if n > 0 {
				return true
			}
		}
		return false
	})
	for _, id := range ids {
		le.wantRow(rs.s.next(), id)
	}
	if n := le.hub.Dropped(); n != 0 {
		t.Fatalf("%d clients dropped", n)
	}
}

// Ensure a direct stream that stops reading is cut off once its backlog
// passes the bound, counted, and its connection closed, while a stream
// that reads gets everything.
func TestEvents_DirectStuckReaderDropped(t *testing.T) {
	le := newLiveEnv(t, 0)
	le.hub.backlog = 4 << 10
	le.hub.onDirect = func(c net.Conn) { _ = c.(*net.TCPConn).SetWriteBuffer(2048) }
	stuck := le.openRaw(superTok)
	fast := le.open("/api/events", superTok, nil, nil)
	waitFor(t, "two direct streams", func() bool { return directReady(le.hub) == 2 })
	var ids []int64
	for i := 0; le.hub.Dropped() == 0; i++ {
		if i == 400 {
			t.Fatalf("the stuck stream was not cut off after %d parks", i)
		}
		ids = append(ids, le.park(fmt.Sprintf("call-%d", i), "main", 201+i))
		for _, id := range ids[len(ids)-1:] {
			le.wantRow(fast.next(), id)
		}
	}
	if n := le.hub.clientCount(); n != 1 {
		t.Fatalf("%d clients subscribed, want the fast one", n)
	}
	// What the kernel held is still readable; then the stream ends.
	_ = stuck.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, stuck.r); err != nil {
		t.Fatalf("the stuck stream did not end: %v", err)
	}
	waitFor(t, "the cut-off logged", func() bool { return strings.Contains(le.logs.String(), "fell behind") })
}

// Ensure a direct stream outlives the server's read and write timeouts,
// which net/http documents as possibly still set on a connection taken
// over.
func TestEvents_DirectOutlivesServerTimeouts(t *testing.T) {
	le := newLiveEnv(t, 0)
	ts := httptest.NewUnstartedServer(le.srv)
	ts.Config.ReadTimeout, ts.Config.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	ts.Start()
	t.Cleanup(ts.Close)
	le.ts = ts
	s := le.open("/api/events", superTok, nil, nil)
	waitFor(t, "a direct stream", func() bool { return directReady(le.hub) == 1 })
	time.Sleep(300 * time.Millisecond) // past both timeouts
	id := le.park("call-1", "main", 201)
	le.wantRow(s.next(), id)
}
