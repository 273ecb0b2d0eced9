package esl_test

import (
	"context"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/passhash"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// hashPIN is the lot's PIN checker as the daemon builds it: passhash's
// constant-time check of an argon2id hash.
type hashPIN string

func (h hashPIN) CheckPIN(pin string) bool {
	ok, err := passhash.Check(string(h), pin)
	return err == nil && ok
}

const outsidePIN = "4711"

var outsideHash = func() string {
	h, err := passhash.Hash(outsidePIN)
	if err != nil {
		panic(err)
	}
	return h
}()

// outsideRig is parkd's outbound server and a Service whose lot main
// (201-203) can be picked up from outside, wrong PINs counted in a real
// SQLite file, and a simulated FreeSWITCH.
type outsideRig struct {
	sim  *fstest.Switch
	svc  *parking.Service
	db   *store.DB
	addr string
}

func startOutsideRig(t *testing.T, dbPath string, askSlot bool) *outsideRig {
	t.Helper()
	return startOutsideRigWith(t, dbPath, askSlot, outsideHash, zerolog.Nop())
}

// startOutsideRigWith is startOutsideRig with the lot's PIN hash, and log
// as the logger of the Service, the inbound client and the outbound server.
func startOutsideRigWith(t *testing.T, dbPath string, askSlot bool, hash string, log zerolog.Logger) *outsideRig {
	t.Helper()
	r := &outsideRig{sim: fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})}
	r.db = store.NewDB(dbPath)
	if err := r.db.Open(); err != nil {
		t.Fatal(err)
	}
	client := esl.NewClient(r.sim.Addr(), "ClueCon")
	client.MinBackoff, client.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	client.Logger = log
	svc, err := parking.NewService([]parking.LotConfig{{
		Name: "main", First: 201, Last: 203, Music: "local_stream://moh", Timeout: time.Hour,
		Outside: parking.OutsideConfig{
			PIN: hashPIN(hash), AskSlot: askSlot, Reprompts: 2, DigitTimeout: 300 * time.Millisecond,
			Prompts: parking.OutsidePrompts{Slot: "tone_stream://%(100,0,880)", PIN: "tone_stream://%(100,0,660)",
				WrongPIN: "tone_stream://%(100,0,300)", NoCall: "tone_stream://%(100,0,480,620)"},
			Lockout: parking.DefaultLockout(),
		},
	}}, client, r.db)
	if err != nil {
		t.Fatal(err)
	}
	svc.PINs = r.db
	svc.Logger = log
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	client.Calls = svc
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = client.Run(ctx) }()
	select {
	case <-client.Connected():
	case <-time.After(5 * time.Second):
		t.Fatal("inbound client did not connect")
	}
	srv := esl.NewServer(svc)
	srv.Logger = log
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
		_ = srv.Shutdown(ctx)
		<-served
		_ = svc.Shutdown(ctx)
		cancel()
		_ = r.db.Close()
	})
	t.Cleanup(func() { cancel(); <-ran })
	return r
}

func (r *outsideRig) park(t *testing.T, slot string) *fstest.Channel {
	t.Helper()
	ch, err := r.sim.Call(fstest.CallSpec{SocketAddr: r.addr, CallerNumber: "5551234", CallerName: "Patient",
		Destination: "*70" + slot, Vars: map[string]string{esl.VarAction: esl.ActionPark, esl.VarLot: "main", esl.VarSlot: slot}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return strings.HasPrefix(s.Hearing, "music:") && !s.SocketConnected
	}); err != nil {
		t.Fatalf("not parked: %v", err)
	}
	return ch
}

// call is an outside call to the lot's number, as fsconf -outside routes it.
func (r *outsideRig) call(t *testing.T, number string) *fstest.Channel {
	t.Helper()
	ch, err := r.sim.Call(fstest.CallSpec{SocketAddr: r.addr, CallerNumber: number, CallerName: "Outside",
		Destination: "+15550199", Vars: map[string]string{esl.VarAction: esl.ActionOutside, esl.VarLot: "main"}})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// prompted waits until the n-th (from 1) play_and_get_digits runs on ch.
func prompted(t *testing.T, ch *fstest.Channel, prompt string, n int) {
	t.Helper()
	if _, err := ch.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		count := 0
		for _, p := range s.Played {
			if p == prompt {
				count++
			}
		}
		return s.Application == "play_and_get_digits" && count >= n
	}); err != nil {
		t.Fatalf("prompt %s #%d never came: %v (%+v)", prompt, n, err, ch.State())
	}
}

const (
	slotPrompt = "tone_stream://%(100,0,880)"
	pinPrompt  = "tone_stream://%(100,0,660)"
)

// enter types a slot and a PIN at their prompts; n counts the tries.
func enter(t *testing.T, ch *fstest.Channel, slot, pin string, n int) {
	t.Helper()
	prompted(t, ch, slotPrompt, n)
	ch.SendDTMF(slot + "#")
	prompted(t, ch, pinPrompt, n)
	ch.SendDTMF(pin + "#")
}

