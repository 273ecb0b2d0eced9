package esl_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// logBuffer is a zerolog sink many goroutines write to.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// count returns how many log lines contain every one of parts.
func (l *logBuffer) count(parts ...string) int {
	n := 0
	for _, line := range strings.Split(l.String(), "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			n++
		}
	}
	return n
}

// waitLog polls until n log lines contain every one of parts.
func (l *logBuffer) waitLog(t *testing.T, n int, parts ...string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for l.count(parts...) < n {
		if time.Now().After(deadline) {
			t.Fatalf("got %d log lines with %q, want %d; log:\n%s", l.count(parts...), parts, n, l.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// oneSlot is the Parking the outbound server drives in these tests: a park
// answers the channel and holds it with music, as parking.Service does; a
// retrieve bridges the retriever to the call parked last, if any.
type oneSlot struct {
	parked atomic.Int32
	mu     sync.Mutex
	last   parking.CallID
}

func (p *oneSlot) Park(ctx context.Context, req parking.ParkRequest) (parking.Occupant, error) {
	if err := req.Leg.Answer(ctx); err != nil {
		return parking.Occupant{}, err
	}
	h := parking.Hold{Lot: "main", Slot: 201, Parker: req.Parker, ParkedAt: time.Now(), Music: "local_stream://moh"}
	if err := req.Leg.Hold(ctx, h); err != nil {
		return parking.Occupant{}, err
	}
	p.parked.Add(1)
	p.mu.Lock()
	p.last = req.Leg.Call()
	p.mu.Unlock()
	return parking.Occupant{Lot: "main", Slot: 201, Call: req.Leg.Call()}, nil
}

func (p *oneSlot) Retrieve(ctx context.Context, req parking.RetrieveRequest) (parking.Occupant, error) {
	p.mu.Lock()
	call := p.last
	p.last = ""
	p.mu.Unlock()
	if call == "" {
		return parking.Occupant{}, parking.ErrSlotEmpty
	}
	if err := req.Leg.Answer(ctx); err != nil {
		return parking.Occupant{}, err
	}
	if err := req.Leg.Bridge(ctx, call); err != nil {
		return parking.Occupant{}, err
	}
	return parking.Occupant{Lot: "main", Slot: 201, Call: call}, nil
}

// LotOfSlot: the one slot, 201, is in lot main.
func (p *oneSlot) LotOfSlot(_ string, slot int) (string, bool) { return "main", slot == 201 }

// outboundRig is parkd's outbound server on a loopback port with its log
// captured at debug level, and a simulated FreeSWITCH whose calls reach it.
type outboundRig struct {
	t    *testing.T
	addr string
	log  *logBuffer
	sim  *fstest.Switch
	srv  *esl.Server
	park *oneSlot
}

func startOutboundRig(t *testing.T, timeout time.Duration) *outboundRig {
	t.Helper()
	r := &outboundRig{t: t, log: &logBuffer{}, park: &oneSlot{}}
	r.sim = fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	srv := esl.NewServer(r.park)
	r.srv = srv
	srv.Logger = zerolog.New(r.log).Level(zerolog.DebugLevel)
	srv.Timeout = timeout
	srv.CallTimeout = 5 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, esl.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return r
}

// goodPark places a well-behaved call and returns how long it took until
// it was parked with music and parkd had let go of its socket.
func (r *outboundRig) goodPark() time.Duration {
	r.t.Helper()
	start := time.Now()
	ch, err := r.sim.Call(fstest.CallSpec{
		SocketAddr: r.addr, CallerName: "Jane Roe", CallerNumber: "5550100", Destination: "*70201",
		Vars: map[string]string{"parkd_action": "park", "parkd_lot": "main", "parkd_slot": "201"}, Answered: true,
	})
	if err != nil {
		r.t.Errorf("good call: %v", err)
		return 0
	}
	if _, err := ch.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return s.Alive && strings.HasPrefix(s.Hearing, "music:") && !s.SocketConnected
	}); err != nil {
		r.t.Errorf("good call not parked: %v (state %+v)", err, ch.State())
	}
	return time.Since(start)
}

// hostilePeer is a client of parkd's outbound server that plays FreeSWITCH
// badly.
type hostilePeer struct {
	t  *testing.T
	nc net.Conn
}

// dialPeer connects to addr and, if readConnect, reads parkd's "connect".
func dialPeer(t *testing.T, addr string, readConnect bool) *hostilePeer {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	p := &hostilePeer{t: t, nc: nc}
	if readConnect {
		_ = nc.SetReadDeadline(time.Now().Add(3 * time.Second))
		cmd, err := esl.NewReader(nc).ReadCommand()
		if err != nil || cmd.Line != "connect" {
			t.Fatalf("parkd's first command: %q, %v; want connect", cmd.Line, err)
		}
		_ = nc.SetReadDeadline(time.Time{})
	}
	return p
}

// dropped waits up to within for parkd to close the connection and
// returns how long that took, or fails.
func (p *hostilePeer) dropped(within time.Duration) time.Duration {
	p.t.Helper()
	start := time.Now()
	_ = p.nc.SetReadDeadline(start.Add(within))
	_, err := io.Copy(io.Discard, p.nc)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		p.t.Fatalf("connection still open after %v", within)
	}
	return time.Since(start)
}

// Ensure a peer that connects and then says nothing is dropped within the
// server's Timeout and logged, and does not hold up other calls.
func TestHostile_SilentPeer(t *testing.T) {
	r := startOutboundRig(t, 200*time.Millisecond)
	p := dialPeer(t, r.addr, true)
	if got := r.goodPark(); got > time.Second {
		t.Errorf("good call took %v beside a silent peer", got)
	}
	got := p.dropped(2 * time.Second)
	if got > time.Second {
		t.Errorf("silent peer dropped after %v, want about the 200ms timeout", got)
	}
	r.log.waitLog(t, 1, `"level":"warn"`, "outbound connection: no channel data", "deadline exceeded")
}

// Ensure malformed or hostile answers to "connect" make parkd drop the
// connection (or ignore a frame of an unknown type) without a panic, with
// a warning in the log, while a good call beside them still parks.
func TestHostile_BadFrames(t *testing.T) {
	big := "X-Big: " + strings.Repeat("a", 2<<20) + "\n\n"
	for _, tc := range []struct {
		name string
		send string
		log  string // in the warning
	}{
		{"NegativeContentLength", "Content-Type: command/reply\nContent-Length: -5\n\n", "malformed ESL frame"},
		{"HugeContentLength", "Content-Type: command/reply\nContent-Length: 1099511627776\n\n", "ESL frame too large"},
		{"OverflowingContentLength", "Content-Type: command/reply\nContent-Length: 99999999999999999999999\n\n", "malformed ESL frame"},
		{"ContentLengthOverLimit", fmt.Sprintf("Content-Type: api/response\nContent-Length: %d\n\n", 16<<20+1), "ESL frame too large"},
		{"HeaderWithoutColon", "Content-Type command/reply\n\n", "malformed ESL frame"},
		{"Garbage", "\x00\x01\xff\xfe\x80\x7f garbage \x1b[2J\n\n", "malformed ESL frame"},
		// 2 MiB takes a while to write on a loaded machine: the size limit,
		// not the 200ms timeout, must be what drops it (see the rig below).
		{"HugeHeaderLine", big, "ESL frame too large"},
		{"TooManyHeaders", strings.Repeat("X-A: b\n", 9000) + "\n", "ESL frame too large"},
		{"TruncatedBody", "Content-Type: command/reply\nContent-Length: 100\n\nshort", "deadline exceeded"},
		// An unknown type is skipped; the reply after it is read: it names
		// no channel, so parkd says so and closes.
		{"UnknownTypeThenReply", "Content-Type: log/data\nContent-Length: 5\n\nhello" +
			"Content-Type: command/reply\nReply-Text: +OK\nUnique-ID: not-a-uuid\n\n", "not a channel"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			timeout := 200 * time.Millisecond
			if len(tc.send) > 1<<20 {
				timeout = 5 * time.Second // the write itself may outlast 200ms
			}
			r := startOutboundRig(t, timeout)
			p := dialPeer(t, r.addr, true)
			go func() { _, _ = io.WriteString(p.nc, tc.send) }() // parkd may hang up mid-write
			if got := r.goodPark(); got > time.Second {
				t.Errorf("good call took %v beside the hostile peer", got)
			}
			if got := p.dropped(2 * time.Second); got > time.Second {
				t.Errorf("dropped after %v", got)
			}
			r.log.waitLog(t, 1, `"level":"warn"`, "outbound connection", tc.log)
			if got := r.park.parked.Load(); got != 1 {
				t.Errorf("%d parks, want the good call's only", got)
			}
		})
	}
}

