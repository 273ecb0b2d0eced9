package esl_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/percipia/eslgo/command"

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
	// A parkd that lost its store finds the call by its marks alone; one
	// that holds it finds it still parked.
	chans, err := c.Survey(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 1 || !chans[0].Parked || chans[0].Slot != 202 || chans[0].Parker != "1001" {
		t.Errorf("survey after the park: %+v", chans)
	}
	if chans, err := c.Survey(ctx, []parking.CallID{occ.Call}); err != nil || len(chans) != 1 || !chans[0].Parked {
		t.Errorf("survey after the park, the call known: %+v, %v", chans, err)
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

// realTalkRow is `show calls as json` on the real switch (FreeSWITCH
// 1.11.3-dev) for a caller 1003 that dialled phone 1002, which answered
// (docs/freeswitch.md#current-call).
const realTalkRow = `{"row_count":1,"rows":[{"uuid":"a6a54793-d49b-436c-a31c-45716d901fbe","direction":"inbound","created":"2026-12-05 09:08:17","created_epoch":"1796461697","name":"sofia/internal/1003@127.0.0.1:5392","state":"CS_EXECUTE","cid_name":"Phone Three","cid_num":"1003","ip_addr":"127.0.0.1","dest":"1002","presence_id":"1003@127.0.0.1","presence_data":"","accountcode":"","callstate":"ACTIVE","callee_name":"Outbound Call","callee_num":"1002","callee_direction":"SEND","call_uuid":"a6a54793-d49b-436c-a31c-45716d901fbe","hostname":"vm","sent_callee_name":"Outbound Call","sent_callee_num":"1002","b_uuid":"892b2789-2e4e-4ea0-b446-a0ef8929461a","b_direction":"outbound","b_created":"2026-12-05 09:08:17","b_created_epoch":"1796461697","b_name":"sofia/internal/1002@127.0.0.1:5390","b_state":"CS_EXCHANGE_MEDIA","b_cid_name":"Phone Three","b_cid_num":"1003","b_ip_addr":"127.0.0.1","b_dest":"1002","b_presence_id":"1002@127.0.0.1","b_presence_data":"","b_accountcode":"","b_callstate":"ACTIVE","b_callee_name":"Outbound Call","b_callee_num":"1002","b_callee_direction":"SEND","b_sent_callee_name":"Phone Three","b_sent_callee_num":"1003","call_created_epoch":"1796461698"}]}`

// Ensure the simulator lists a bridged call as the real switch does: the
// same columns, and the same values in the columns Talk reads.
func TestSimulator_ShowCallsLikeTheRealSwitch(t *testing.T) {
	sim, c, _ := parkCallSetup(t)
	a, b := talk(t, sim, "1003", "Phone Three", "1002")
	body, err := c.API(ctxT(t, 5*time.Second), command.API{Command: "show", Arguments: "calls as json"})
	if err != nil {
		t.Fatal(err)
	}
	var real, got struct {
		Rows []map[string]string `json:"rows"`
	}
	if err := json.Unmarshal([]byte(realTalkRow), &real); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(body), &got); err != nil || len(got.Rows) != 1 {
		t.Fatalf("simulator's show calls: %v %q", err, body)
	}
	r, g := real.Rows[0], got.Rows[0]
	if len(r) != len(g) {
		t.Errorf("columns: %d, the real switch has %d", len(g), len(r))
	}
	for k, v := range r {
		gv, ok := g[k]
		if !ok {
			t.Errorf("column %s missing", k)
			continue
		}
		switch k {
		case "direction", "cid_name", "cid_num", "dest", "presence_id", "callstate", "callee_name", "callee_num",
			"b_direction", "b_cid_name", "b_cid_num", "b_dest", "b_presence_id", "b_callstate", "b_callee_name", "b_callee_num":
			if gv != v {
				t.Errorf("%s=%q, the real switch says %q", k, gv, v)
			}
		}
	}
	if g["uuid"] != a.UUID() || g["b_uuid"] != b.UUID() {
		t.Errorf("uuid %s b_uuid %s, want %s and %s", g["uuid"], g["b_uuid"], a.UUID(), b.UUID())
	}
}
