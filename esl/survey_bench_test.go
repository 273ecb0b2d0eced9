package esl_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

var surveyCalls = flag.Int("survey.calls", 10_000, "BenchmarkSurvey: calls parked")

// BenchmarkSurvey is the survey of a parkd that restarts with calls
// parked, over TCP against the simulator (in this process, so both sides'
// CPU is in the figure): `show calls as json`, then the marks of every
// call it holds. -survey.calls sets how many (issue 16 asks for 50,000).
func BenchmarkSurvey(b *testing.B) {
	n := *surveyCalls
	sim := fstest.Start(b, fstest.Options{PlaybackTime: 5 * time.Millisecond, Forget: true})
	c := esl.NewClient(sim.Addr(), "ClueCon")
	c.Calls = &recordingCalls{}
	c.Instance = "pbx1"
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	<-c.Connected()
	dead := deadAddrB(b)
	known := make([]parking.CallID, 0, n)
	for i := range n {
		ch, _ := sim.Call(fstest.CallSpec{
			SocketAddr: dead, CallerNumber: fmt.Sprint(5550000 + i), Answered: true,
			Vars: map[string]string{esl.VarInstance: "pbx1", esl.VarLot: "main", esl.VarSlot: fmt.Sprint(1000 + i),
				esl.VarParker: "1000", esl.VarParkedAt: "2026-12-01T09:00:00.000Z"},
			AfterSocket: []string{"endless_playback local_stream://moh"},
		})
		known = append(known, parking.CallID(ch.UUID()))
	}
	b.ResetTimer()
	for b.Loop() {
		chans, err := c.Survey(context.Background(), known)
		if err != nil {
			b.Fatal(err)
		}
		if len(chans) != n {
			b.Fatalf("%d channels surveyed, want %d", len(chans), n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/float64(n), "µs/call")
}
