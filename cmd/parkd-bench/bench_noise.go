package main

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/parkd/parkd/esl/fstest"
)

// noiseTick is how often the noise generator places its next batch of
// ordinary calls: a hundred batches a second keeps the load smooth without
// a timer per call.
const noiseTick = 10 * time.Millisecond

// makeNoise places ordinary calls in the simulator at rate per second
// until ctx ends: two phones talk and hang up, as on a switch where most
// calls have nothing to do with parking. None of them reaches parkd's
// dialplan; they cost parkd only what the switch sends it about them. It
// returns how many calls it placed.
func makeNoise(ctx context.Context, sim *fstest.Switch, rate float64, fail func(string, ...any)) int {
	var placed atomic.Int64
	tick := time.NewTicker(noiseTick)
	defer tick.Stop()
	start := time.Now()
	for {
		select {
		case <-ctx.Done():
			return int(placed.Load())
		case now := <-tick.C:
			due := int64(now.Sub(start).Seconds() * rate)
			for placed.Load() < due {
				from, to, err := sim.Talk(fstest.TalkSpec{FromUser: "2001", FromName: "Other call", ToUser: "2002"})
				if err != nil {
					fail("noise call: %v", err)
					return int(placed.Load())
				}
				from.Hangup("NORMAL_CLEARING")
				to.Hangup("NORMAL_CLEARING")
				placed.Add(1)
			}
		}
	}
}
