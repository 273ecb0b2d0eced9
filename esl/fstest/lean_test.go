package fstest

import (
	"bytes"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
)

// Events nobody can receive are not built, but they still take their
// Event-Sequence numbers: a subscriber sees the same numbers as it would
// have if every event had been built.
func TestUnwantedEventsKeepSequence(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	obs := dialInbound(t, s)
	obs.cmd("event plain CHANNEL_PARK")
	gap := func(ch *Channel) int {
		ev1, _ := obs.waitEvent("CHANNEL_PARK", ch.UUID())
		obs.api("uuid_transfer " + ch.UUID() + " park inline") // events nobody wants, then a CHANNEL_PARK
		ev2, _ := obs.waitEvent("CHANNEL_PARK", ch.UUID())
		a, _ := strconv.Atoi(ev1.Get("Event-Sequence"))
		b, _ := strconv.Atoi(ev2.Get("Event-Sequence"))
		return b - a
	}
	d1 := gap(p.quietCall(s, "a"))

	// The same steps with a subscriber to everything, which makes every
	// event be built: the sequence must advance by as much.
	all := dialInbound(t, s)
	all.cmd("event plain ALL")
	d2 := gap(p.quietCall(s, "b"))
	if d1 <= 1 || d1 != d2 {
		t.Fatalf("sequence gaps: %d without other subscribers, %d with one to ALL (want equal and > 1)", d1, d2)
	}
}

// A filter on a header other than Event-Name or Unique-ID cannot be judged
// before the event is built: such a subscriber still gets its events.
func TestFilterOnOtherHeaderStillDelivered(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	obs := dialInbound(t, s)
	obs.cmd("event plain CHANNEL_PARK CHANNEL_ANSWER")
	obs.cmd("filter Caller-Caller-ID-Number 2002")
	obs.cmd("filter Event-Name CHANNEL_ANSWER")
	ch1 := p.quietCall(s, "1001")
	ch2 := p.quietCall(s, "2002")
	ev, _ := obs.waitEvent("CHANNEL_PARK", "")
	if ev.UniqueID() != ch2.UUID() {
		t.Fatalf("CHANNEL_PARK of %s, want only %s's (1001's is %s)", ev.UniqueID(), ch2.UUID(), ch1.UUID())
	}
	obs.api("uuid_transfer " + ch1.UUID() + " answer inline")
	if ev, _ := obs.waitEvent("CHANNEL_ANSWER", ""); ev.UniqueID() != ch1.UUID() {
		t.Fatalf("CHANNEL_ANSWER of %s, want %s (filter on Event-Name)", ev.UniqueID(), ch1.UUID())
	}
}

// quietCall makes a call whose socket asks for no events, so that only
// inbound subscribers may want any of its events.
func (p *parkd) quietCall(s *Switch, num string) *Channel {
	p.t.Helper()
	ch, err := s.Call(CallSpec{CallerNumber: num, SocketAddr: p.addr()})
	if err != nil {
		p.t.Fatal(err)
	}
	nc, err := p.ln.Accept()
	if err != nil {
		p.t.Fatal(err)
	}
	c := newClient(p.t, nc)
	c.send("connect")
	c.read()
	return ch
}

func TestForget(t *testing.T) {
	s := Start(t, Options{Forget: true})
	p := newParkd(t)
	ch, c, _ := p.call(s, CallSpec{CallerNumber: "x"})
	c.api("uuid_exists " + ch.UUID())
	if s.Channel(ch.UUID()) != ch {
		t.Fatal("a live channel must be found")
	}
	ch.Hangup("")
	waitFor(t, ch, "hung up", dead)
	if got := s.Channel(ch.UUID()); got != nil {
		t.Fatal("Forget: a destroyed channel is still kept")
	}
	if st := ch.State(); st.Alive || st.UUID != ch.UUID() {
		t.Fatalf("the caller's handle must keep working: %+v", st)
	}
	if cmds := s.Commands(); len(cmds) != 0 {
		t.Fatalf("Forget: commands kept: %q", cmds)
	}
}

func TestListenAddr(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := Start(t, Options{Addr: addr})
	if s.Addr() != addr {
		t.Fatalf("Addr() = %s, want %s", s.Addr(), addr)
	}
	dialInbound(t, s)
	if _, err := New(Options{Addr: addr}); err == nil {
		t.Fatal("a second switch on a taken address must fail")
	}
}

