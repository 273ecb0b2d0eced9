package esl_test

import (
	"context"
	"errors"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// recordingCalls is the esl.Calls a Client reports to in these tests.
type recordingCalls struct {
	mu      sync.Mutex
	hangups map[parking.CallID]string
}

func (r *recordingCalls) Hangup(_ context.Context, call parking.CallID, cause string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.hangups == nil {
		r.hangups = map[parking.CallID]string{}
	}
	r.hangups[call] = cause
}

func (r *recordingCalls) Reconcile(context.Context) error { return nil }

func (r *recordingCalls) SwitchShutdown(context.Context) {}

// startSwitch starts a simulated FreeSWITCH and a Client connected to it.
func startSwitch(t *testing.T) (*fstest.Switch, *esl.Client) {
	t.Helper()
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	c := esl.NewClient(sim.Addr(), "ClueCon")
	c.Calls = &recordingCalls{}
	c.Timeout = 2 * time.Second
	c.MinBackoff, c.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.Run(ctx)
	}()
	t.Cleanup(func() { cancel(); <-done })
	select {
	case <-c.Connected():
	case <-time.After(5 * time.Second):
		t.Fatal("client did not connect")
	}
	return sim, c
}

// recall is a recall leg to user 1000 for a parked call.
func recall(user string) parking.Origination {
	return parking.Origination{
		Leg: parking.CallID(esl.NewUUID()), Parked: parking.CallID(esl.NewUUID()), Lot: "main", Slot: 202,
		Dial: "user/" + user + "@127.0.0.1", AlertInfo: "<http://127.0.0.1>;info=alert-autoanswer",
		CallerIDName: "Park 202 - Jane Roe", CallerIDNumber: "202", RingFor: 2 * time.Second,
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// originates counts the originate command lines the switch received.
func originates(sim *fstest.Switch) int {
	n := 0
	for _, c := range sim.Commands() {
		if strings.Contains(c, "originate") {
			n++
		}
	}
	return n
}

// wantVars are the variables of a recall originate, sorted.
var wantVars = []string{"alert_info", "originate_timeout", "origination_caller_id_name", "origination_caller_id_number",
	"origination_uuid", "parkd_instance", "parkd_lot", "parkd_recall", "parkd_recall_for", "parkd_slot"}

// Ensure an answered recall returns nil and reaches the phone as
// docs/freeswitch.md#recall-originate describes: Alert-Info verbatim, the
// name intact, the leg parkd chose, parked and waiting.
func TestOriginate_Answered(t *testing.T) {
	sim, c := startSwitch(t)
	sim.Register("1000", fstest.Endpoint{AnswerAfter: 20 * time.Millisecond})
	o := recall("1000")
	if err := c.Originate(ctxT(t, 5*time.Second), o); err != nil {
		t.Fatal(err)
	}
	inv := sim.Invites()
	if len(inv) != 1 {
		t.Fatalf("invites %+v", inv)
	}
	if inv[0].User != "1000" || inv[0].AlertInfo != o.AlertInfo || inv[0].CallerIDName != "Park 202 - Jane Roe" ||
		inv[0].CallerIDNumber != "202" || inv[0].UUID != string(o.Leg) {
		t.Fatalf("invite %+v", inv[0])
	}
	if got := keys(inv[0].Vars); strings.Join(got, " ") != strings.Join(wantVars, " ") {
		t.Fatalf("vars %q", got)
	}
	v := inv[0].Vars
	if v["parkd_recall_for"] != string(o.Parked) || v["parkd_lot"] != "main" || v["parkd_slot"] != "202" ||
		v["originate_timeout"] != "2" || v["parkd_recall"] != "true" {
		t.Fatalf("vars %q", v)
	}
	ch := sim.Channel(string(o.Leg))
	if ch == nil {
		t.Fatal("no channel with the leg's UUID")
	}
	if _, err := ch.WaitFor(2*time.Second, func(st fstest.ChannelState) bool {
		return st.Alive && st.Answered && st.Application == "park"
	}); err != nil {
		t.Fatal(err)
	}
}

// Ensure each way a recall can fail is a *parking.CallFailure with
// FreeSWITCH's cause.
func TestOriginate_Failures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ep      *fstest.Endpoint // nil: not registered
		ringFor time.Duration
		cause   string
		within  time.Duration
	}{
		{"Busy", &fstest.Endpoint{Busy: true}, 2 * time.Second, "USER_BUSY", time.Second},
		{"Rejected", &fstest.Endpoint{Reject: true}, 2 * time.Second, "CALL_REJECTED", time.Second},
		{"NotRegistered", nil, 2 * time.Second, "USER_NOT_REGISTERED", time.Second},
		{"NoAnswer", &fstest.Endpoint{NoAnswer: true}, time.Second, "NO_ANSWER", 2 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim, c := startSwitch(t)
			if tc.ep != nil {
				sim.Register("1000", *tc.ep)
			}
			o := recall("1000")
			o.RingFor = tc.ringFor
			start := time.Now()
			err := c.Originate(ctxT(t, 5*time.Second), o)
			var cf *parking.CallFailure
			if !errors.As(err, &cf) || cf.Cause != tc.cause {
				t.Fatalf("err=%v, want CallFailure %s", err, tc.cause)
			}
			if d := time.Since(start); d > tc.within {
				t.Fatalf("took %v", d)
			}
		})
	}
}

