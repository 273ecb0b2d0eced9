package interop

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
)

// observedEvents is what the observer subscribes to: FreeSWITCH's own view
// of every channel. DTMF is among them so that the outside pick-up tests
// can see how each digit reached the switch (DTMF-Source: RTP for RFC 2833,
// ENDPOINT for SIP INFO, APP for uuid_recv_dtmf); FreeSWITCH fires it as
// the digit is read from the channel (switch_channel_dequeue_dtmf).
const observedEvents = "CHANNEL_CREATE CHANNEL_ANSWER CHANNEL_STATE CHANNEL_CALLSTATE CHANNEL_PARK CHANNEL_UNPARK " +
	"CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_BRIDGE CHANNEL_UNBRIDGE CHANNEL_HANGUP " +
	"CHANNEL_HANGUP_COMPLETE CHANNEL_DESTROY CHANNEL_ORIGINATE CHANNEL_PROGRESS BACKGROUND_JOB " +
	"PRESENCE_IN PRESENCE_PROBE DTMF"

// observer is an inbound event-socket connection of the suite's own: it
// records every event and runs api commands. Every frame is written to a
// transcript (">>" sent, "<<" received).
type observer struct {
	nc      net.Conn
	replies chan esl.Frame
	cmdMu   sync.Mutex

	mu     sync.Mutex
	cond   *sync.Cond
	events []obsEvent
	closed bool

	trMu sync.Mutex
	tr   *os.File
	t0   time.Time
}

type obsEvent struct {
	At time.Time
	esl.Event
}

func dialObserver(addr, password, transcript string) (*observer, error) {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	tr, err := os.Create(transcript)
	if err != nil {
		nc.Close()
		return nil, err
	}
	o := &observer{nc: nc, replies: make(chan esl.Frame, 16), tr: tr, t0: time.Now()}
	o.cond = sync.NewCond(&o.mu)
	r := esl.NewReader(nc)
	f, err := r.ReadFrame()
	if err != nil || f.ContentType() != "auth/request" {
		nc.Close()
		return nil, fmt.Errorf("no auth/request from FreeSWITCH (%v)", err)
	}
	o.trace("<<", f)
	go o.readLoop(r)
	if reply := o.cmd("auth " + password); !strings.HasPrefix(reply.Headers.Get("Reply-Text"), "+OK") {
		o.close()
		return nil, fmt.Errorf("auth: %q", reply.Headers.Get("Reply-Text"))
	}
	if reply := o.cmd("event plain " + observedEvents); !strings.HasPrefix(reply.Headers.Get("Reply-Text"), "+OK") {
		o.close()
		return nil, fmt.Errorf("event: %q", reply.Headers.Get("Reply-Text"))
	}
	return o, nil
}

func (o *observer) trace(dir string, f esl.Frame) {
	o.trMu.Lock()
	defer o.trMu.Unlock()
	fmt.Fprintf(o.tr, "## t=%.3f\n", time.Since(o.t0).Seconds())
	b := esl.AppendFrame(nil, f)
	for _, l := range strings.SplitAfter(string(b), "\n") {
		if l != "" {
			fmt.Fprintf(o.tr, "%s %s", dir, l)
		}
	}
	if len(b) > 0 && b[len(b)-1] != '\n' {
		fmt.Fprintln(o.tr)
	}
}

func (o *observer) note(format string, args ...any) {
	o.trMu.Lock()
	defer o.trMu.Unlock()
	fmt.Fprintf(o.tr, "## t=%.3f %s\n", time.Since(o.t0).Seconds(), fmt.Sprintf(format, args...))
}

func (o *observer) readLoop(r *esl.Reader) {
	defer func() {
		o.mu.Lock()
		o.closed = true
		o.cond.Broadcast()
		o.mu.Unlock()
		close(o.replies)
	}()
	for {
		f, err := r.ReadFrame()
		if err != nil {
			return
		}
		o.trace("<<", f)
		switch f.ContentType() {
		case "text/event-plain":
			ev, err := esl.ParseEvent(f.Body)
			if err != nil {
				continue
			}
			o.mu.Lock()
			o.events = append(o.events, obsEvent{At: time.Now(), Event: ev})
			o.cond.Broadcast()
			o.mu.Unlock()
		case "command/reply", "api/response":
			o.replies <- f
		}
	}
}

