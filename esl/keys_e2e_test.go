package esl_test

import (
	"context"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// keyRig is parkd's outbound server driving a real parking.Service with
// two lots, main (201-203) and vip (301-302), and a simulated FreeSWITCH:
// the busy-lamp keys end to end over TCP.
type keyRig struct {
	sim    *fstest.Switch
	svc    *parking.Service
	client *esl.Client
	addr   string
}

// startKeyRig starts the rig; setup, if any, sees the outbound server
// before it serves.
func startKeyRig(t *testing.T, setup ...func(*esl.Server)) *keyRig {
	t.Helper()
	r := &keyRig{sim: fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})}
	// The inbound connection tells the Service of hangups, as in parkd.
	client := esl.NewClient(r.sim.Addr(), "ClueCon")
	client.MinBackoff, client.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	svc, err := parking.NewService([]parking.LotConfig{
		{Name: "main", First: 201, Last: 203, Music: "local_stream://moh", Timeout: time.Hour},
		{Name: "vip", First: 301, Last: 302, Music: "local_stream://moh", Timeout: time.Hour},
	}, client, &memStore{})
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.svc, r.client = svc, client
	client.Calls = svc
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = client.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-ran })
	select {
	case <-client.Connected():
	case <-time.After(5 * time.Second):
		t.Fatal("inbound client did not connect")
	}
	srv := esl.NewServer(svc)
	srv.Logger = zerolog.Nop()
	for _, f := range setup {
		f(srv)
	}
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
	})
	return r
}

// press sends a call to a key as the dialplan fsconf writes does:
// parkd_action=key with the slot (park+<slot>) or the lot (the lot's key).
// referredBy set: the call was blind-transferred to the key by that phone.
func (r *keyRig) press(t *testing.T, number, slot, lot, referredBy string) *fstest.Channel {
	t.Helper()
	vars := map[string]string{esl.VarAction: esl.ActionKey}
	if slot != "" {
		vars[esl.VarSlot] = slot
	}
	if lot != "" {
		vars[esl.VarLot] = lot
	}
	ch, err := r.sim.Call(fstest.CallSpec{
		SocketAddr: r.addr, CallerNumber: number, CallerName: "Caller " + number, Destination: "park+" + slot + lot,
		Vars: vars, Answered: referredBy != "", ReferredBy: referredBy,
	})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// parkedIn waits until ch hears music with parkd's socket gone and the
// Service holds it in lot/slot.
func (r *keyRig) parkedIn(t *testing.T, ch *fstest.Channel, lot string, slot int) {
	t.Helper()
	if _, err := ch.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return strings.HasPrefix(s.Hearing, "music:") && !s.SocketConnected
	}); err != nil {
		t.Fatalf("not parked: %v (%v)", err, ch.State())
	}
	// On a sync socket parkd says exit as soon as the switch has taken the
	// music's transfer, so the call can hear the music with its socket
	// closed a moment before parkd has recorded it parked: wait for that.
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, o := range r.svc.Occupants() {
			if string(o.Call) == ch.UUID() {
				if o.Lot != lot || o.Slot != slot {
					t.Fatalf("parked in %s/%d, want %s/%d", o.Lot, o.Slot, lot, slot)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s not among the occupants %+v", ch.UUID(), r.svc.Occupants())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// empty waits until no slot holds a call: a retrieve frees its slot just
// after the bridge the retriever sees.
func (r *keyRig) empty(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for len(r.svc.Occupants()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("slots still held: %+v", r.svc.Occupants())
		}
		time.Sleep(time.Millisecond)
	}
}

// retrieved waits until retriever is bridged to parked.
func retrieved(t *testing.T, retriever, parked *fstest.Channel) {
	t.Helper()
	if _, err := retriever.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return s.BridgedTo == parked.UUID()
	}); err != nil {
		t.Fatalf("retriever not bridged to the parked call: %v (%v)", err, retriever.State())
	}
}

const reception = "<sip:1000@127.0.0.1>"