func gone(t *testing.T, ch *fstest.Channel) {
	t.Helper()
	if _, err := ch.WaitFor(10*time.Second, func(s fstest.ChannelState) bool { return !s.Alive }); err != nil {
		t.Fatalf("call not ended: %v", err)
	}
}

func noPINLeft(t *testing.T, ch *fstest.Channel) {
	t.Helper()
	for k, v := range ch.State().Vars {
		if strings.HasPrefix(k, esl.VarDigits) {
			t.Fatalf("channel variable %s=%s left on the outside call", k, v)
		}
	}
}

func TestOutside_RightSlotAndPINBridges(t *testing.T) {
	r := startOutsideRig(t, filepath.Join(t.TempDir(), "parkd.db"), true)
	parked := r.park(t, "202")
	out := r.call(t, "+15550100")
	enter(t, out, "202", outsidePIN, 1)
	retrieved(t, out, parked)
	noPINLeft(t, out)
	// The row is written just after the bridge the caller sees.
	deadline := time.Now().Add(5 * time.Second)
	for {
		hist, err := r.db.History(context.Background(), store.HistoryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		last := hist[len(hist)-1]
		if last.Event == parking.EventRetrieved && last.Retriever == "outside:+15550100" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("last history row %+v", last)
		}
		time.Sleep(time.Millisecond)
	}
}

// DTMF typed over the prompt, before it ends, is taken.
func TestOutside_DTMFDuringPrompt(t *testing.T) {
	r := startOutsideRig(t, filepath.Join(t.TempDir(), "parkd.db"), false)
	parked := r.park(t, "201")
	out := r.call(t, "+15550100")
	prompted(t, out, pinPrompt, 1)
	if s := out.State(); !strings.HasPrefix(s.Hearing, "tone:") {
		t.Fatalf("prompt not playing when the digits come: %s", s.Hearing)
	}
	out.SendDTMF(outsidePIN + "#")
	retrieved(t, out, parked)
}

func TestOutside_WrongPINThreeTimesEnds(t *testing.T) {
	r := startOutsideRig(t, filepath.Join(t.TempDir(), "parkd.db"), true)
	parked := r.park(t, "202")
	out := r.call(t, "+15550100")
	for i := 1; i <= 3; i++ {
		enter(t, out, "202", "1234", i)
	}
	gone(t, out)
	noPINLeft(t, out)
	if s := parked.State(); !s.Alive || s.BridgedTo != "" {
		t.Fatalf("parked call disturbed: %+v", s)
	}
	hist, _ := r.db.History(context.Background(), store.HistoryFilter{})
	n := 0
	for _, h := range hist {
		if h.Event == parking.EventPINFailed {
			n++
			if h.Caller.Number != "+15550100" || strings.Contains(h.Reason, "1234") {
				t.Fatalf("pin_failed row %+v", h)
			}
		}
	}
	if n != 3 {
		t.Fatalf("%d pin_failed rows, want 3", n)
	}
}

// Five wrong PINs lock the number out; after a restart (the store
// reopened) the right PIN from that number is still refused, with the
// same prompts, while another number gets through.
func TestOutside_LockoutSurvivesRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parkd.db")
	func() {
		r := startOutsideRig(t, path, false)
		for _, tries := range []int{3, 2} {
			out := r.call(t, "+15550100")
			for i := 1; i <= tries; i++ {
				prompted(t, out, pinPrompt, i)
				out.SendDTMF("9999#")
			}
			if tries == 3 {
				gone(t, out)
			} else {
				prompted(t, out, pinPrompt, 3)
				out.Hangup("NORMAL_CLEARING")
			}
		}
	}()
	// A new rig on the same file: parkd restarted.
	r := startOutsideRig(t, path, false)
	parked := r.park(t, "201")
	out := r.call(t, "+15550100")
	for i := 1; i <= 3; i++ {
		prompted(t, out, pinPrompt, i)
		out.SendDTMF(outsidePIN + "#")
	}
	gone(t, out)
	if s := parked.State(); s.BridgedTo != "" {
		t.Fatal("a locked-out caller was bridged")
	}
	other := r.call(t, "+15550111")
	prompted(t, other, pinPrompt, 1)
	other.SendDTMF(outsidePIN + "#")
	retrieved(t, other, parked)
}

// The parked caller hangs up while the outside caller types the PIN.
func TestOutside_ParkedHangsUpMidPIN(t *testing.T) {
	r := startOutsideRig(t, filepath.Join(t.TempDir(), "parkd.db"), true)
	parked := r.park(t, "202")
	out := r.call(t, "+15550100")
	prompted(t, out, slotPrompt, 1)
	out.SendDTMF("202#")
	prompted(t, out, pinPrompt, 1)
	out.SendDTMF("47")
	parked.Hangup("NORMAL_CLEARING")
	deadline := time.Now().Add(5 * time.Second)
	for len(r.svc.Occupants()) != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	out.SendDTMF("11#")
	gone(t, out)
	if s := out.State(); s.BridgedTo != "" {
		t.Fatal("bridged to a call that hung up")
	}
}