// Ensure a peer that floods events without ever answering is dropped and
// does not stall a good call placed during the flood.
func TestHostile_EventFlood(t *testing.T) {
	r := startOutboundRig(t, 200*time.Millisecond)
	p := dialPeer(t, r.addr, true)
	ev := esl.AppendFrame(nil, esl.EventFrame(esl.Event{Headers: esl.Headers{
		{Name: "Event-Name", Value: "CUSTOM"}, {Name: "Unique-ID", Value: "0c9f5a1e-8a7b-4c1d-9e2f-3a4b5c6d7e8f"},
		{Name: "Event-Subclass", Value: "flood::" + strings.Repeat("x", 100)},
	}}))
	burst := bytes.Repeat(ev, 1000)
	sent := make(chan int, 1)
	go func() {
		n := 0
		for ; n < 1000; n++ { // up to a million events
			if _, err := p.nc.Write(burst); err != nil {
				break
			}
		}
		sent <- n * 1000
	}()
	if got := r.goodPark(); got > time.Second {
		t.Errorf("good call took %v during the flood", got)
	}
	if got := p.dropped(3 * time.Second); got > 2*time.Second {
		t.Errorf("flooding peer dropped after %v", got)
	}
	select {
	case n := <-sent:
		if n >= 1000*1000 {
			t.Errorf("parkd read all %d events and kept the connection", n)
		}
		t.Logf("flooder was cut off after writing fewer than %d events", n+1000)
	case <-time.After(3 * time.Second):
		t.Error("flood writer still writing after the connection was dropped")
	}
	r.log.waitLog(t, 1, "outbound connection: no channel data")
}

