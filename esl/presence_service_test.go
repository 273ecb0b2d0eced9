package esl_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// Ensure the real Service lights the slot's and the lot's keys through
// Presence over TCP: a park turns the slot confirmed with the caller in
// the status and the lot key "1 parked", a recall ringing the parker turns
// it early, a retrieve turns both terminated.
func TestPresence_ServiceLampsEndToEnd(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	sim.Register("1000", fstest.Endpoint{NoAnswer: true})
	c := esl.NewClient(sim.Addr(), "ClueCon")
	c.MinBackoff, c.MaxBackoff = time.Millisecond, 10*time.Millisecond
	lots := []parking.LotConfig{
		{Name: "main", First: 201, Last: 202, Music: "local_stream://moh", Timeout: time.Hour},
		{Name: "recall", First: 301, Last: 301, Music: "local_stream://moh", Timeout: 50 * time.Millisecond,
			Recall: parking.RecallConfig{Enabled: true, Dial: "user/{parker}@{domain}", Domain: "127.0.0.1",
				RingFor: time.Hour, RetryAfter: time.Hour, Attempts: 1}},
	}
	svc, err := parking.NewService(lots, c, &memStore{})
	if err != nil {
		t.Fatal(err)
	}
	keys := esl.LampKeys{
		{Lot: "main", First: 201, Last: 202, Prefix: "park+", LotKey: "main"},
		{Lot: "recall", First: 301, Last: 301, Prefix: "park+"},
	}
	p := esl.NewPresence(c, svc, keys, nil)
	svc.Lamps = p
	c.Calls = svc
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv := esl.NewServer(svc)
	srv.CallTimeout = 5 * time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 3)
	go func() { _ = srv.Serve(ln); done <- struct{}{} }()
	go func() { _ = c.Run(ctx); done <- struct{}{} }()
	go func() { _ = p.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		_ = srv.Shutdown(sctx)
		for range 3 {
			<-done
		}
	})
	r := &presenceRig{sim: sim, c: c, p: p}
	r.wait(t, "park+201@127.0.0.1", answer("terminated")) // published at connect

	call := func(action, lot, slot string) *fstest.Channel {
		t.Helper()
		ch, err := sim.Call(fstest.CallSpec{
			SocketAddr: ln.Addr().String(), CallerName: "Jane Roe", CallerNumber: "5550100", Answered: true,
			ReferredBy: "<sip:1000@127.0.0.1>",
			Vars:       map[string]string{esl.VarAction: action, esl.VarLot: lot, esl.VarSlot: slot},
		})
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	call("park", "main", "201")
	in := r.wait(t, "park+201@127.0.0.1", answer("confirmed"))
	if !strings.HasPrefix(in.Status, "Parked: Jane Roe") {
		t.Fatalf("status %q", in.Status)
	}
	if in := r.wait(t, "park+main@127.0.0.1", answer("confirmed")); in.Status != "1 parked" {
		t.Fatalf("lot key status %q", in.Status)
	}
	call("retrieve", "main", "201")
	r.wait(t, "park+201@127.0.0.1", answer("terminated"))
	r.wait(t, "park+main@127.0.0.1", answer("terminated"))

	call("park", "recall", "301")
	r.wait(t, "park+301@127.0.0.1", answer("confirmed"))
	r.wait(t, "park+301@127.0.0.1", answer("early")) // the recall rings 1000
}
