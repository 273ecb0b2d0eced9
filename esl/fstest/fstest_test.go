package fstest

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
)

func TestInboundAuth(t *testing.T) {
	s := Start(t, Options{})
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	c := newClient(t, nc)
	c.read() // auth/request
	if got := c.cmd("api status"); got != "-ERR command not found" {
		t.Fatalf("pre-auth api: %q", got)
	}
	if got := c.cmd("auth nope"); got != "-ERR invalid" {
		t.Fatalf("bad auth: %q", got)
	}
	fs := c.expectEOF()
	if len(fs) != 1 || fs[0].ContentType() != esl.TypeDisconnect {
		t.Fatalf("after bad auth: %v", c.summary(fs))
	}

	c = dialInbound(t, s)
	if got := c.api("uuid_exists 00000000-0000-4000-8000-000000000000"); got != "false" {
		t.Fatalf("uuid_exists: %q", got)
	}
	if got := c.api("bogus x"); got != "-ERR bogus Command not found!\n" {
		t.Fatalf("unknown api: %q", got)
	}
	if got := c.cmd("linger"); got != "-ERR not controlling a session" {
		t.Fatalf("inbound linger: %q", got)
	}
	if got := c.api("show channels as json"); got != "{\"row_count\": 0}\n" {
		t.Fatalf("empty show: %q", got)
	}
	if got := c.api("show channels count"); got != "\n0 total.\n" {
		t.Fatalf("count: %q", got)
	}
	if got := c.cmd("exit"); got != "+OK bye" {
		t.Fatalf("exit: %q", got)
	}
	fs = c.expectEOF()
	if len(fs) != 1 || string(fs[0].Body) != goodbye {
		t.Fatalf("exit notice: %v", c.summary(fs))
	}
}

func TestSubscriptionFilterAndBgapi(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	obs := dialInbound(t, s)
	if got := obs.cmd("event plain CHANNEL_PARK BACKGROUND_JOB"); got != "+OK event listener enabled plain" {
		t.Fatalf("event: %q", got)
	}
	ch1, _, _ := p.call(s, CallSpec{CallerNumber: "patient1"})
	ch2, _, _ := p.call(s, CallSpec{CallerNumber: "patient2"})
	ev, _ := obs.waitEvent("CHANNEL_PARK", "")
	if ev.UniqueID() != ch1.UUID() {
		t.Fatalf("first park %s", ev.UniqueID())
	}

	// filter: only ch2's events from now on
	if got := obs.cmd("filter Unique-ID " + ch2.UUID()); got != "+OK filter added. [Unique-ID]=["+ch2.UUID()+"]" {
		t.Fatalf("filter: %q", got)
	}
	obs.api("uuid_park " + ch1.UUID())
	obs.api("uuid_park " + ch2.UUID())
	ev, _ = obs.waitEvent("CHANNEL_PARK", "")
	if ev.UniqueID() != ch2.UUID() {
		t.Fatalf("filtered park %s", ev.UniqueID())
	}

	// bgapi: reply (with our Job-UUID) before the BACKGROUND_JOB
	obs.cmd("filter Job-UUID job-1")
	obs.send("bgapi uuid_getvar "+ch2.UUID()+" uuid", "Job-UUID: job-1")
	f := obs.next()
	if got := f.Headers.Get("Reply-Text"); got != "+OK Job-UUID: job-1" || f.Headers.Get("Job-UUID") != "job-1" {
		t.Fatalf("bgapi reply %v", f.Headers)
	}
	ev, _ = obs.waitEvent("BACKGROUND_JOB", "")
	if ev.Get("Job-UUID") != "job-1" || string(ev.Body) != ch2.UUID() || ev.Get("Job-Command") != "uuid_getvar" {
		t.Fatalf("job %v %q", ev.Headers, ev.Body)
	}
}