// cmd sends one command and returns its reply frame.
func (o *observer) cmd(line string) esl.Frame {
	o.cmdMu.Lock()
	defer o.cmdMu.Unlock()
	o.trMu.Lock()
	fmt.Fprintf(o.tr, "## t=%.3f\n>> %s\n>>\n", time.Since(o.t0).Seconds(), line)
	o.trMu.Unlock()
	_ = o.nc.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if _, err := o.nc.Write([]byte(line + "\n\n")); err != nil {
		return esl.Frame{}
	}
	select {
	case f := <-o.replies:
		return f
	case <-time.After(20 * time.Second):
		return esl.Frame{}
	}
}

// api runs an api command and returns its body.
func (o *observer) api(line string) string {
	return string(o.cmd("api " + line).Body)
}

func (o *observer) close() {
	_, _ = o.nc.Write([]byte("exit\n\n"))
	_ = o.nc.Close()
	o.trMu.Lock()
	_ = o.tr.Close()
	o.trMu.Unlock()
}

// mark is an index into the event log; waits look at events from a mark on.
func (o *observer) mark() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.events)
}

// wait returns the first event from index from on that matches, or fails t.
func (o *observer) wait(t *testing.T, from int, timeout time.Duration, what string, match func(obsEvent) bool) obsEvent {
	t.Helper()
	ev, ok := o.waitOK(from, timeout, match)
	if !ok {
		t.Fatalf("FreeSWITCH: no %s within %v", what, timeout)
	}
	return ev
}

func (o *observer) waitOK(from int, timeout time.Duration, match func(obsEvent) bool) (obsEvent, bool) {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { o.mu.Lock(); o.cond.Broadcast(); o.mu.Unlock() })
	defer timer.Stop()
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := from; ; {
		for ; i < len(o.events); i++ {
			if match(o.events[i]) {
				return o.events[i], true
			}
		}
		if o.closed || !time.Now().Before(deadline) {
			return obsEvent{}, false
		}
		o.cond.Wait()
	}
}

// since returns the events from index from on that match.
func (o *observer) since(from int, match func(obsEvent) bool) []obsEvent {
	o.mu.Lock()
	defer o.mu.Unlock()
	var out []obsEvent
	for _, e := range o.events[min(from, len(o.events)):] {
		if match == nil || match(e) {
			out = append(out, e)
		}
	}
	return out
}

// is matches an event by name, channel and header values.
func is(name, uuid string, kv ...string) func(obsEvent) bool {
	return func(e obsEvent) bool {
		if e.Name() != name || (uuid != "" && e.UniqueID() != uuid) {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if e.Get(kv[i]) != kv[i+1] {
				return false
			}
		}
		return true
	}
}

// channelRows is `show channels as json`.
func (o *observer) channelRows() []map[string]any {
	var v struct {
		RowCount int              `json:"row_count"`
		Rows     []map[string]any `json:"rows"`
	}
	_ = json.Unmarshal([]byte(o.api("show channels as json")), &v)
	return v.Rows
}

// channelRow is the `show channels` row of uuid, or nil.
func (o *observer) channelRow(uuid string) map[string]any {
	for _, r := range o.channelRows() {
		if r["uuid"] == uuid {
			return r
		}
	}
	return nil
}

// exists is uuid_exists.
func (o *observer) exists(uuid string) bool {
	return strings.TrimSpace(o.api("uuid_exists "+uuid)) == "true"
}

// getvar is uuid_getvar; "" for _undef_.
func (o *observer) getvar(uuid, name string) string {
	v := strings.TrimSpace(o.api("uuid_getvar " + uuid + " " + name))
	if v == "_undef_" || strings.HasPrefix(v, "-ERR") {
		return ""
	}
	return v
}

// summary lists the observed events of uuid, for failure messages.
func (o *observer) summary(from int, uuid string) string {
	var b strings.Builder
	for _, e := range o.since(from, func(e obsEvent) bool { return uuid == "" || e.UniqueID() == uuid }) {
		s := e.Name()
		switch e.Name() {
		case "CHANNEL_STATE":
			s += "(" + e.Get("Channel-State") + ")"
		case "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE":
			s += "(" + e.Get("Application") + " " + e.Get("Application-Data") + ")"
			if r := e.Get("Application-Response"); r != "" && e.Name() == "CHANNEL_EXECUTE_COMPLETE" {
				s += "=" + r
			}
		case "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE":
			s += "(" + e.Get("Hangup-Cause") + ")"
		case "DTMF":
			s += "(" + e.Get("DTMF-Source") + ")"
		case "CHANNEL_CALLSTATE":
			continue
		}
		b.WriteString(s + " ")
	}
	return b.String()
}
