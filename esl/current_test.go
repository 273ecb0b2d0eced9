package esl_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// parkCallSetup is a Service parking through a Client connected to a
// simulated switch over TCP.
func parkCallSetup(t *testing.T) (*fstest.Switch, *esl.Client, *parking.Service) {
	t.Helper()
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	c := esl.NewClient(sim.Addr(), "ClueCon")
	c.Instance = "pbx1"
	c.Timeout = 2 * time.Second
	c.MinBackoff, c.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	svc, err := parking.NewService([]parking.LotConfig{{Name: "main", First: 201, Last: 203, Music: "local_stream://moh", Timeout: time.Minute}}, c, &memStore{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.Calls = svc
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	t.Cleanup(func() {
		_ = svc.Shutdown(context.Background())
		cancel()
		<-done
	})
	select {
	case <-c.Connected():
	case <-time.After(5 * time.Second):
		t.Fatal("client did not connect")
	}
	return sim, c, svc
}

func talk(t *testing.T, sim *fstest.Switch, from, name, to string) (*fstest.Channel, *fstest.Channel) {
	t.Helper()
	a, b, err := sim.Talk(fstest.TalkSpec{FromUser: from, FromName: name, ToUser: to})
	if err != nil {
		t.Fatal(err)
	}
	return a, b
}

// Ensure Talk finds a phone's call whether the phone placed it or answered
// it, with the far party as the phone shows it.
func TestClient_TalkFindsEitherSide(t *testing.T) {
	sim, c, _ := parkCallSetup(t)
	caller, phone := talk(t, sim, "5550100", "Jane Roe", "1001")
	ctx := ctxT(t, 5*time.Second)
	for _, tc := range []struct {
		ext      string
		own, far *fstest.Channel
		who      parking.Caller
	}{
		{"1001", phone, caller, parking.Caller{Name: "Jane Roe", Number: "5550100"}}, // answered it
		{"5550100", caller, phone, parking.Caller{Number: "1001"}},                   // placed it
	} {
		got, err := c.Talk(ctx, tc.ext)
		if err != nil {
			t.Fatalf("Talk(%s): %v", tc.ext, err)
		}
		want := parking.Talk{Own: parking.CallID(tc.own.UUID()), Far: parking.CallID(tc.far.UUID()), Caller: tc.who, Domain: "127.0.0.1"}
		if got != want {
			t.Errorf("Talk(%s)=%+v, want %+v", tc.ext, got, want)
		}
	}
	if _, err := c.Talk(ctx, "1009"); !errors.Is(err, parking.ErrNoCall) {
		t.Errorf("Talk of an idle phone: %v, want ErrNoCall", err)
	}
	for _, bad := range []string{"", "1001\n\nbgapi", "-bleg", "10 01"} {
		if _, err := c.Talk(ctx, bad); !errors.Is(err, esl.ErrUnsafeValue) {
			t.Errorf("Talk(%q): %v, want ErrUnsafeValue", bad, err)
		}
	}
}

// Ensure ParkCall over real TCP parks the far party in place, with parkd's
// marks and endless music that the survey recognises, and ends the phone's
// leg; and that a refused park leaves the call talking.
func TestClient_ParkCallParksFarParty(t *testing.T) {
	sim, c, svc := parkCallSetup(t)
	caller, phone := talk(t, sim, "5550100", "Jane Roe", "1001")
	ctx := ctxT(t, 5*time.Second)

	occ, err := svc.ParkCall(ctx, parking.CallPark{Extension: "1001", Slot: 202})
	if err != nil {
		t.Fatal(err)
	}
	if occ.Call != parking.CallID(caller.UUID()) || occ.Slot != 202 || occ.Parker != "1001" || occ.Caller.Name != "Jane Roe" {
		t.Fatalf("occupant %+v", occ)
	}
	st, err := caller.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return strings.HasPrefix(s.Hearing, "music:") })
	if err != nil {
		t.Fatalf("the far party hears no music: %v", err)
	}
	for name, want := range map[string]string{esl.VarSlot: "202", esl.VarLot: "main", esl.VarParker: "1001", esl.VarInstance: "pbx1"} {
		if got := st.Vars[name]; got != want {
			t.Errorf("%s=%q, want %q", name, got, want)
		}
	}
	if _, err := phone.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.Alive }); err != nil {
		t.Errorf("the phone's leg did not end: %v", err)
	}
	chans, err := c.Survey(ctx, []parking.CallID{occ.Call})
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 1 || !chans[0].Parked || chans[0].Slot != 202 || chans[0].Parker != "1001" {
		t.Errorf("survey after the park: %+v", chans)
	}

	// A second phone asks for the same slot: refused, still talking.
	caller2, phone2 := talk(t, sim, "5550101", "John Doe", "1002")
	if _, err := svc.ParkCall(ctx, parking.CallPark{Extension: "1002", Slot: 202}); !errors.Is(err, parking.ErrSlotTaken) {
		t.Fatalf("park into a taken slot: %v, want ErrSlotTaken", err)
	}
	for _, ch := range []*fstest.Channel{caller2, phone2} {
		if s := ch.State(); !s.Alive || s.BridgedTo == "" {
			t.Errorf("after a refused park: %s", s)
		}
	}
	// Its phone hangs up: nothing left to park.
	phone2.Hangup("NORMAL_CLEARING")
	if _, err := caller2.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.Alive }); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ParkCall(ctx, parking.CallPark{Extension: "1002"}); !errors.Is(err, parking.ErrNoCall) {
		t.Fatalf("park after the call ended: %v, want ErrNoCall", err)
	}
}

// Ensure Talk says the switch is down while the Client is not connected.
func TestClient_TalkNotWhileDisconnected(t *testing.T) {
	c := esl.NewClient("127.0.0.1:1", "ClueCon")
	if _, err := c.Talk(context.Background(), "1001"); !errors.Is(err, parking.ErrSwitchDown) {
		t.Fatalf("Talk while not connected: %v, want ErrSwitchDown", err)
	}
}