func TestConnectReply(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	ch, c, data := p.call(s, CallSpec{
		CallerName: "Patient", CallerNumber: "patient", Destination: "*70202",
		Vars: map[string]string{"parkd_slot": "202"}, Answered: true,
		ReferredBy: "<sip:1000@127.0.0.1>",
	})
	h := data.Headers
	if h.Get("Event-Name") != "CHANNEL_DATA" || h.Get("Unique-ID") != ch.UUID() || h.Get("Channel-State") != "CS_EXECUTE" {
		t.Fatalf("connect: %v", h[:14])
	}
	if data.Body != nil || h.Get("Content-Length") != "" {
		t.Fatal("connect reply must have no body")
	}
	if h.Get("Answer-State") != "answered" || h.Get("Caller-Destination-Number") != "*70202" {
		t.Fatalf("answer-state %q dest %q", h.Get("Answer-State"), h.Get("Caller-Destination-Number"))
	}
	if got := h.Get("variable_sip_h_Referred-By"); got != "%3Csip%3A1000%40127.0.0.1%3E" {
		t.Fatalf("Referred-By on the wire: %q", got)
	}
	if got := esl.URLDecode(h.Get("variable_parkd_slot")); got != "202" {
		t.Fatalf("parkd_slot %q", got)
	}
	if h.Get("Caller-Callee-ID-Number") != "1000" || h.Get("variable_last_sent_callee_id_number") != "1000" {
		t.Fatal("callee headers missing")
	}
	n := len(h)
	tail := []string{h[n-4].Name + ": " + h[n-4].Value, h[n-3].Name + ": " + h[n-3].Value, h[n-2].Name + ": " + h[n-2].Value, h[n-1].Name + ": " + h[n-1].Value}
	want := []string{"Content-Type: command/reply", "Reply-Text: %2BOK%0A", "Socket-Mode: async", "Control: full"}
	if strings.Join(tail, "|") != strings.Join(want, "|") {
		t.Fatalf("tail %q", tail)
	}
	if h.Get("variable_current_application") != "socket" {
		t.Fatal("current_application")
	}
	if got := c.api("uuid_getvar " + ch.UUID() + " callee_id_number"); got != "1000" {
		t.Fatalf("callee_id_number %q", got)
	}
}

// The recommended park: answer, inline endless_playback, exit
// (docs/freeswitch.md#inline-transfer-keeps-music).
func TestRecommendedPark(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	ch, c, _ := p.call(s, CallSpec{CallerNumber: "patient", Vars: map[string]string{"parkd_slot": "701"}})
	c.answer(ch.UUID())
	if got := c.api("uuid_transfer " + ch.UUID() + " endless_playback:local_stream://moh inline"); got != "+OK\n" {
		t.Fatalf("transfer: %q", got)
	}
	ev, seen := c.waitEvent("CHANNEL_EXECUTE", ch.UUID())
	want := []string{"CHANNEL_UNPARK", "CHANNEL_EXECUTE_COMPLETE:socket", "CHANNEL_STATE:CS_ROUTING", "CHANNEL_STATE:CS_EXECUTE", "CHANNEL_EXECUTE:endless_playback"}
	if got := c.summary(seen); !inOrder(got, want) || ev.Get("Application-Data") != "local_stream://moh" {
		t.Fatalf("transfer events %v", got)
	}
	if got := c.cmd("exit"); got != "+OK bye" {
		t.Fatalf("exit %q", got)
	}
	fs := c.expectEOF()
	if n := len(fs); n == 0 || fs[n-1].Headers.Get("Content-Disposition") != "disconnect" || fs[n-1].Headers.Get("Controlled-Session-UUID") != ch.UUID() || string(fs[n-1].Body) != goodbye {
		t.Fatalf("exit frames %v", c.summary(fs))
	}
	st := waitFor(t, ch, "socket gone", func(st ChannelState) bool { return !st.SocketConnected })
	time.Sleep(50 * time.Millisecond)
	st = ch.State()
	if !st.Alive || st.Hearing != "music:local_stream://moh" || st.Application != "endless_playback" {
		t.Fatalf("after exit %v", st)
	}
	// uuid_break does not stop endless_playback
	obs := dialInbound(t, s)
	obs.api("uuid_break " + ch.UUID() + " all")
	if st := ch.State(); st.Hearing != "music:local_stream://moh" {
		t.Fatalf("after break %v", st)
	}
	if got := obs.api("uuid_getvar " + ch.UUID() + " parkd_slot"); got != "701" {
		t.Fatalf("getvar %q", got)
	}
	if got := obs.api("uuid_getvar " + ch.UUID() + " nope"); got != "_undef_" {
		t.Fatalf("getvar undef %q", got)
	}
	if got := obs.api("uuid_getvar 11111111-1111-4111-8111-111111111111 x"); got != "-ERR No such channel!\n" {
		t.Fatalf("getvar unknown %q", got)
	}
	js := obs.api("show channels as json")
	if !strings.HasPrefix(js, `{"row_count":1,"rows":[{"uuid":"`+ch.UUID()+`","direction":"inbound",`) ||
		!strings.Contains(js, `"application":"endless_playback","application_data":"local_stream://moh"`) ||
		!strings.HasSuffix(js, `"initial_context":"default"}]}`) {
		t.Fatalf("show %s", js)
	}
}