// ringUnanswered starts a switch and a recall, under ctx, to a phone that
// rings for 10s without answering, and returns once the leg rings; res
// receives what Originate returns.
func ringUnanswered(ctx context.Context, t *testing.T) (*fstest.Switch, *esl.Client, parking.Origination, <-chan error) {
	t.Helper()
	sim, c := startSwitch(t)
	sim.Register("1000", fstest.Endpoint{NoAnswer: true})
	o := recall("1000")
	o.RingFor = 10 * time.Second
	res := make(chan error, 1)
	go func() { res <- c.Originate(ctx, o) }()
	waitChannel(t, sim, o.Leg)
	return sim, c, o, res
}

// Ensure killing the leg while it rings ends the Originate with
// NORMAL_CLEARING (docs/freeswitch.md#recall-originate) and Kill itself succeeds.
func TestOriginate_KilledWhileRinging(t *testing.T) {
	t.Parallel()
	_, c, o, res := ringUnanswered(ctxT(t, 15*time.Second), t)
	if err := c.Kill(ctxT(t, 2*time.Second), o.Leg, "NORMAL_CLEARING"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-res:
		var cf *parking.CallFailure
		if !errors.As(err, &cf) || cf.Cause != "NORMAL_CLEARING" {
			t.Fatalf("err=%v, want CallFailure NORMAL_CLEARING", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Originate did not return after the leg was killed")
	}
}

// Ensure losing the connection while the phone rings ends Originate at
// once with an error that is not a CallFailure (the outcome is unknown).
func TestOriginate_ConnectionLost(t *testing.T) {
	t.Parallel()
	sim, _, _, res := ringUnanswered(ctxT(t, 15*time.Second), t)
	sim.DropInbound()
	select {
	case err := <-res:
		var cf *parking.CallFailure
		if err == nil || errors.As(err, &cf) || !errors.Is(err, esl.ErrNotConnected) {
			t.Fatalf("err=%v, want ErrNotConnected and no CallFailure", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Originate did not notice the connection drop")
	}
}

// Ensure a cancelled context ends Originate with ctx's error.
func TestOriginate_ContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	_, _, _, res := ringUnanswered(ctx, t)
	cancel()
	select {
	case err := <-res:
		var cf *parking.CallFailure
		if !errors.Is(err, context.Canceled) || errors.As(err, &cf) {
			t.Fatalf("err=%v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Originate ignored its context")
	}
}

// Ensure Originate without a connection fails with ErrNotConnected.
func TestOriginate_NotConnected(t *testing.T) {
	c := esl.NewClient("127.0.0.1:1", "ClueCon")
	err := c.Originate(context.Background(), recall("1000"))
	if !errors.Is(err, esl.ErrNotConnected) {
		t.Fatalf("err=%v", err)
	}
}

// Ensure values that could break the command are refused before anything
// is sent.
func TestOriginate_UnsafeRefused(t *testing.T) {
	sim, c := startSwitch(t)
	sim.Register("1000", fstest.Endpoint{})
	for name, mutate := range map[string]func(*parking.Origination){
		"Dial":      func(o *parking.Origination) { o.Dial = "user/1000 &hupall()" },
		"DialVars":  func(o *parking.Origination) { o.Dial = "{park_timeout=1}user/1000" },
		"AlertInfo": func(o *parking.Origination) { o.AlertInfo = "<http://x>',park_timeout=1,x='" },
		"Leg":       func(o *parking.Origination) { o.Leg = "not-a-uuid" },
		"Parked":    func(o *parking.Origination) { o.Parked = "x\n\napi hupall" },
		"Lot":       func(o *parking.Origination) { o.Lot = "main lot" },
	} {
		o := recall("1000")
		mutate(&o)
		if err := c.Originate(ctxT(t, 2*time.Second), o); !errors.Is(err, esl.ErrUnsafeValue) {
			t.Errorf("%s: err=%v, want ErrUnsafeValue", name, err)
		}
	}
	if n := originates(sim); n != 0 {
		t.Fatalf("%d originate commands sent: %q", n, sim.Commands())
	}
}

// Ensure a caller name crafted to inject
// (docs/freeswitch.md#quotes-break-out-of-originate-variables) ends up as harmless
// text on the recall leg: one originate, no extra command, no extra
// variable, and the call still works.
func TestOriginate_CallerNameInjection(t *testing.T) {
	sim, c := startSwitch(t)
	sim.Register("1000", fstest.Endpoint{AnswerAfter: 10 * time.Millisecond})
	for i, tc := range []struct{ name, shown string }{
		{"a,b}' &park()\n\napi hupall", "a,b &park()api hupall"},
		{"X',park_timeout=1,ignore='", "X ,park_timeout=1,ignore="},
	} {
		o := recall("1000")
		o.CallerIDName = tc.name
		if err := c.Originate(ctxT(t, 5*time.Second), o); err != nil {
			t.Fatalf("%q: %v", tc.name, err)
		}
		inv := sim.Invites()
		if len(inv) != i+1 {
			t.Fatalf("%q: %d invites", tc.name, len(inv))
		}
		got := inv[i]
		if k := keys(got.Vars); strings.Join(k, " ") != strings.Join(wantVars, " ") {
			t.Fatalf("%q: vars %q, want exactly %q", tc.name, k, wantVars)
		}
		if got.CallerIDName != tc.shown || got.Vars["origination_caller_id_name"] != tc.shown {
			t.Fatalf("%q: phone shows %q (variable %q), want %q", tc.name, got.CallerIDName, got.Vars["origination_caller_id_name"], tc.shown)
		}
		st := sim.Channel(string(o.Leg)).State()
		if !st.Alive || st.Vars["park_timeout"] != "" || st.Vars["ignore"] != "" {
			t.Fatalf("%q: recall leg %v", tc.name, st)
		}
	}
	if n := originates(sim); n != 2 {
		t.Fatalf("%d originate lines, want 2: %q", n, sim.Commands())
	}
	for _, line := range sim.Commands() {
		if strings.Contains(line, "hupall") && !strings.Contains(line, "originate") {
			t.Fatalf("an injected command ran: %q", line)
		}
	}
	for _, ch := range sim.Channels() {
		if !ch.Alive {
			t.Fatalf("channel %v hung up", ch)
		}
	}
}

// Ensure Bridge connects a parked call and its answered recall leg so both
// hear each other, and Transfer and Kill act on live channels.
func TestBridgeTransferKill(t *testing.T) {
	sim, c := startSwitch(t)
	sim.Register("1000", fstest.Endpoint{})
	sim.Register("1001", fstest.Endpoint{})
	parked, leg := recall("1000"), recall("1001")
	for _, o := range []parking.Origination{parked, leg} {
		if err := c.Originate(ctxT(t, 5*time.Second), o); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Bridge(ctxT(t, 2*time.Second), parked.Leg, leg.Leg); err != nil {
		t.Fatal(err)
	}
	for _, p := range [][2]parking.CallID{{parked.Leg, leg.Leg}, {leg.Leg, parked.Leg}} {
		if _, err := sim.Channel(string(p[0])).WaitFor(2*time.Second, func(st fstest.ChannelState) bool {
			return st.Hearing == "bridge:"+string(p[1])
		}); err != nil {
			t.Fatal(err)
		}
	}

	if err := c.Transfer(ctxT(t, 2*time.Second), leg.Leg, parking.Destination{Extension: "1000", Context: "default"}); err != nil {
		t.Fatal(err)
	}
	want := "in: api uuid_transfer " + string(leg.Leg) + " 1000 XML default"
	if cmds := sim.Commands(); !contains(cmds, want) {
		t.Fatalf("commands %q lack %q", cmds, want)
	}

	if err := c.Kill(ctxT(t, 2*time.Second), leg.Leg, "ORIGINATOR_CANCEL"); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Channel(string(leg.Leg)).WaitFor(2*time.Second, func(st fstest.ChannelState) bool {
		return !st.Alive && st.HangupCause == "ORIGINATOR_CANCEL"
	}); err != nil {
		t.Fatal(err)
	}
}

// Ensure Bridge, Kill and Transfer on channels FreeSWITCH does not know
// report parking.ErrCallGone, and unsafe arguments ErrUnsafeValue.
func TestControl_Errors(t *testing.T) {
	sim, c := startSwitch(t)
	sim.Register("1000", fstest.Endpoint{})
	live := recall("1000")
	if err := c.Originate(ctxT(t, 5*time.Second), live); err != nil {
		t.Fatal(err)
	}
	gone := parking.CallID(esl.NewUUID())
	ctx := ctxT(t, 5*time.Second)
	for name, err := range map[string]error{
		"BridgeBothGone":   c.Bridge(ctx, gone, parking.CallID(esl.NewUUID())),
		"BridgeParkedGone": c.Bridge(ctx, gone, live.Leg),
		"BridgeLegGone":    c.Bridge(ctx, live.Leg, gone),
		"Kill":             c.Kill(ctx, gone, "NORMAL_CLEARING"),
		"Transfer":         c.Transfer(ctx, gone, parking.Destination{Extension: "1000", Context: "default"}),
	} {
		if !errors.Is(err, parking.ErrCallGone) {
			t.Errorf("%s: err=%v, want ErrCallGone", name, err)
		}
	}
	for name, err := range map[string]error{
		"BridgeSelf":      c.Bridge(ctx, live.Leg, live.Leg),
		"BridgeBadUUID":   c.Bridge(ctx, "x", live.Leg),
		"KillBadCause":    c.Kill(ctx, live.Leg, "bye\n\napi hupall"),
		"TransferFlag":    c.Transfer(ctx, live.Leg, parking.Destination{Extension: "-both"}),
		"TransferNoExten": c.Transfer(ctx, live.Leg, parking.Destination{}),
	} {
		if !errors.Is(err, esl.ErrUnsafeValue) {
			t.Errorf("%s: err=%v, want ErrUnsafeValue", name, err)
		}
	}
	if st := sim.Channel(string(live.Leg)).State(); !st.Alive {
		t.Fatalf("live leg hung up: %v", st)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// waitChannel waits until the switch has a channel with this UUID.
func waitChannel(t *testing.T, sim *fstest.Switch, id parking.CallID) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for sim.Channel(string(id)) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no channel %s", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