// Subscriptions are indexed by their myevents channel: a socket that
// drops myevents and subscribes to everything gets other channels' events,
// and one with myevents gets only its own.
func TestSubscriptionIndex(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	ch1, c1, _ := p.call(s, CallSpec{CallerNumber: "a"}) // myevents on ch1
	ch2, c2, _ := p.call(s, CallSpec{CallerNumber: "b"}) // myevents on ch2
	if got := c2.cmd("noevents"); got != "+OK no longer listening for events" {
		t.Fatalf("noevents: %q", got)
	}
	c2.cmd("event plain CHANNEL_PARK")
	c1.api("uuid_transfer " + ch1.UUID() + " park inline")
	if ev, _ := c2.waitEvent("CHANNEL_PARK", ch1.UUID()); ev.UniqueID() != ch1.UUID() {
		t.Fatalf("broad subscriber got %s", ev.UniqueID())
	}
	c1.waitEvent("CHANNEL_PARK", ch1.UUID())               // c1's own, from the first transfer
	c1.api("uuid_transfer " + ch2.UUID() + " park inline") // not for c1
	c1.api("uuid_transfer " + ch1.UUID() + " park inline")
	ev, _ := c1.waitEvent("CHANNEL_PARK", "")
	if ev.UniqueID() != ch1.UUID() {
		t.Fatalf("myevents socket of %s got an event of %s", ch1.UUID(), ev.UniqueID())
	}
}

// Ensure OnWrite reports every frame written, once written, named like
// OnCommand names the connection, and tells replies from events.
func TestOnWrite(t *testing.T) {
	type write struct {
		conn  string
		reply bool
		event string
	}
	var mu sync.Mutex
	var writes []write
	s := Start(t, Options{OnWrite: func(conn string, frame []byte, reply bool, _ time.Time) {
		ev := ""
		if _, rest, ok := strings.Cut(string(frame), "\nEvent-Name: "); ok {
			ev, _, _ = strings.Cut(rest, "\n")
		}
		mu.Lock()
		writes = append(writes, write{conn, reply, ev})
		mu.Unlock()
	}})
	p := newParkd(t)
	in := dialInbound(t, s) // auth/request, then the auth reply
	ch, c, _ := p.call(s, CallSpec{CallerNumber: "x"})
	c.answer(ch.UUID())
	in.api("status")

	// The hook runs after the write, so a client may read a frame before
	// it is reported: wait for each count.
	count := func(w write) int {
		mu.Lock()
		defer mu.Unlock()
		n := 0
		for _, x := range writes {
			if x == w {
				n++
			}
		}
		return n
	}
	// waitCount waits for at least want reports of w, then checks that
	// there are exactly want of them, unless atLeast.
	waitCount := func(w write, want int, atLeast bool, what string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); count(w) < want && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n := count(w); n < want || (!atLeast && n != want) {
			mu.Lock()
			defer mu.Unlock()
			t.Errorf("%d %s, want %d: %+v", n, what, want, writes)
		}
	}
	waitCount(write{"in", true, ""}, 3, false, "replies on the inbound socket (auth/request, auth, api status)")
	waitCount(write{ch.UUID(), true, ""}, 4, false, "replies on the call's socket (connect, myevents, linger, sendmsg)")
	waitCount(write{ch.UUID(), false, "CHANNEL_EXECUTE_COMPLETE"}, 1, true, "EXECUTE_COMPLETE events on the call's socket")
}

// Ensure an api response is framed as esl.AppendFrame frames one.
func TestAPIResponseFrame(t *testing.T) {
	for _, body := range []string{"+OK\n", "", "-ERR No such channel!\n", strings.Repeat("x", 70000)} {
		want := esl.AppendFrame(nil, esl.Frame{
			Headers: esl.Headers{{Name: "Content-Type", Value: esl.TypeAPIResponse}, {Name: "Content-Length", Value: strconv.Itoa(len(body))}},
			Body:    []byte(body),
		})
		if got := apiResponse(body); !bytes.Equal(got, want) {
			t.Errorf("apiResponse(%q)=%q, want %q", clipped(body), clipped(string(got)), clipped(string(want)))
		}
	}
}

func clipped(s string) string { return s[:min(len(s), 60)] }
