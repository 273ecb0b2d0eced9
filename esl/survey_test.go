package esl_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// serveOn starts an outbound Server for instance, parking through p, that
// sim's calls can reach at the returned address.
func serveOn(t *testing.T, instance string, p esl.Parking) string {
	t.Helper()
	srv := esl.NewServer(p)
	srv.Instance = instance
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	return ln.Addr().String()
}

// parkVia parks a new call through the server at addr and waits until it
// hears music with parkd gone from its socket.
func parkVia(t *testing.T, sim *fstest.Switch, addr string) *fstest.Channel {
	t.Helper()
	ch, err := sim.Call(fstest.CallSpec{
		SocketAddr: addr, CallerNumber: "5550100", Answered: true,
		Vars: map[string]string{esl.VarAction: "park", esl.VarLot: "main", esl.VarSlot: "201"},
	})
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

// Ensure Survey reports this instance's parked calls and recall legs only:
// a call parked by another parkd instance, and a call parked by FusionPBX's
// valet park (park_lot and park_slot, no parkd_ variables), are left out.
func TestClient_SurveyAdoptsOnlyItsInstance(t *testing.T) {
	sim, c := startSwitch(t)
	c.Instance = "pbx1"

	ours := parkVia(t, sim, serveOn(t, "pbx1", &oneSlot{}))
	theirs := parkVia(t, sim, serveOn(t, "pbx2", &oneSlot{}))
	if got := theirs.State().Vars[esl.VarInstance]; got != "pbx2" {
		t.Fatalf("the other instance's call carries %s=%q", esl.VarInstance, got)
	}

	// FusionPBX's valet park: its own variables, music, no parkd.
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	valet, _ := sim.Call(fstest.CallSpec{
		SocketAddr: deadAddr, CallerNumber: "5550200", Answered: true,
		Vars:        map[string]string{"park_lot": "main", "park_slot": "201", "park_parker": "1000"},
		AfterSocket: []string{"endless_playback local_stream://moh"},
	})
	if _, err := valet.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return strings.HasPrefix(s.Hearing, "music:")
	}); err != nil {
		t.Fatalf("valet call not on music: %v", err)
	}

	// One of our recall legs, answered and waiting.
	sim.Register("1000", fstest.Endpoint{AnswerAfter: time.Millisecond})
	o := recall("1000")
	o.Parked = parking.CallID(ours.UUID())
	if err := c.Originate(ctxT(t, 5*time.Second), o); err != nil {
		t.Fatal(err)
	}

	chans, err := c.Survey(ctxT(t, 5*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	got := map[parking.CallID]parking.Channel{}
	for _, ch := range chans {
		got[ch.Call] = ch
	}
	if len(got) != 2 {
		t.Fatalf("surveyed %+v, want our parked call and our recall leg only", chans)
	}
	if ch, ok := got[parking.CallID(ours.UUID())]; !ok || ch.Slot != 201 || ch.Lot != "main" || !ch.Parked || ch.RecallFor != "" {
		t.Fatalf("our parked call: %+v (found %v)", ch, ok)
	}
	if ch, ok := got[o.Leg]; !ok || ch.RecallFor != o.Parked || ch.Slot != 0 {
		t.Fatalf("our recall leg: %+v (found %v)", ch, ok)
	}

	// The same switch seen by the other instance: only its own call.
	c.Instance = "pbx2"
	chans, err = c.Survey(ctxT(t, 5*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 1 || chans[0].Call != parking.CallID(theirs.UUID()) {
		t.Fatalf("pbx2 surveyed %+v, want its own call only", chans)
	}
}

// Ensure Hold writes the instance with the other park variables, in the
// one uuid_setvar_multi.
func TestServer_HoldWritesInstance(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	ch := parkVia(t, sim, serveOn(t, "pbx1", &oneSlot{}))
	st := ch.State()
	for name, want := range map[string]string{esl.VarInstance: "pbx1", esl.VarLot: "main", esl.VarSlot: "201"} {
		if got := st.Vars[name]; got != want {
			t.Errorf("%s=%q, want %q", name, got, want)
		}
	}
	n := 0
	for _, cmd := range sim.Commands() {
		if strings.Contains(cmd, "uuid_setvar") {
			n++
			if !strings.Contains(cmd, "uuid_setvar_multi "+ch.UUID()+" parkd_instance=pbx1;parkd_lot=main;") {
				t.Errorf("setvar command %q", cmd)
			}
		}
	}
	if n != 1 {
		t.Fatalf("%d uuid_setvar commands, want 1", n)
	}
}

// Ensure a Server or Client with an instance name that could inject into a
// command refuses to start.
func TestInstance_InvalidRefused(t *testing.T) {
	for _, bad := range []string{"", "pbx 1", "pbx1;parkd_slot=1", `pbx"1`, "pbx'1"} {
		srv := esl.NewServer(&oneSlot{})
		srv.Instance = bad
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Serve(ln); !errors.Is(err, esl.ErrBadInstance) {
			t.Errorf("Serve with instance %q: %v, want ErrBadInstance", bad, err)
		}
		if _, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			t.Errorf("instance %q: the listener is still open", bad)
		}
		c := esl.NewClient("127.0.0.1:1", "ClueCon")
		c.Calls = &recordingCalls{}
		c.Instance = bad
		if err := c.Run(context.Background()); !errors.Is(err, esl.ErrBadInstance) {
			t.Errorf("Run with instance %q: %v, want ErrBadInstance", bad, err)
		}
	}
}

// Ensure a call parked before parkd's variables took the parkd_ prefix
// (park_slot, park_lot, ... and no instance) is re-adopted when parkd's
// database holds it, so an upgrade with calls parked loses none; the same
// variables on a call parkd does not know (FusionPBX's valet park) are
// still left alone.
func TestClient_SurveyAdoptsItsCallsParkedBeforeTheUpgrade(t *testing.T) {
	sim, c := startSwitch(t)
	c.Instance = "pbx1"
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	old, _ := sim.Call(fstest.CallSpec{
		SocketAddr: deadAddr, CallerNumber: "5550300", Answered: true,
		Vars: map[string]string{"park_lot": "main", "park_slot": "202", "park_parker": "1000",
			"park_parked_at": "2026-12-01T09:00:00.000Z"},
		AfterSocket: []string{"endless_playback local_stream://moh"},
	})
	if _, err := old.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return strings.HasPrefix(s.Hearing, "music:")
	}); err != nil {
		t.Fatalf("old call not on music: %v", err)
	}

	chans, err := c.Survey(ctxT(t, 5*time.Second), []parking.CallID{parking.CallID(old.UUID())})
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	if len(chans) != 1 || chans[0].Slot != 202 || chans[0].Lot != "main" || chans[0].Parker != "1000" ||
		!chans[0].Parked || !chans[0].ParkedAt.Equal(want) {
		t.Fatalf("surveyed %+v, want the old call in main/202, parked by 1000 at %v", chans, want)
	}
	if chans, err := c.Survey(ctxT(t, 5*time.Second), nil); err != nil || len(chans) != 0 {
		t.Fatalf("not known: surveyed %+v, %v; want nothing", chans, err)
	}
}