// Exit with nothing done: hangup NORMAL_CLEARING; with actions after the
// socket, they run (docs/freeswitch.md#socket-close-ends-the-park-loop).
func TestSocketCloseLifecycle(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	obs := dialInbound(t, s)
	obs.cmd("event plain CHANNEL_HANGUP_COMPLETE")

	ch, c, _ := p.call(s, CallSpec{CallerNumber: "a"})
	c.answer(ch.UUID())
	c.cmd("exit")
	st := waitFor(t, ch, "hangup", dead)
	if st.HangupCause != "NORMAL_CLEARING" || len(st.Ran) != 0 {
		t.Fatalf("exit with nothing done: %v", st)
	}
	ev, _ := obs.waitEvent("CHANNEL_HANGUP_COMPLETE", ch.UUID())
	if ev.Get("variable_sip_hangup_disposition") != "send_bye" {
		t.Fatalf("disposition %q", ev.Get("variable_sip_hangup_disposition"))
	}

	// socknext: the dialplan continues after the socket (plain TCP close)
	ch, c, _ = p.call(s, CallSpec{CallerNumber: "b", AfterSocket: []string{"log x", "playback tone_stream://%(2000,0,800)", "transfer parkd_return"}})
	c.answer(ch.UUID())
	_ = c.nc.Close()
	st = waitFor(t, ch, "transfer", func(st ChannelState) bool { return st.Application == "transfer" })
	if !st.Alive || st.Destination != "parkd_return" || !contains(st.Played, "tone_stream://%(2000,0,800)") ||
		strings.Join(st.Ran, "|") != "log x|playback tone_stream://%(2000,0,800)|transfer parkd_return" {
		t.Fatalf("AfterSocket %v", st)
	}

	// sockpark: the dialplan's park runs and a broadcast is heard
	ch, c, _ = p.call(s, CallSpec{CallerNumber: "c", AfterSocket: []string{"park"}})
	c.answer(ch.UUID())
	c.cmd("exit")
	waitFor(t, ch, "parked", func(st ChannelState) bool { return st.Application == "park" })
	obs.api("uuid_broadcast " + ch.UUID() + " local_stream://moh aleg")
	waitFor(t, ch, "music", func(st ChannelState) bool { return st.Hearing == "music:local_stream://moh" })
}

// uuid_park then exit: dormant; broadcasts ignored; inline park revives
// (docs/freeswitch.md#uuid-park-goes-dormant).
func TestDormant(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	ch, c, _ := p.call(s, CallSpec{CallerNumber: "d"})
	c.answer(ch.UUID())
	if got := c.api("uuid_park " + ch.UUID()); got != "+OK\n" {
		t.Fatalf("uuid_park %q", got)
	}
	_, seen := c.waitEvent("CHANNEL_PARK", ch.UUID())
	if got := c.summary(seen); !inOrder(got, []string{"CHANNEL_UNPARK", "CHANNEL_EXECUTE_COMPLETE:socket", "CHANNEL_STATE:CS_PARK", "CHANNEL_PARK"}) {
		t.Fatalf("uuid_park events %v", got)
	}
	c.cmd("exit")
	st := waitFor(t, ch, "dormant", func(st ChannelState) bool { return st.Dormant })
	if !st.Alive || st.State != "CS_PARK" || st.Hearing != "silence" {
		t.Fatalf("dormant %v", st)
	}
	obs := dialInbound(t, s)
	if got := obs.api("uuid_broadcast " + ch.UUID() + " tone_stream://%(2000,0,1200) aleg"); got != "+OK Message sent\n" {
		t.Fatalf("broadcast %q", got)
	}
	if st := ch.State(); len(st.Played) != 0 || st.Hearing != "silence" {
		t.Fatalf("dormant played %v", st)
	}
	obs.api("uuid_transfer " + ch.UUID() + " park inline")
	st = waitFor(t, ch, "revived", func(st ChannelState) bool { return st.Application == "park" && !st.Dormant })
	if st.State != "CS_EXECUTE" {
		t.Fatalf("revived %v", st)
	}
}

