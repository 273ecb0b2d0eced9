package fstest

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
)

// client is a minimal event-socket client for the tests.
type client struct {
	t  *testing.T
	nc net.Conn
	r  *esl.Reader
}

func newClient(t *testing.T, nc net.Conn) *client {
	t.Helper()
	t.Cleanup(func() { _ = nc.Close() })
	return &client{t: t, nc: nc, r: esl.NewReader(nc)}
}

// dialInbound connects to the inbound socket and authenticates.
func dialInbound(t *testing.T, s *Switch) *client {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, nc)
	if f := c.read(); f.ContentType() != esl.TypeAuthRequest {
		t.Fatalf("first frame %v", f.Headers)
	}
	if got := c.cmd("auth ClueCon"); got != "+OK accepted" {
		t.Fatalf("auth: %q", got)
	}
	return c
}

// send writes a command as eslgo does: CR LF line ends, blank line after.
func (c *client) send(lines ...string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(strings.Join(lines, "\r\n") + "\r\n\r\n")); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *client) read() esl.Frame {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := c.r.ReadFrame()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// next returns the next frame that is not an event, skipping events.
func (c *client) next() esl.Frame {
	c.t.Helper()
	for {
		if f := c.read(); f.ContentType() != esl.TypeEventPlain {
			return f
		}
	}
}

// cmd sends a command and returns its Reply-Text.
func (c *client) cmd(lines ...string) string {
	c.t.Helper()
	c.send(lines...)
	f := c.next()
	if f.ContentType() != esl.TypeReply {
		c.t.Fatalf("%q: got %v", lines[0], f.Headers)
	}
	return f.Headers.Get("Reply-Text")
}

// api sends "api ..." and returns the body.
func (c *client) api(line string) string {
	c.t.Helper()
	c.send("api " + line)
	f := c.next()
	if f.ContentType() != esl.TypeAPIResponse {
		c.t.Fatalf("api %q: got %v", line, f.Headers)
	}
	return string(f.Body)
}

// event parses an event frame.
func (c *client) event(f esl.Frame) esl.Event {
	c.t.Helper()
	ev, err := esl.ParseEvent(f.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return ev
}

// waitEvent reads until an event named name (and matching uuid, if set)
// arrives; frames in between are returned too.
func (c *client) waitEvent(name, uuid string) (esl.Event, []esl.Frame) {
	c.t.Helper()
	var seen []esl.Frame
	for {
		f := c.read()
		seen = append(seen, f)
		if f.ContentType() != esl.TypeEventPlain {
			continue
		}
		ev := c.event(f)
		if ev.Name() == name && (uuid == "" || ev.UniqueID() == uuid) {
			return ev, seen
		}
	}
}

// expectEOF reads until the connection ends, returning the frames.
func (c *client) expectEOF() []esl.Frame {
	c.t.Helper()
	var out []esl.Frame
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		f, err := c.r.ReadFrame()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				c.t.Fatalf("no EOF: %v", err)
			}
			return out
		}
		out = append(out, f)
	}
}

// summary names frames for order assertions: event names, "reply:<text>",
// "api:<body>", "notice:<disposition>".
func (c *client) summary(fs []esl.Frame) []string {
	var out []string
	for _, f := range fs {
		switch f.ContentType() {
		case esl.TypeEventPlain:
			ev := c.event(f)
			n := ev.Name()
			if n == "CHANNEL_STATE" {
				n += ":" + ev.Get("Channel-State")
			}
			if a := ev.Get("Application"); a != "" {
				n += ":" + a
			}
			out = append(out, n)
		case esl.TypeReply:
			out = append(out, "reply:"+f.Headers.Get("Reply-Text"))
		case esl.TypeAPIResponse:
			out = append(out, "api:"+string(f.Body))
		case esl.TypeDisconnect:
			out = append(out, "notice:"+f.Headers.Get("Content-Disposition"))
		}
	}
	return out
}

// parkd is a fake outbound listener: the code under test.
type parkd struct {
	t  *testing.T
	ln net.Listener
}

func newParkd(t *testing.T) *parkd {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return &parkd{t: t, ln: ln}
}

func (p *parkd) addr() string { return p.ln.Addr().String() }

// call places a call and accepts its outbound connection, connected
// (connect, myevents, linger).
func (p *parkd) call(s *Switch, spec CallSpec) (*Channel, *client, esl.Frame) {
	p.t.Helper()
	spec.SocketAddr = p.addr()
	ch, err := s.Call(spec)
	if err != nil {
		p.t.Fatal(err)
	}
	nc, err := p.ln.Accept()
	if err != nil {
		p.t.Fatal(err)
	}
	c := newClient(p.t, nc)
	c.send("connect")
	data := c.read()
	if got := c.cmd("myevents"); got != "+OK Events Enabled" {
		p.t.Fatalf("myevents: %q", got)
	}
	if got := c.cmd("linger"); got != "+OK will linger" {
		p.t.Fatalf("linger: %q", got)
	}
	return ch, c, data
}

// answer answers the call from its socket and waits for the answer's
// EXECUTE_COMPLETE.
func (c *client) answer(uuid string) {
	c.t.Helper()
	if got := c.cmd("sendmsg "+uuid, "call-command: execute", "execute-app-name: answer", "event-lock: true"); got != "+OK" {
		c.t.Fatalf("sendmsg answer: %q", got)
	}
	for {
		ev, _ := c.waitEvent("CHANNEL_EXECUTE_COMPLETE", uuid)
		if ev.Get("Application") == "answer" {
			return
		}
	}
}

func alive(st ChannelState) bool { return st.Alive }
func dead(st ChannelState) bool  { return !st.Alive }

func waitFor(t *testing.T, ch *Channel, what string, cond func(ChannelState) bool) ChannelState {
	t.Helper()
	st, err := ch.WaitFor(3*time.Second, cond)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return st
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// inOrder reports whether want appears in got as a subsequence.
func inOrder(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}