// Ensure Survey reports as stranded a call left in the socket application
// with a parkd request by a listener that closed before its connect (as a
// parkd killed with calls in its accept queue does), routed before this
// parkd started; and not one routed after it started.
func TestClient_SurveyFindsStrandedCalls(t *testing.T) {
	sim, c := startSwitch(t)
	c.Instance = "pbx1"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			nc.Close() // closed before any connect
		}
	}()
	strand := func() *fstest.Channel {
		ch, err := sim.Call(fstest.CallSpec{
			SocketAddr: ln.Addr().String(), CallerNumber: "5550400", Answered: true,
			Vars: map[string]string{esl.VarAction: "park", esl.VarLot: "main"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.SocketConnected }); err != nil {
			t.Fatal(err)
		}
		return ch
	}
	old := strand()
	c.StrandedBefore = time.Now()
	fresh := strand()

	chans, err := c.Survey(ctxT(t, 5*time.Second), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 1 || chans[0].Call != parking.CallID(old.UUID()) || !chans[0].Stranded ||
		chans[0].Return != (parking.Destination{Extension: esl.ReturnExtension, Dialplan: "XML", Context: "default"}) {
		t.Fatalf("surveyed %+v, want only %s, stranded, to go back through %s", chans, old.UUID(), esl.ReturnExtension)
	}
	if st := fresh.State(); st.Application != "socket" {
		t.Fatalf("the fresh call is in %q, want it still in the socket application", st.Application)
	}
}