func TestRetrieveAndHangupRules(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	obs := dialInbound(t, s)
	obs.cmd("event plain CHANNEL_BRIDGE CHANNEL_HANGUP_COMPLETE")

	park := func(num string) *Channel {
		ch, c, _ := p.call(s, CallSpec{CallerNumber: num})
		c.answer(ch.UUID())
		c.api("uuid_transfer " + ch.UUID() + " endless_playback:local_stream://moh inline")
		c.cmd("exit")
		c.expectEOF()
		return ch
	}
	// retriever hangs up -> parked (inline) leg hangs up
	a := park("patient")
	b, bc, _ := p.call(s, CallSpec{CallerNumber: "retriever", Destination: "702"})
	bc.answer(b.UUID())
	if got := bc.api("uuid_bridge " + a.UUID() + " " + b.UUID()); got != "+OK "+b.UUID()+"\n" {
		t.Fatalf("bridge %q", got)
	}
	ev, _ := obs.waitEvent("CHANNEL_BRIDGE", "")
	if ev.UniqueID() != a.UUID() || ev.Get("Bridge-A-Unique-ID") != a.UUID() || ev.Get("Bridge-B-Unique-ID") != b.UUID() || ev.Get("Other-Leg-Unique-ID") != b.UUID() {
		t.Fatalf("CHANNEL_BRIDGE %v", ev.Headers[13:20])
	}
	if st := a.State(); st.Hearing != "bridge:"+b.UUID() || st.BridgedTo != b.UUID() {
		t.Fatalf("a %v", st)
	}
	if st := b.State(); st.Hearing != "bridge:"+a.UUID() || !st.SocketConnected {
		t.Fatalf("b %v", st)
	}
	b.Hangup("")
	// the retriever's lingering socket: HANGUP, linger notice, ..., HANGUP_COMPLETE
	_, seen := bc.waitEvent("CHANNEL_HANGUP_COMPLETE", b.UUID())
	if got := bc.summary(seen); !inOrder(got, []string{"CHANNEL_HANGUP", "notice:linger", "CHANNEL_STATE:CS_HANGUP", "CHANNEL_STATE:CS_REPORTING", "CHANNEL_HANGUP_COMPLETE"}) {
		t.Fatalf("retriever socket %v", got)
	}
	if got := bc.cmd("exit"); got != "+OK bye" {
		t.Fatalf("exit after linger %q", got)
	}
	st := waitFor(t, a, "a hangs up", dead)
	if st.HangupCause != "NORMAL_CLEARING" {
		t.Fatalf("a %v", st)
	}

	// parked (first leg) hangs up -> retriever hung up
	a = park("patient2")
	b, bc, _ = p.call(s, CallSpec{CallerNumber: "retriever2", Destination: "702"})
	bc.answer(b.UUID())
	obs.api("uuid_bridge " + a.UUID() + " " + b.UUID())
	waitFor(t, a, "bridged", func(st ChannelState) bool { return st.BridgedTo == b.UUID() })
	a.Hangup("")
	waitFor(t, b, "b hung up", dead)
	ev, _ = obs.waitEvent("CHANNEL_HANGUP_COMPLETE", a.UUID())
	if ev.Get("variable_sip_hangup_disposition") != "recv_bye" || ev.Get("Hangup-Cause") != "NORMAL_CLEARING" {
		t.Fatalf("abandon %v", ev.Get("variable_sip_hangup_disposition"))
	}

	// park_after_bridge: the parked leg re-parks when the retriever leaves
	a = park("patient3")
	obs.api("uuid_setvar " + a.UUID() + " park_after_bridge true")
	b, bc, _ = p.call(s, CallSpec{CallerNumber: "retriever3"})
	bc.answer(b.UUID())
	obs.api("uuid_bridge " + a.UUID() + " " + b.UUID())
	obs.api("uuid_kill " + b.UUID())
	st = waitFor(t, a, "re-parked", func(st ChannelState) bool { return st.State == "CS_PARK" })
	if !st.Alive || st.BridgedTo != "" {
		t.Fatalf("park_after_bridge %v", st)
	}
}

// Bridging an unanswered retriever kills both
// (docs/freeswitch.md#unanswered-retriever-kills-both).
func TestUnansweredRetriever(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	a, ac, _ := p.call(s, CallSpec{CallerNumber: "patient"})
	ac.answer(a.UUID())
	b, bc, _ := p.call(s, CallSpec{CallerNumber: "retriever"})
	if got := bc.api("uuid_bridge " + a.UUID() + " " + b.UUID()); got != "+OK "+b.UUID()+"\n" {
		t.Fatalf("bridge %q", got)
	}
	if st := waitFor(t, b, "b", dead); st.HangupCause != "DESTINATION_OUT_OF_ORDER" {
		t.Fatalf("b %v", st)
	}
	if st := waitFor(t, a, "a", dead); st.HangupCause != "ORIGINATOR_CANCEL" {
		t.Fatalf("a %v", st)
	}
}