// Ensure a connection whose events outrun their handler is dropped once
// MaxQueued events wait, with an error logged, and its commands fail fast.
func TestHostile_EventQueueOverflow(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		accepted <- nc
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	defer peer.Close()
	log := &logBuffer{}
	release := make(chan struct{})
	var delivered atomic.Int32
	c := esl.NewConn(nc, nil, esl.ConnOptions{
		Logger: zerolog.New(log), Timeout: time.Second, MaxQueued: 100,
		OnEvent: func(esl.Event) { delivered.Add(1); <-release },
	})
	defer c.Close()
	defer close(release) // before Close: the event goroutine must finish

	ev := esl.AppendFrame(nil, esl.EventFrame(esl.Event{Headers: esl.Headers{{Name: "Event-Name", Value: "HEARTBEAT"}}}))
	go func() { _, _ = peer.Write(bytes.Repeat(ev, 1000)) }()
	select {
	case <-c.Done():
	case <-time.After(3 * time.Second):
		t.Fatal("connection not dropped with 1000 events waiting and MaxQueued 100")
	}
	if got, want := c.Err(), esl.ErrEventFlood; !errors.Is(got, want) {
		t.Fatalf("Err()=%v, want %v", got, want)
	}
	start := time.Now()
	if _, err := c.Send(context.Background(), command.API{Command: "status"}); !errors.Is(err, esl.ErrEventFlood) || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("Send after the flood: %v after %v, want ErrEventFlood at once", err, time.Since(start))
	}
	if got := log.count(`"level":"error"`, "event flood"); got != 1 {
		t.Fatalf("%d \"event flood\" error lines, want 1; log:\n%s", got, log.String())
	}
	// The handler is stuck on the first event it got, if any: nothing
	// beyond it may have been delivered.
	if got := delivered.Load(); got > 1 {
		t.Fatalf("%d events delivered while the handler was stuck, want at most 1", got)
	}
}

