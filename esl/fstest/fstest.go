// Package fstest is a FreeSWITCH simulator for tests, as net/http/httptest is
// for HTTP: an inbound event socket (FreeSWITCH's :8021), the outbound
// `socket <addr> async full` dialplan application dialling the code under
// test, channels with the park, music, bridge and hangup behaviour measured on
// a real FreeSWITCH 1.11.3 (docs/freeswitch.md states each behaviour), scripted
// SIP endpoints for originate, and faults (dropped connections, restarts).
//
// Every frame is written with the codec in package esl, so what a client
// reads is byte-for-byte what FreeSWITCH sends for the same flow, minus the
// headers a test cannot care about (SIP details, RTP statistics).
//
// The model runs under one lock: every event is generated in one global
// order and queued to each subscribed connection, so the relative order of
// events, replies and notices on a connection is deterministic.
package fstest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
)

// Options configure a Switch. The zero value is usable.
type Options struct {
	// Password is the inbound ESL password, default "ClueCon".
	Password string
	// Addr is where the inbound event socket listens, default
	// "127.0.0.1:0" (a random loopback port).
	Addr string
	// Hostname is FreeSWITCH-Hostname and FreeSWITCH-Switchname, default "fstest".
	Hostname string
	// PlaybackTime is how long a finite playback, say or tone takes,
	// default 20ms so tests go fast.
	PlaybackTime time.Duration
	// Trace, if set, receives every frame in and out with a connection label.
	Trace io.Writer
	// ConnectTimeout is how long the socket application waits for the
	// client's first command, default 25s as in FreeSWITCH.
	ConnectTimeout time.Duration
	// HangupAfterNotice makes a lingering outbound socket get the linger
	// disconnect notice before CHANNEL_HANGUP instead of after it. Real
	// FreeSWITCH produces both orders (the channel state changes before
	// CHANNEL_HANGUP is fired).
	HangupAfterNotice bool
	// BridgeFailDelay is how long after uuid_bridge an unanswered second leg
	// fails (about 40ms: docs/freeswitch.md#unanswered-retriever-kills-both).
	// Default 40ms.
	BridgeFailDelay time.Duration
	// OnCommand, if set, is called with every command line a client sends,
	// as soon as it is read and before the switch acts on it: conn is "in"
	// for an inbound event socket and the controlled channel's UUID for an
	// outbound one. at is when the command arrived, not when the switch got
	// round to reading it: on Linux the kernel's receive time of the read
	// that carried its last byte (SO_TIMESTAMPNS), elsewhere the read's
	// time. It runs on the connection's reader and must neither block nor
	// call the Switch. Load tools use it to time the code under test; it
	// changes nothing the switch does.
	OnCommand func(conn, line string, at time.Time)
	// OnConnect, if set, is called once Call's TCP connection to the code
	// under test is made, with the channel's UUID and the time the dial
	// began; the same rules as OnCommand apply.
	OnConnect func(uuid string, at time.Time)
	// OnWrite, if set, is called with every frame the switch writes to a
	// client, once written: conn as for OnCommand, reply true for a
	// command/reply or api/response and false for an event or notice. The
	// frame must not be kept or changed; the same rules as OnCommand
	// apply. With OnCommand it lets a load tool tell the switch's time to
	// answer from the client's.
	OnWrite func(conn string, frame []byte, reply bool, at time.Time)
	// ListLag leaves channels younger than this out of `show channels`
	// and `show calls`, which FreeSWITCH answers from its core database:
	// that lags behind new channels, most on a freshly started switch.
	// Other commands see every channel. Default 0: no lag.
	ListLag time.Duration
	// Forget drops a channel from Channel once it is destroyed and keeps
	// no command log (Commands returns nothing), so that a long load run
	// does not grow the switch's memory with every call it ever made.
	// Handles returned by Call keep working.
	Forget bool
	// Valet says mod_valet_parking is loaded (`module_exists`).
	Valet bool
	// Domain is the switch's `global_getvar domain`, default "127.0.0.1".
	Domain string
}

// Switch is a simulated FreeSWITCH. Create it with New or Start.
type Switch struct {
	opts Options
	ln   net.Listener

	mu       sync.Mutex
	closed   bool
	done     chan struct{} // closed by Close
	coreUUID string
	seq      uint64
	started  time.Time
	sessions int // sessions since startup

	channels map[string]*Channel // live
	all      map[string]*Channel // every channel ever created, for Channel()
	order    []*Channel          // channels in creation order: the live ones, and destroyed ones not yet dropped (see live)
	unlisted int                 // destroyed channels still in order

	conns     map[*conn]struct{}
	broad     map[*conn]struct{}            // conns without myevents
	mine      map[string]map[*conn]struct{} // conns by myevents UUID
	commands  []string
	endpoints map[string]Endpoint
	invites   []Invite
	timers    map[*timer]struct{}
	pres      presenceState // PRESENCE_IN received (presence.go)
	// extensions, peers and inbound model a few dialplan extensions and
	// SIP between switches (peer.go).
	extensions map[string]Extension
	registered sync.Map // user → Endpoint, as Register set it: read by peers without s.mu
	peers      map[string]*Switch
	inbound    Inbound

	traceMu sync.Mutex
	connSeq int

	wg sync.WaitGroup
}