// Hangup while the socket is open: linger notice, events, then wait for exit.
func TestHangupWhileSocketOpen(t *testing.T) {
	for _, after := range []bool{false, true} {
		s := Start(t, Options{HangupAfterNotice: after})
		p := newParkd(t)
		ch, c, _ := p.call(s, CallSpec{CallerNumber: "patient"})
		c.answer(ch.UUID())
		c.send("sendmsg", "call-command: execute", "execute-app-name: playback", "execute-app-arg: local_stream://moh", "Event-UUID: moh-1")
		ev, _ := c.waitEvent("CHANNEL_EXECUTE", ch.UUID())
		if ev.Get("Application-UUID") != "moh-1" {
			t.Fatalf("Application-UUID %q", ev.Get("Application-UUID"))
		}
		ch.Hangup("")
		_, seen := c.waitEvent("CHANNEL_HANGUP_COMPLETE", ch.UUID())
		got := c.summary(seen)
		first := []string{"CHANNEL_HANGUP", "notice:linger"}
		if after {
			first = []string{"notice:linger", "CHANNEL_HANGUP"}
		}
		want := append(first, "CHANNEL_EXECUTE_COMPLETE:playback", "CHANNEL_UNPARK", "CHANNEL_EXECUTE_COMPLETE:socket", "CHANNEL_STATE:CS_HANGUP", "CHANNEL_STATE:CS_REPORTING", "CHANNEL_HANGUP_COMPLETE")
		if !inOrder(got, want) {
			t.Fatalf("after=%v: %v", after, got)
		}
		for _, f := range seen {
			if f.Headers.Get("Content-Disposition") == "linger" && (f.Headers.Get("Linger-Time") != "-1" || f.Headers.Get("Controlled-Session-UUID") != ch.UUID()) {
				t.Fatalf("linger notice %v", f.Headers)
			}
		}
		// the socket stays open until exit (linger -1)
		if got := c.cmd("exit"); got != "+OK bye" {
			t.Fatalf("exit %q", got)
		}
	}
}

// Without linger: just the disconnect notice, then EOF.
func TestHangupNoLinger(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	ch, c, _ := p.call(s, CallSpec{CallerNumber: "x"})
	c.cmd("nolinger")
	ch.Hangup("")
	fs := c.expectEOF()
	if n := len(fs); n == 0 || fs[n-1].Headers.Get("Content-Disposition") != "disconnect" {
		t.Fatalf("no linger %v", c.summary(fs))
	}
	for _, f := range fs {
		if f.ContentType() == esl.TypeEventPlain && c.event(f).Name() == "CHANNEL_HANGUP_COMPLETE" {
			t.Fatal("HANGUP_COMPLETE delivered without linger")
		}
	}
}

func TestOriginate(t *testing.T) {
	s := Start(t, Options{})
	s.Register("1000", Endpoint{AnswerAfter: 10 * time.Millisecond})
	s.Register("1001", Endpoint{Busy: true})
	s.Register("1002", Endpoint{NoAnswer: true})
	s.Register("1003", Endpoint{Reject: true})
	s.Register("1004", Endpoint{NoAnswer: true})
	c := dialInbound(t, s)
	c.cmd("event plain BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE")

	uuid := "5e7c0a00-0000-4000-8000-0000000000b1"
	c.send("bgapi originate {origination_caller_id_name='Parked 202: Patient',origination_caller_id_number=202,alert_info='<http://127.0.0.1>;info=alert-autoanswer',originate_timeout=15,origination_uuid="+uuid+"}user/1000 &park()", "Job-UUID: j1")
	if f := c.next(); f.Headers.Get("Reply-Text") != "+OK Job-UUID: j1" {
		t.Fatalf("reply %v", f.Headers)
	}
	ev, _ := c.waitEvent("BACKGROUND_JOB", "")
	if string(ev.Body) != "+OK "+uuid+"\n" || ev.Get("Job-Command") != "originate" || !strings.HasPrefix(ev.Get("Job-Command-Arg"), "{origination_caller_id_name='Parked 202: Patient'") {
		t.Fatalf("job %q %v", ev.Body, ev.Get("Job-Command-Arg"))
	}
	leg := s.Channel(uuid)
	waitFor(t, leg, "park", func(st ChannelState) bool { return st.Application == "park" && st.Answered })
	inv := s.Invites()[0]
	if inv.CallerIDName != " Patient" || inv.AlertInfo != "<http://127.0.0.1>;info=alert-autoanswer" || inv.CallerIDNumber != "202" || inv.User != "1000" {
		t.Fatalf("invite %+v", inv)
	}
	if got := c.api("uuid_getvar " + uuid + " origination_caller_id_name"); got != "Parked 202: Patient" {
		t.Fatalf("cid var %q", got)
	}

	for _, tc := range []struct{ arg, want string }{
		{"{originate_timeout=1}user/1001 &park()", "-ERR USER_BUSY\n"},
		{"{originate_timeout=1}user/1003 &park()", "-ERR CALL_REJECTED\n"},
		{"{originate_timeout=0.1}user/1002 &park()", "-ERR NO_ANSWER\n"},
		{"user/9999 &park()", "-ERR USER_NOT_REGISTERED\n"},
	} {
		if got := c.api("originate " + tc.arg); got != tc.want {
			t.Fatalf("%s: %q", tc.arg, got)
		}
	}
	if len(s.Invites()) != 4 {
		t.Fatalf("invites %d", len(s.Invites()))
	}

	// kill while ringing
	k := "5e7c0a00-0000-4000-8000-0000000000b2"
	c.send("bgapi originate {origination_uuid="+k+",originate_timeout=30}user/1004 &park()", "Job-UUID: j2")
	c.next()
	if got := c.api("uuid_exists " + k); got != "true" {
		t.Fatalf("ringing exists %q", got)
	}
	c.api("uuid_kill " + k)
	ev, _ = c.waitEvent("BACKGROUND_JOB", "")
	if string(ev.Body) != "-ERR NORMAL_CLEARING\n" {
		t.Fatalf("kill while ringing %q", ev.Body)
	}

	// The quote breakout really sets park_timeout
	// (docs/freeswitch.md#quotes-break-out-of-originate-variables)
	c.send("bgapi originate {origination_caller_id_name='X',park_timeout=1,ignore='',originate_timeout=5}user/1000 &park()", "Job-UUID: j3")
	c.next()
	ev, _ = c.waitEvent("BACKGROUND_JOB", "")
	id := strings.TrimSpace(strings.TrimPrefix(string(ev.Body), "+OK "))
	if got := c.api("uuid_getvar " + id + " park_timeout"); got != "1" {
		t.Fatalf("park_timeout %q", got)
	}
	if inv := s.Invites()[len(s.Invites())-1]; inv.CallerIDName != "X" {
		t.Fatalf("breakout name %q", inv.CallerIDName)
	}
}

