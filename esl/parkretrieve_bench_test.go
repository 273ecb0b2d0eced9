package esl_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// BenchmarkParkRetrieveTCP is one full park and retrieve through parkd's
// esl adapter over real TCP sockets on the loopback interface: the
// simulator's socket application connects a caller the dialplan answered
// (as `parkd fsconf` writes it) to the outbound server, which parks it
// (variables, inline music transfer) in a real parking.Service; a second
// call retrieves it (uuid_bridge); then the caller hangs up and both
// sockets close. The inbound client follows the hangup as in parkd.
//
// allocs/op and B/op count the whole process: parkd's side (esl,
// parking, eslgo, zerolog) and the simulator's. BENCHMARKS.md splits them
// with -memprofile.
//
// mem keeps the history in memory; sqlite writes it to a real SQLite file
// as parkd does (store.DB, one transaction per transition: the calls come
// one at a time, so a commit period would batch nothing and only wait).
func BenchmarkParkRetrieveTCP(b *testing.B) {
	b.Run("mem", func(b *testing.B) { benchParkRetrieveTCP(b, &memStore{}) })
	b.Run("sqlite", func(b *testing.B) {
		db := store.NewDB(filepath.Join(b.TempDir(), "parkd.db"))
		if err := db.Open(); err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		benchParkRetrieveTCP(b, db)
	})
}

func benchParkRetrieveTCP(b *testing.B, st parking.Store) {
	sim, err := fstest.New(fstest.Options{PlaybackTime: time.Millisecond, Forget: true})
	if err != nil {
		b.Fatal(err)
	}
	defer sim.Close()
	client := esl.NewClient(sim.Addr(), "ClueCon")
	client.MinBackoff, client.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	svc, err := parking.NewService([]parking.LotConfig{
		{Name: "main", First: 201, Last: 299, Music: "local_stream://moh", Timeout: time.Hour},
	}, client, st)
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	client.Calls = svc
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); _ = client.Run(ctx) }()
	defer func() { cancel(); <-ran }()
	select {
	case <-client.Connected():
	case <-time.After(5 * time.Second):
		b.Fatal("inbound client did not connect")
	}
	srv := esl.NewServer(svc)
	srv.Logger = zerolog.Nop()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
		_ = svc.Shutdown(ctx)
	}()
	addr := ln.Addr().String()

	// The park is a blind transfer (REFER with Referred-By: answered, no
	// slot read out), the retrieve a phone dialling the code, answered by
	// the dialplan before `socket`.
	park := func() *fstest.Channel {
		ch, err := sim.Call(fstest.CallSpec{
			SocketAddr: addr, CallerNumber: "4101", CallerName: "Patient", Destination: "*70",
			Vars:     map[string]string{esl.VarAction: esl.ActionPark, esl.VarLot: "main"},
			Answered: true, ReferredBy: "<sip:1000@127.0.0.1>", AfterSocket: []string{"hangup"},
		})
		if err != nil {
			b.Fatal(err)
		}
		return ch
	}
	retrieve := func() *fstest.Channel {
		ch, err := sim.Call(fstest.CallSpec{
			SocketAddr: addr, CallerNumber: "4102", CallerName: "Nurse", Destination: "*71",
			Vars:         map[string]string{esl.VarAction: esl.ActionRetrieve, esl.VarLot: "main"},
			BeforeSocket: []string{"answer"}, AfterSocket: []string{"hangup"},
		})
		if err != nil {
			b.Fatal(err)
		}
		return ch
	}
	wait := func(ch *fstest.Channel, what string, cond func(fstest.ChannelState) bool) {
		if _, err := ch.WaitFor(5*time.Second, cond); err != nil {
			b.Fatalf("%s: %v (%v)", what, err, ch.State())
		}
	}
	b.ReportAllocs()
	cpu0 := processCPU()
	defer func() {
		// The process's CPU (parkd's side and the simulator's), per op.
		b.ReportMetric(float64((processCPU()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	}()
	for b.Loop() {
		parked := park()
		wait(parked, "parked", func(s fstest.ChannelState) bool {
			return strings.HasPrefix(s.Hearing, "music:") && !s.SocketConnected
		})
		retriever := retrieve()
		wait(retriever, "bridged", func(s fstest.ChannelState) bool { return s.BridgedTo == parked.UUID() })
		parked.Hangup("NORMAL_CLEARING")
		wait(retriever, "retriever's socket closed", func(s fstest.ChannelState) bool { return !s.Alive && !s.SocketConnected })
		for len(svc.Occupants()) != 0 {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// processCPU is this process's user and system CPU so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
