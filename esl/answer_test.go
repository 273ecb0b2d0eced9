package esl_test

import (
	"errors"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// outLines returns the command lines parkd sent on call's socket, in order
// (the first word of each sendmsg's headers is left out).
func outLines(sim *fstest.Switch, call string) []string {
	var out []string
	for _, c := range sim.Commands() {
		if rest, ok := strings.CutPrefix(c, "out "+call+": "); ok {
			out = append(out, rest)
		}
	}
	return out
}

// Ensure a retrieve of a call the dialplan answered before `socket` (as
// `parkd fsconf` writes it) sends nothing but the socket's setup and the
// bridge: no answer of any kind and nothing that waits for an event, so
// the switch never makes the retriever wait for its media clock.
func TestServer_RetrieveAnsweredByDialplan(t *testing.T) {
	r := startKeyRig(t)
	parked, err := r.sim.Call(fstest.CallSpec{
		SocketAddr: r.addr, CallerNumber: "4101", Destination: "*70201", Answered: true, ReferredBy: "<sip:1000@127.0.0.1>",
		Vars: map[string]string{esl.VarAction: esl.ActionPark, esl.VarLot: "main", esl.VarSlot: "201"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.parkedIn(t, parked, "main", 201)
	retriever, err := r.sim.Call(fstest.CallSpec{
		SocketAddr: r.addr, CallerNumber: "4102", Destination: "*71201", BeforeSocket: []string{"answer"},
		Vars: map[string]string{esl.VarAction: esl.ActionRetrieve, esl.VarLot: "main", esl.VarSlot: "201"},
	})
	if err != nil {
		t.Fatal(err)
	}
	retrieved(t, retriever, parked)
	r.empty(t)
	got := outLines(r.sim, retriever.UUID())
	want := []string{"connect", "myevents plain", "linger 30",
		"filter Event-Name CHANNEL_EXECUTE_COMPLETE", "filter Event-Name CHANNEL_ANSWER",
		"filter Event-Name CHANNEL_HANGUP", "filter Event-Name CHANNEL_HANGUP_COMPLETE",
		"api uuid_bridge " + parked.UUID() + " " + retriever.UUID()}
	if !slices.Equal(got, want) {
		t.Fatalf("the retriever's socket carried\n%q\nwant\n%q", got, want)
	}
}

// Ensure a retrieve on a sync socket (`socket ... full` without "async",
// as fsconf writes the retrieve extension) says exit right after the
// bridge's +OK, before anything else: the retriever's own thread reads the
// socket, and the bridge starts only once that thread leaves the socket
// application (docs/freeswitch.md#sync-socket-acts-at-once). The call is
// still retrieved and its slot freed.
func TestServer_SyncRetrieveExitsAtTheBridge(t *testing.T) {
	r := startKeyRig(t)
	parked, err := r.sim.Call(fstest.CallSpec{
		SocketAddr: r.addr, CallerNumber: "4101", Destination: "*70201", Answered: true, ReferredBy: "<sip:1000@127.0.0.1>",
		Vars: map[string]string{esl.VarAction: esl.ActionPark, esl.VarLot: "main", esl.VarSlot: "201"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.parkedIn(t, parked, "main", 201)
	retriever, err := r.sim.Call(fstest.CallSpec{
		SocketAddr: r.addr, CallerNumber: "4102", Destination: "*71201", BeforeSocket: []string{"answer"}, Sync: true,
		Vars: map[string]string{esl.VarAction: esl.ActionRetrieve, esl.VarLot: "main", esl.VarSlot: "201"},
	})
	if err != nil {
		t.Fatal(err)
	}
	retrieved(t, retriever, parked)
	r.empty(t)
	if _, err := retriever.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.SocketConnected }); err != nil {
		t.Fatalf("the retriever's sync socket was not closed after the bridge: %v", err)
	}
	got := outLines(r.sim, retriever.UUID())
	want := []string{"connect", "myevents plain", "linger 30",
		"filter Event-Name CHANNEL_EXECUTE_COMPLETE", "filter Event-Name CHANNEL_ANSWER",
		"filter Event-Name CHANNEL_HANGUP", "filter Event-Name CHANNEL_HANGUP_COMPLETE",
		"api uuid_bridge " + parked.UUID() + " " + retriever.UUID(), "exit"}
	if !slices.Equal(got, want) {
		t.Fatalf("the retriever's sync socket carried\n%q\nwant\n%q", got, want)
	}
}

// Ensure a park on a sync socket says exit right after the music's
// transfer is accepted, before parkd records the park: the parked call's
// own thread reads the socket and goes on to the music only at exit
// (docs/freeswitch.md#sync-socket-acts-at-once).
func TestServer_SyncParkExitsAtTheMusic(t *testing.T) {
	r := startKeyRig(t)
	parked, err := r.sim.Call(fstest.CallSpec{
		SocketAddr: r.addr, CallerNumber: "4101", Destination: "*70201", Answered: true, ReferredBy: "<sip:1000@127.0.0.1>", Sync: true,
		Vars: map[string]string{esl.VarAction: esl.ActionPark, esl.VarLot: "main", esl.VarSlot: "201"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.parkedIn(t, parked, "main", 201)
	if _, err := parked.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.SocketConnected }); err != nil {
		t.Fatalf("the parked call's sync socket was not closed: %v", err)
	}
	got := outLines(r.sim, parked.UUID())
	var short []string
	for _, l := range got {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "api" {
			l = f[0] + " " + f[1]
		}
		short = append(short, l)
	}
	want := []string{"connect", "myevents plain", "linger 30",
		"filter Event-Name CHANNEL_EXECUTE_COMPLETE", "filter Event-Name CHANNEL_ANSWER",
		"filter Event-Name CHANNEL_HANGUP", "filter Event-Name CHANNEL_HANGUP_COMPLETE",
		"api uuid_setvar_multi", "api uuid_transfer", "exit"}
	if !slices.Equal(short, want) {
		t.Fatalf("the parked call's sync socket carried\n%q\nwant\n%q", got, want)
	}
}

// Ensure a call that reaches parkd unanswered (a dialplan that does not
// answer before `socket`) is answered with `api uuid_answer` before
// anything it hears and before a bridge, never with an answer application
// whose completion would have to be awaited; the retrieve still bridges.
func TestServer_UnansweredCallsAnsweredByAPI(t *testing.T) {
	r := startKeyRig(t)
	// A call dialling the park code itself: answered, then its slot is
	// read out (SelfPark), then the music.
	parked, err := r.sim.Call(fstest.CallSpec{
		SocketAddr: r.addr, CallerNumber: "4101", Destination: "*70201",
		Vars: map[string]string{esl.VarAction: esl.ActionPark, esl.VarLot: "main", esl.VarSlot: "201"},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.parkedIn(t, parked, "main", 201)
	retriever, err := r.sim.Call(fstest.CallSpec{
		SocketAddr: r.addr, CallerNumber: "4102", Destination: "*71201",
		Vars: map[string]string{esl.VarAction: esl.ActionRetrieve, esl.VarLot: "main", esl.VarSlot: "201"},
	})
	if err != nil {
		t.Fatal(err)
	}
	retrieved(t, retriever, parked)
	r.empty(t)
	for _, tc := range []struct {
		ch    *fstest.Channel
		after string // the first command that needs the call answered
	}{
		{parked, "sendmsg"},
		{retriever, "api uuid_bridge"},
	} {
		lines := outLines(r.sim, tc.ch.UUID())
		answer := slices.Index(lines, "api uuid_answer "+tc.ch.UUID())
		next := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, tc.after) })
		if answer < 0 || next < 0 || answer > next {
			t.Fatalf("%s: no uuid_answer before %s: %q", tc.ch.UUID(), tc.after, lines)
		}
		for _, l := range r.sim.Commands() {
			if strings.Contains(l, "execute-app-name: answer") {
				t.Fatalf("an answer application was sent: %q", l)
			}
		}
		if !tc.ch.State().Answered {
			t.Fatalf("%s not answered", tc.ch.UUID())
		}
	}
}

// Ensure uuid_answer's "-ERROR" (no such channel, or one already hanging
// up: switch_channel_answer refuses those) is the caller gone: the park
// gives up without an error tone, and the slot is free again.
func TestServer_AnswerErrorIsCallerGone(t *testing.T) {
	r := startDeadlineRig(t)
	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rd := esl.NewReader(nc)
	expect := func(prefix string) {
		t.Helper()
		_ = nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		cmd, err := rd.ReadCommand()
		if err != nil || !strings.HasPrefix(cmd.Line, prefix) {
			t.Fatalf("parkd sent %q (%v), want %s...", cmd.Line, err, prefix)
		}
	}
	send := func(s string) {
		t.Helper()
		if _, err := io.WriteString(nc, s); err != nil {
			t.Fatal(err)
		}
	}
	expect("connect")
	call := esl.NewUUID()
	send("Content-Type: command/reply\nReply-Text: +OK\nUnique-ID: " + call + "\nAnswer-State: ringing\n" +
		"Caller-Caller-ID-Number: 5550100\nvariable_parkd_action: park\nvariable_parkd_lot: main\nvariable_parkd_slot: 201\n\n")
	for _, c := range []string{"myevents", "linger", "filter", "filter", "filter", "filter"} {
		expect(c)
		send("Content-Type: command/reply\nReply-Text: +OK\n\n")
	}
	expect("api uuid_answer " + call)
	send("Content-Type: api/response\nContent-Length: 7\n\n-ERROR\n")

	res := r.parkOutcome(t)
	if !errors.Is(res.err, parking.ErrCallGone) {
		t.Fatalf("Park: %v, want the call gone", res.err)
	}
	expect("exit") // nothing else: no error tone for a caller who left
	if got := r.park.Occupants(); len(got) != 0 {
		t.Fatalf("slot still held: %+v", got)
	}
}