func TestRestartAndDrop(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	addr := s.Addr()
	park := func(num string) *Channel {
		ch, c, _ := p.call(s, CallSpec{CallerNumber: num, AfterSocket: []string{"park"}})
		c.answer(ch.UUID())
		c.cmd("exit")
		waitFor(t, ch, "park", func(st ChannelState) bool { return st.Application == "park" })
		return ch
	}
	p1 := park("p1")
	p3, c3, _ := p.call(s, CallSpec{CallerNumber: "p3"})
	c3.answer(p3.UUID())
	c3.api("uuid_park " + p3.UUID())
	c3.cmd("exit")
	waitFor(t, p3, "dormant", func(st ChannelState) bool { return st.Dormant })

	in1 := dialInbound(t, s)
	s.DropInbound()
	if fs := in1.expectEOF(); len(fs) != 0 {
		t.Fatalf("drop sent %v", in1.summary(fs))
	}
	if !p1.State().Alive {
		t.Fatal("drop killed a call")
	}

	in2 := dialInbound(t, s)
	in2.cmd("event plain CHANNEL_HANGUP_COMPLETE CHANNEL_UNPARK SHUTDOWN")
	in2.api("show channels count")
	coreBefore := ""
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	fs := in2.expectEOF()
	got := in2.summary(fs)
	if len(got) == 0 || got[0] != "SHUTDOWN" || got[len(got)-1] != "notice:" || string(fs[len(fs)-1].Body) != "The system is being shut down.\n" {
		t.Fatalf("restart %v", got)
	}
	unparks := map[string]bool{}
	for _, f := range fs {
		if f.ContentType() != esl.TypeEventPlain {
			continue
		}
		ev := in2.event(f)
		coreBefore = ev.Get("Core-UUID")
		switch ev.Name() {
		case "CHANNEL_UNPARK":
			unparks[ev.UniqueID()] = true
		case "CHANNEL_HANGUP_COMPLETE":
			if ev.Get("Hangup-Cause") != "SYSTEM_SHUTDOWN" {
				t.Fatalf("cause %q", ev.Get("Hangup-Cause"))
			}
		}
	}
	if !unparks[p1.UUID()] || unparks[p3.UUID()] {
		t.Fatalf("unparks %v", unparks)
	}
	if s.Addr() != addr || len(s.Channels()) != 0 {
		t.Fatal("after restart")
	}
	in3 := dialInbound(t, s)
	in3.cmd("event plain BACKGROUND_JOB")
	in3.send("bgapi status")
	in3.next()
	ev, _ := in3.waitEvent("BACKGROUND_JOB", "")
	if ev.Get("Core-UUID") == coreBefore || ev.Sequence() > 5 {
		t.Fatalf("core %s seq %d", ev.Get("Core-UUID"), ev.Sequence())
	}
	if got := in3.api("uuid_exists " + p1.UUID()); got != "false" {
		t.Fatal("p1 survived restart")
	}
}

