package esl_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// bigKeys: one lot of 2,000 slots, the republish figure.
var bigKeys = esl.LampKeys{{Lot: "big", First: 1, Last: 2000, Prefix: "park+", LotKey: "big"}}

func fillBig(f *fakeLamps) {
	for s := 1; s <= 2000; s += 2 {
		f.set(parking.Lamp{Lot: "big", Slot: s, State: parking.LampParked,
			Caller: parking.Caller{Name: fmt.Sprintf("Caller %d", s), Number: "+15550100"}})
	}
	f.set(parking.Lamp{Lot: "big", State: parking.LampParked, Parked: 1000})
}

// BenchmarkPresenceRepublish2000 is the time to publish every lamp of
// 2,000 slots (and the lot key) to the simulator over TCP, as after a
// reconnect: from the request (a SetKeys, which republishes) until the
// switch has read the last event. Issue 13's target: under 1 s.
func BenchmarkPresenceRepublish2000(b *testing.B) {
	r := startPresence(b, fstest.Options{}, bigKeys, nil, fillBig)
	r.wait(b, "park+big@127.0.0.1", answer("confirmed"))
	for r.sim.PresenceCount() < 2001 {
		time.Sleep(time.Millisecond)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		base := r.sim.PresenceCount()
		if err := r.p.SetKeys(bigKeys); err != nil {
			b.Fatal(err)
		}
		for r.sim.PresenceCount() < base+2001 {
			time.Sleep(50 * time.Microsecond)
		}
	}
}

// BenchmarkPresenceLightLatency is the time from Light (a park, as the
// Service reports it) to the switch reading the PRESENCE_IN, reported as
// p50 and p99 in microseconds. Issue 13's target: p99 under 10 ms.
func BenchmarkPresenceLightLatency(b *testing.B) {
	benchLatency(b, false)
}

// BenchmarkPresenceLightDuringRepublish is the same latency for a park
// that happens while the 2,000 lamps are being republished: it waits for
// the republication, which is what "without delaying parks" bounds.
func BenchmarkPresenceLightDuringRepublish(b *testing.B) {
	benchLatency(b, true)
}

func benchLatency(b *testing.B, republish bool) {
	r := startPresence(b, fstest.Options{}, bigKeys, nil, fillBig)
	r.wait(b, "park+big@127.0.0.1", answer("confirmed"))
	for r.sim.PresenceCount() < 2001 {
		time.Sleep(time.Millisecond)
	}
	lat := make([]time.Duration, 0, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if republish {
			if err := r.p.SetKeys(bigKeys); err != nil {
				b.Fatal(err)
			}
		}
		name := fmt.Sprintf("Bench %d", i)
		start := time.Now()
		r.lamps.set(parking.Lamp{Lot: "big", Slot: 2, State: parking.LampParked, Caller: parking.Caller{Name: name}})
		in, err := r.sim.WaitPresence(ctx, "park+2@127.0.0.1", func(in fstest.PresenceIn) bool {
			return in.Status == "Parked: "+name
		})
		if err != nil {
			b.Fatal(err)
		}
		lat = append(lat, in.At.Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds()), "p99-µs")
}