// A phone retrieves the call while the outside caller types the PIN:
// exactly one gets it.
func TestOutside_PhoneRetrievesMidPIN(t *testing.T) {
	r := startOutsideRig(t, filepath.Join(t.TempDir(), "parkd.db"), true)
	parked := r.park(t, "202")
	out := r.call(t, "+15550100")
	prompted(t, out, slotPrompt, 1)
	out.SendDTMF("202#")
	prompted(t, out, pinPrompt, 1)
	phone, err := r.sim.Call(fstest.CallSpec{SocketAddr: r.addr, CallerNumber: "1000", Destination: "*71202",
		Vars: map[string]string{esl.VarAction: esl.ActionRetrieve, esl.VarLot: "main", esl.VarSlot: "202"}})
	if err != nil {
		t.Fatal(err)
	}
	retrieved(t, phone, parked)
	out.SendDTMF(outsidePIN + "#")
	gone(t, out)
	if slices.Contains([]string{out.State().BridgedTo}, parked.UUID()) {
		t.Fatal("both bridged")
	}
}

// The outside caller hangs up mid-PIN: nothing is counted.
func TestOutside_CallerHangsUpMidPIN(t *testing.T) {
	r := startOutsideRig(t, filepath.Join(t.TempDir(), "parkd.db"), false)
	r.park(t, "201")
	out := r.call(t, "+15550100")
	prompted(t, out, pinPrompt, 1)
	out.SendDTMF("47")
	out.Hangup("NORMAL_CLEARING")
	time.Sleep(50 * time.Millisecond) // let the socket's end reach the server
	rows, err := r.db.PINReport(context.Background(), time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil || len(rows) != 0 {
		t.Fatalf("PINReport = %+v, %v; want nothing counted", rows, err)
	}
}

// The time to refuse a wrong PIN does not depend on how many of its digits
// were right: the check is passhash's (argon2id, constant-time compare).
// The fastest of many tries are compared with a generous tolerance.
func TestOutside_PINTimingIndependentOfRightDigits(t *testing.T) {
	h := hashPIN(outsideHash)
	// The two PINs are checked in turns, and each one's fastest check is
	// compared: the fastest is the one least disturbed by whatever else the
	// machine runs, and turns give both the same disturbances. A check that
	// stopped at the first wrong digit would still be many times faster for
	// "9999" than for "4710".
	once := func(pin string) time.Duration {
		start := time.Now()
		if h.CheckPIN(pin) {
			t.Fatal("wrong PIN accepted")
		}
		return time.Since(start)
	}
	nearly, none := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	for range 25 {
		nearly = min(nearly, once("4710")) // three digits right
		none = min(none, once("9999"))     // none right
	}
	ratio := float64(nearly) / float64(none)
	if ratio < 0.5 || ratio > 2 {
		t.Fatalf("fastest reject time: 3 digits right %v, none right %v (ratio %.2f)", nearly, none, ratio)
	}
}

// Ensure no PIN, right or wrong, and no slot+PIN run of digits reaches
// parkd's logs at debug level (where every command sent to the switch is
// logged), nor any command parkd sends the switch (so no variable parkd
// sets holds one), nor stays on either channel.
func TestOutside_PINNeverLogged(t *testing.T) {
	// Long and unlike anything else in a log line (no timestamps are
	// written; UUIDs are hex), so a match is a leak, not chance.
	const pin, wrong = "80604217", "80604218"
	h, err := passhash.Hash(pin)
	if err != nil {
		t.Fatal(err)
	}
	var logs logBuffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)
	r := startOutsideRigWith(t, filepath.Join(t.TempDir(), "parkd.db"), true, h, log)
	parked := r.park(t, "202")
	out := r.call(t, "+15550100")
	enter(t, out, "202", wrong, 1)
	enter(t, out, "202", pin, 2)
	retrieved(t, out, parked)
	noPINLeft(t, out)
	out.Hangup("NORMAL_CLEARING")
	gone(t, parked)
	// The history row and the log line of the retrieve are written just
	// after the bridge.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "outside:+15550100") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}

	secrets := []string{pin, wrong, "202" + pin, "202" + wrong}
	text := logs.String()
	for _, want := range []string{"play_and_get_digits", "pin_failed", "outside:+15550100"} {
		if !strings.Contains(text, want) {
			t.Fatalf("no %q in the debug log: the test does not see what it should\n%s", want, text)
		}
	}
	for _, sec := range secrets {
		if strings.Contains(text, sec) {
			t.Fatalf("the debug log holds %q:\n%s", sec, text)
		}
	}
	cmds := r.sim.Commands()
	if len(cmds) == 0 {
		t.Fatal("the simulator recorded no commands")
	}
	for _, c := range cmds {
		for _, sec := range secrets {
			if strings.Contains(c, sec) {
				t.Fatalf("parkd sent the switch %q, which holds a PIN", c)
			}
		}
	}
	for _, ch := range []*fstest.Channel{out, parked} {
		for k, v := range ch.State().Vars {
			for _, sec := range secrets {
				if strings.Contains(v, sec) {
					t.Fatalf("channel %s keeps %s=%s", ch.UUID(), k, v)
				}
			}
		}
	}
}