func TestCommandsLog(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	ch, c, _ := p.call(s, CallSpec{CallerNumber: "x"})
	c.api("uuid_exists " + ch.UUID())
	in := dialInbound(t, s)
	in.api("status")
	cmds := s.Commands()
	if !contains(cmds, "out "+ch.UUID()+": connect") || !contains(cmds, "in: api status") || !contains(cmds, "in: auth ClueCon") {
		t.Fatalf("commands %q", cmds)
	}
}

func TestCloseNoLeak(t *testing.T) {
	base := runtime.NumGoroutine()
	s, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	p := newParkd(t)
	s.Register("1000", Endpoint{NoAnswer: true})
	ch, c, _ := p.call(s, CallSpec{CallerNumber: "x"})
	c.answer(ch.UUID())
	in := dialInbound(t, s)
	in.send("bgapi originate {originate_timeout=30}user/1000 &park()")
	in.next()
	go func() { _, _ = net.Dial("tcp", s.Addr()) }()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_ = c.nc.Close()
	_ = in.nc.Close()
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > base+1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > base+1 {
		buf := make([]byte, 1<<16)
		t.Fatalf("goroutines %d > %d\n%s", n, base, buf[:runtime.Stack(buf, true)])
	}
}

// CloseSocket mid-playback: the client gets the reply already queued, then
// EOF without a disconnect notice; the playback started inside the socket
// app plays on. ResetSocket: the client's read fails with a reset.
func TestDropSocketMidPlayback(t *testing.T) {
	for _, reset := range []bool{false, true} {
		s := Start(t, Options{PlaybackTime: time.Hour})
		p := newParkd(t)
		ch, c, _ := p.call(s, CallSpec{CallerNumber: "patient", Answered: true})
		c.send("sendmsg "+ch.UUID(), "call-command: execute", "execute-app-name: playback",
			"execute-app-arg: tone_stream://%(250,250,480,620);loops=4", "event-lock: true")
		waitFor(t, ch, "tone", func(st ChannelState) bool { return strings.HasPrefix(st.Hearing, "tone:") })
		if reset {
			ch.ResetSocket()
		} else {
			ch.CloseSocket()
		}
		var err error
		var frames []esl.Frame
		for {
			_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
			var f esl.Frame
			if f, err = c.r.ReadFrame(); err != nil {
				break
			}
			frames = append(frames, f)
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatalf("reset=%v: connection still open", reset)
		}
		if reset {
			if !errors.Is(err, syscall.ECONNRESET) {
				t.Errorf("reset: read error %v, want connection reset", err)
			}
		} else {
			if !errors.Is(err, io.EOF) {
				t.Errorf("close: read error %v, want EOF", err)
			}
			if got := c.summary(frames); !contains(got, "reply:+OK") || contains(got, "notice:disconnect") {
				t.Errorf("close: frames %v, want the sendmsg reply and no disconnect notice", got)
			}
		}
		st := waitFor(t, ch, "socket gone", func(st ChannelState) bool { return !st.SocketConnected })
		if !st.Alive || !strings.HasPrefix(st.Hearing, "tone:") {
			t.Fatalf("reset=%v: after the socket closed %v", reset, st)
		}
	}
}

// Ensure the simulator reads filters as mod_event_socket's event_handler
// does: positive filters are alternatives, a matching '-' filter drops the
// event, a value in slashes is a regular expression with flags after the
// last slash, and plain values compare without regard to case.
func TestFilterSemantics(t *testing.T) {
	ev := func(name, inst string) *esl.Event {
		e := &esl.Event{Headers: esl.Headers{{Name: "Event-Name", Value: name}}}
		if inst != "" {
			e.Headers = append(e.Headers, esl.Header{Name: "variable_parkd_instance", Value: inst})
		}
		return e
	}
	for _, tc := range []struct {
		name    string
		filters [][2]string
		event   *esl.Event
		want    bool
	}{
		{"no filters", nil, ev("CHANNEL_HANGUP_COMPLETE", ""), true},
		{"alternatives: one matches", [][2]string{{"Event-Name", "BACKGROUND_JOB"}, {"variable_parkd_instance", "pbx1"}}, ev("CHANNEL_HANGUP_COMPLETE", "pbx1"), true},
		{"alternatives: none match", [][2]string{{"Event-Name", "BACKGROUND_JOB"}, {"variable_parkd_instance", "pbx1"}}, ev("CHANNEL_HANGUP_COMPLETE", "pbx2"), false},
		{"header absent", [][2]string{{"variable_parkd_instance", "pbx1"}}, ev("CHANNEL_HANGUP_COMPLETE", ""), false},
		{"case", [][2]string{{"variable_parkd_instance", "PBX1"}}, ev("X", "pbx1"), true},
		{"sign stripped", [][2]string{{"variable_parkd_instance", "+pbx1"}}, ev("X", "pbx1"), true},
		{"negative drops", [][2]string{{"Event-Name", "X"}, {"variable_parkd_instance", "-pbx1"}}, ev("X", "pbx1"), false},
		{"only negative passes nothing", [][2]string{{"variable_parkd_instance", "-pbx1"}}, ev("X", "pbx2"), false},
		{"regexp with flags", [][2]string{{"variable_parkd_instance", `/^-odd\.name$/i`}}, ev("X", "-ODD.name"), true},
		{"regexp anchored", [][2]string{{"variable_parkd_instance", `/^-odd\.name$/i`}}, ev("X", "-odd.names"), false},
	} {
		sub := &subscription{all: true}
		for _, f := range tc.filters {
			sub.addFilter(f[0], f[1])
		}
		if got := sub.wants(tc.event, eventKey{name: tc.event.Name()}); got != tc.want {
			t.Errorf("%s: wants=%v, want %v", tc.name, got, tc.want)
		}
	}
}