// Ensure 200 idle connections at once do not keep a good call from being
// served, and are all dropped after the Timeout.
func TestHostile_ManyIdleConnections(t *testing.T) {
	const idle = 200
	r := startOutboundRig(t, time.Second)
	peers := make([]*hostilePeer, idle)
	for i := range peers {
		peers[i] = dialPeer(t, r.addr, false)
	}
	if got := r.goodPark(); got > 500*time.Millisecond {
		t.Errorf("good call took %v beside %d idle connections", got, idle)
	}
	var wg sync.WaitGroup
	var slow atomic.Int32
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.nc.SetReadDeadline(time.Now().Add(4 * time.Second))
			if _, err := io.Copy(io.Discard, p.nc); err != nil {
				slow.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := slow.Load(); got != 0 {
		t.Fatalf("%d of %d idle connections still open 4s after connecting (Timeout 1s)", got, idle)
	}
	r.log.waitLog(t, idle, `"level":"warn"`, "outbound connection: no channel data")
}

// fakeFreeSWITCH is a scripted inbound event socket: every connection is
// handed to script with its number (1, 2, ...).
type fakeFreeSWITCH struct {
	ln       net.Listener
	attempts atomic.Int32
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startFakeFreeSWITCH(t *testing.T, script func(nc net.Conn, r *esl.Reader, n int)) *fakeFreeSWITCH {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeFreeSWITCH{ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(f.attempts.Add(1))
			f.mu.Lock()
			f.conns = append(f.conns, nc)
			f.mu.Unlock()
			f.wg.Add(1)
			go func() {
				defer f.wg.Done()
				script(nc, esl.NewReader(nc), n)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, nc := range f.conns {
			nc.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
	})
	return f
}

// authenticate plays FreeSWITCH's greeting, accepts any password and the
// event subscription. It reports whether the client got that far.
func authenticate(nc net.Conn, r *esl.Reader) bool {
	if _, err := io.WriteString(nc, "Content-Type: auth/request\n\n"); err != nil {
		return false
	}
	// auth, then any filters, then event: each answered +OK.
	for want := "auth "; ; {
		cmd, err := r.ReadCommand()
		if err != nil || !strings.HasPrefix(cmd.Line, want) && !(want == "event " && strings.HasPrefix(cmd.Line, "filter ")) {
			return false
		}
		if _, err := io.WriteString(nc, "Content-Type: command/reply\nReply-Text: +OK accepted\n\n"); err != nil {
			return false
		}
		if strings.HasPrefix(cmd.Line, "event ") {
			return true
		}
		want = "event "
	}
}

// drain reads and ignores commands until the connection closes.
func drain(r *esl.Reader) {
	for {
		if _, err := r.ReadCommand(); err != nil {
			return
		}
	}
}

// Ensure the inbound client survives a FreeSWITCH that misbehaves after
// (or instead of) authentication: it notices, reconnects, backs off when
// it cannot connect, logs why, and never panics.
func TestHostile_InboundPeer(t *testing.T) {
	const rude = "Content-Type: text/rude-rejection\nContent-Length: 24\n\nAccess Denied, go away.\n"
	for _, tc := range []struct {
		name    string
		script  func(nc net.Conn, r *esl.Reader)
		log     string // in the warning about the lost or failed connection
		backoff bool   // the client never connects: attempts must back off
	}{
		{"NegativeContentLength", func(nc net.Conn, r *esl.Reader) {
			if authenticate(nc, r) {
				io.WriteString(nc, "Content-Type: api/response\nContent-Length: -1\n\n")
				drain(r)
			}
		}, "malformed ESL frame", false},
		{"RudeRejectionAfterAuth", func(nc net.Conn, r *esl.Reader) {
			if authenticate(nc, r) {
				io.WriteString(nc, rude)
				drain(r)
			}
		}, "rejected by FreeSWITCH: Access Denied", false},
		{"HalfOpen", func(nc net.Conn, r *esl.Reader) {
			if authenticate(nc, r) {
				drain(r) // reads the liveness probe, never answers
			}
		}, "did not answer the liveness probe", false},
		{"RudeRejection", func(nc net.Conn, r *esl.Reader) {
			io.WriteString(nc, rude)
			nc.Close()
		}, "unexpected greeting", true},
		{"Mute", func(nc net.Conn, r *esl.Reader) {
			drain(r) // accepts, never greets
		}, "read greeting", true},
		{"GreetingNegativeContentLength", func(nc net.Conn, r *esl.Reader) {
			io.WriteString(nc, "Content-Type: auth/request\nContent-Length: -1\n\n")
			drain(r)
		}, "malformed ESL frame", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := startFakeFreeSWITCH(t, func(nc net.Conn, r *esl.Reader, _ int) { tc.script(nc, r) })
			log := &logBuffer{}
			c := esl.NewClient(fs.ln.Addr().String(), "ClueCon")
			c.Calls = &recordingCalls{}
			c.Logger = zerolog.New(log)
			c.Timeout, c.ProbeEvery = 100*time.Millisecond, 30*time.Millisecond
			c.MinBackoff, c.MaxBackoff = 20*time.Millisecond, 160*time.Millisecond
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			t.Cleanup(func() {
				cancel()
				select {
				case err := <-done:
					if !errors.Is(err, context.Canceled) {
						t.Errorf("Run returned %v, want context.Canceled", err)
					}
				case <-time.After(3 * time.Second):
					t.Error("Run did not return after its context ended")
				}
			})

			const window = 700 * time.Millisecond
			time.Sleep(window)
			got := int(fs.attempts.Load())
			if got < 3 {
				t.Fatalf("%d connection attempts in %v, want at least 3 (reconnecting)\nlog:\n%s", got, window, log.String())
			}
			if tc.backoff && got > 25 {
				t.Fatalf("%d connection attempts in %v with backoff 20ms-160ms, want at most 25", got, window)
			}
			t.Logf("%d connection attempts in %v", got, window)
			if log.count(`"level":"warn"`, tc.log) == 0 {
				t.Fatalf("no warning with %q; log:\n%s", tc.log, log.String())
			}
			if tc.backoff {
				if _, err := c.Survey(context.Background(), nil); !errors.Is(err, esl.ErrNotConnected) {
					t.Fatalf("Survey while never connected: %v, want ErrNotConnected", err)
				}
			}
		})
	}
}