// Ensure a call blind-transferred to a slot's key is parked in that slot,
// with the transferring phone as parker, and that dialling the key
// retrieves it.
func TestKey_SlotTransferParksDialRetrieves(t *testing.T) {
	r := startKeyRig(t)
	caller := r.press(t, "5550100", "202", "", reception)
	r.parkedIn(t, caller, "main", 202)
	if occ := r.svc.Occupants(); len(occ) != 1 || occ[0].Parker != "1000" {
		t.Fatalf("occupants %+v, want one parked by 1000", occ)
	}

	desk := r.press(t, "1001", "202", "", "")
	retrieved(t, desk, caller)
	r.empty(t)
}

// Ensure a slot's key outside the first lot finds its lot by the slot.
func TestKey_SlotOfSecondLot(t *testing.T) {
	r := startKeyRig(t)
	caller := r.press(t, "5550100", "302", "", reception)
	r.parkedIn(t, caller, "vip", 302)
	retrieved(t, r.press(t, "1001", "302", "", ""), caller)
}

// Ensure dialling an empty slot's key gives the error tone and never parks
// the person dialling, and a key of a slot no lot has does neither.
func TestKey_DialEmptySlotErrorTone(t *testing.T) {
	for _, slot := range []string{"203", "999"} {
		t.Run(slot, func(t *testing.T) {
			r := startKeyRig(t)
			desk := r.press(t, "1001", slot, "", "")
			st, err := desk.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
				return slices.Contains(s.Played, esl.ErrorTone) && !s.Alive
			})
			if err != nil {
				t.Fatalf("no error tone: %v (%v)", err, desk.State())
			}
			if strings.HasPrefix(st.Hearing, "music:") {
				t.Fatalf("the dialler hears music: %v", st)
			}
			if occ := r.svc.Occupants(); len(occ) != 0 {
				t.Fatalf("something parked: %+v", occ)
			}
		})
	}
}

// Ensure a lot's key parks a transferred call in the lot's lowest free
// slot, and dialling it retrieves the lot's longest-waiting call.
func TestKey_LotKeyBothWays(t *testing.T) {
	r := startKeyRig(t)
	first := r.press(t, "5550100", "", "vip", reception)
	r.parkedIn(t, first, "vip", 301)
	second := r.press(t, "5550101", "", "vip", reception)
	r.parkedIn(t, second, "vip", 302)

	retrieved(t, r.press(t, "1001", "", "vip", ""), first)
	retrieved(t, r.press(t, "1002", "", "vip", ""), second)

	desk := r.press(t, "1003", "", "vip", "")
	if _, err := desk.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return slices.Contains(s.Played, esl.ErrorTone) && !s.Alive
	}); err != nil {
		t.Fatalf("empty lot's key: no error tone: %v (%v)", err, desk.State())
	}
	r.empty(t)
}

// Ensure a request parkd refuses itself is sent back to whoever transferred
// it, but a call that dialled parkd itself is not sent to its own phone:
// the error tone, then a hangup.
func TestKey_RefusedNotSentToItself(t *testing.T) {
	r := startKeyRig(t)
	for _, tc := range []struct {
		referredBy string
		wantDest   string
	}{
		{"", ""},
		{reception, "1000"},
	} {
		ch, err := r.sim.Call(fstest.CallSpec{
			SocketAddr: r.addr, CallerNumber: "1001", Destination: "park+x", Answered: true, ReferredBy: tc.referredBy,
			Vars: map[string]string{esl.VarAction: esl.ActionKey, esl.VarSlot: "x"},
		})
		if err != nil {
			t.Fatal(err)
		}
		st, err := ch.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
			return slices.Contains(s.Played, esl.ErrorTone) && (!s.Alive || s.Destination == tc.wantDest)
		})
		if err != nil {
			t.Fatalf("referred by %q: %v", tc.referredBy, err)
		}
		if tc.wantDest == "" && (st.Alive || st.Destination == "1001") {
			t.Fatalf("a call that dialled parkd itself: %v, want hung up after the tone", st)
		}
	}
}