// A dialplan that answers before `socket` (as `parkd fsconf` writes it):
// the answer's events go out before the socket application starts, and
// the connect reply already says the call is answered. An action that
// does not complete at once cannot precede the socket.
func TestAnswerBeforeSocket(t *testing.T) {
	s := Start(t, Options{})
	obs := dialInbound(t, s)
	obs.cmd("event plain CHANNEL_EXECUTE CHANNEL_EXECUTE_COMPLETE CHANNEL_ANSWER")
	p := newParkd(t)
	ch, _, data := p.call(s, CallSpec{
		CallerName: "Nurse", CallerNumber: "4102", Destination: "*71202",
		Vars: map[string]string{"parkd_action": "retrieve", "parkd_slot": "202"}, BeforeSocket: []string{"answer"},
	})
	h := data.Headers
	if h.Get("Answer-State") != "answered" || h.Get("Channel-Call-State") != "ACTIVE" || h.Get("variable_current_application") != "socket" {
		t.Fatalf("connect reply: Answer-State %q, Channel-Call-State %q, current_application %q",
			h.Get("Answer-State"), h.Get("Channel-Call-State"), h.Get("variable_current_application"))
	}
	var got []string
	for len(got) < 4 {
		ev := obs.event(obs.read())
		if ev.UniqueID() != ch.UUID() {
			continue
		}
		got = append(got, ev.Name()+" "+ev.Get("Application"))
	}
	want := []string{"CHANNEL_EXECUTE answer", "CHANNEL_ANSWER ", "CHANNEL_EXECUTE_COMPLETE answer", "CHANNEL_EXECUTE socket"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("events %q, want %q", got, want)
	}
	if st := ch.State(); !st.Answered || !st.Alive || !st.SocketConnected {
		t.Fatalf("state %v", st)
	}
	if _, err := s.Call(CallSpec{SocketAddr: p.addr(), BeforeSocket: []string{"playback tone_stream://%(100,0,400)"}}); err == nil {
		t.Fatal("a playback before socket was accepted")
	}
}

// uuid_answer answers from the API thread: "+OK" once answered (again for a
// call already answered), CHANNEL_ANSWER and no CHANNEL_EXECUTE; "-ERROR"
// for a channel that does not exist.
func TestUUIDAnswer(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	ch, c, data := p.call(s, CallSpec{CallerNumber: "4102", Destination: "*71202"})
	if data.Headers.Get("Answer-State") != "ringing" {
		t.Fatalf("Answer-State %q", data.Headers.Get("Answer-State"))
	}
	if got := c.api("uuid_answer " + ch.UUID()); got != "+OK\n" {
		t.Fatalf("uuid_answer: %q", got)
	}
	ev, skipped := c.waitEvent("CHANNEL_ANSWER", ch.UUID())
	if ev.Get("Answer-State") != "answered" {
		t.Fatalf("CHANNEL_ANSWER Answer-State %q", ev.Get("Answer-State"))
	}
	for _, name := range c.summary(skipped) {
		if strings.HasPrefix(name, "CHANNEL_EXECUTE") {
			t.Fatalf("uuid_answer ran an application: %v", c.summary(skipped))
		}
	}
	if !ch.State().Answered {
		t.Fatal("not answered")
	}
	if got := c.api("uuid_answer " + ch.UUID()); got != "+OK\n" {
		t.Fatalf("uuid_answer again: %q", got)
	}
	if got := c.api("uuid_answer 00000000-0000-4000-8000-000000000000"); got != "-ERROR\n" {
		t.Fatalf("uuid_answer of no channel: %q", got)
	}
}