// New starts a Switch with its inbound event socket on opts.Addr, by default
// 127.0.0.1 and a random port.
func New(opts Options) (*Switch, error) {
	if opts.Password == "" {
		opts.Password = "ClueCon"
	}
	if opts.Hostname == "" {
		opts.Hostname = "fstest"
	}
	if opts.PlaybackTime <= 0 {
		opts.PlaybackTime = 20 * time.Millisecond
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 25 * time.Second
	}
	if opts.BridgeFailDelay <= 0 {
		opts.BridgeFailDelay = 40 * time.Millisecond
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Domain == "" {
		opts.Domain = "127.0.0.1"
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("fstest: listen: %w", err)
	}
	s := &Switch{
		opts:      opts,
		ln:        ln,
		coreUUID:  esl.NewUUID(),
		done:      make(chan struct{}),
		started:   time.Now(),
		channels:  map[string]*Channel{},
		all:       map[string]*Channel{},
		conns:     map[*conn]struct{}{},
		broad:     map[*conn]struct{}{},
		mine:      map[string]map[*conn]struct{}{},
		endpoints: map[string]Endpoint{},
		timers:    map[*timer]struct{}{},
	}
	s.wg.Add(1)
	go s.acceptLoop()
	return s, nil
}

// Start is New for tests: it registers Close with tb.Cleanup and fails the
// test if the switch cannot start.
func Start(tb testing.TB, opts Options) *Switch {
	tb.Helper()
	s, err := New(opts)
	if err != nil {
		tb.Fatalf("fstest.Start: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

// Addr returns the inbound event socket address, such as "127.0.0.1:port".
func (s *Switch) Addr() string { return s.ln.Addr().String() }

// Close stops the listener, drops every connection and channel without
// events, and waits for all goroutines of the switch to end.
func (s *Switch) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	err := s.ln.Close()
	for t := range s.timers {
		if t.t.Stop() {
			s.wg.Done()
		}
		delete(s.timers, t)
	}
	for c := range s.conns {
		c.kill()
	}
	for _, ch := range s.channels {
		ch.alive = false
		ch.notify()
	}
	s.channels = map[string]*Channel{}
	s.order, s.unlisted = nil, 0
	s.mu.Unlock()
	s.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Commands returns every command line received so far, inbound and outbound,
// in arrival order, prefixed "in: " or "out <uuid>: ".
func (s *Switch) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.commands...)
}

// DropInbound closes every inbound event socket connection abruptly, without
// a disconnect notice. The switch keeps listening; channels are unaffected.
func (s *Switch) DropInbound() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.inbound {
			c.kill()
		}
	}
}

// Restart simulates FreeSWITCH being stopped and started
// (docs/freeswitch.md#switch-restart-kills-parked-calls): every
// inbound subscriber gets SHUTDOWN, then every channel is hung up with
// SYSTEM_SHUTDOWN (CHANNEL_UNPARK first unless it is dormant, then
// CHANNEL_HANGUP_COMPLETE), then a "The system is being shut down." notice
// and EOF. Outbound sockets are closed. Afterwards the switch listens on the
// same port with a new Core-UUID and a restarted Event-Sequence.
func (s *Switch) Restart() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("fstest: switch closed")
	}
	s.dispatch(s.newEvent("SHUTDOWN", "switch_core.c", "switch_core_destroy", 3033,
		hdr("Event-Info", "System Shutting Down")))
	for _, ch := range append([]*Channel(nil), s.live()...) {
		ch.hangup("SYSTEM_SHUTDOWN", "send_bye")
	}
	for t := range s.timers {
		if t.t.Stop() {
			s.wg.Done()
		}
		delete(s.timers, t)
	}
	for c := range s.conns {
		if c.inbound {
			c.sendNotice(disconnectNotice("", "The system is being shut down.\n"))
			c.closeAfterFlush()
		} else {
			c.kill()
		}
	}
	s.channels = map[string]*Channel{}
	s.order, s.unlisted = nil, 0
	s.coreUUID = esl.NewUUID()
	s.pres.latest, s.pres.history, s.pres.n = nil, nil, 0 // FreeSWITCH forgets every presence
	s.seq = 0
	s.started = time.Now()
	s.sessions = 0
	s.mu.Unlock()
	return nil
}

// record appends a received command line to the log. Called with s.mu held.
func (s *Switch) record(prefix, line string) {
	if s.opts.Forget {
		return
	}
	s.commands = append(s.commands, prefix+line)
}

// timer is a pending model callback.
type timer struct{ t *time.Timer }

// after runs fn under s.mu after d, unless the switch is closed first.
// Called with s.mu held.
func (s *Switch) after(d time.Duration, fn func()) *timer {
	t := &timer{}
	s.wg.Add(1)
	t.t = time.AfterFunc(d, func() {
		defer s.wg.Done()
		s.mu.Lock()
		defer s.mu.Unlock()
		if _, ok := s.timers[t]; !ok {
			return
		}
		delete(s.timers, t)
		if s.closed {
			return
		}
		fn()
	})
	s.timers[t] = struct{}{}
	return t
}

// cancel stops a pending callback. Called with s.mu held.
func (s *Switch) cancel(t *timer) {
	if t == nil {
		return
	}
	if _, ok := s.timers[t]; !ok {
		return
	}
	delete(s.timers, t)
	if t.t.Stop() {
		s.wg.Done()
	}
}

// trace writes one traced frame.
func (s *Switch) trace(label, dir string, b []byte) {
	if s.opts.Trace == nil {
		return
	}
	s.traceMu.Lock()
	defer s.traceMu.Unlock()
	var sb strings.Builder
	for _, line := range strings.Split(strings.TrimRight(string(b), "\n"), "\n") {
		fmt.Fprintf(&sb, "[%s] %s %s\n", label, dir, line)
	}
	_, _ = io.WriteString(s.opts.Trace, sb.String())
}
