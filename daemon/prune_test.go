package daemon

import (
	"context"
	"maps"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storetest"
)

// fakePruner records the cutoffs it is asked to prune before.
type fakePruner struct{ calls []time.Time }

func (f *fakePruner) Prune(_ context.Context, before time.Time) (int64, error) {
	f.calls = append(f.calls, before)
	return 1, nil
}

// Ensure the retention loop prunes at once and then every interval, with
// the cutoff keep before now, and does nothing when keep is 0.
func TestPruneEvery(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := &fakePruner{}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		start := time.Now()
		go func() {
			pruneEvery(ctx, p, 400*24*time.Hour, 24*time.Hour, zerolog.Nop())
			close(done)
		}()
		time.Sleep(49 * time.Hour)
		synctest.Wait()
		cancel()
		<-done
		if got, want := len(p.calls), 3; got != want {
			t.Fatalf("prunes=%d, want %d", got, want)
		}
		for i, c := range p.calls {
			if want := start.Add(time.Duration(i)*24*time.Hour - 400*24*time.Hour); !c.Equal(want) {
				t.Fatalf("prune %d before %v, want %v", i, c, want)
			}
		}

		idle := &fakePruner{}
		pruneEvery(context.Background(), idle, 0, time.Hour, zerolog.Nop())
		if len(idle.calls) != 0 {
			t.Fatalf("keep 0 pruned %d times", len(idle.calls))
		}
	})
}

// Ensure the daemon applies [store] keep: at start it prunes the sessions
// that ended longer ago than that, and keeps the call still parked.
func TestServe_PrunesOnStart(t *testing.T) {
	// Every fixture session but call-i's ended before the cutoff.
	keep := time.Since(storetest.WindowEnd().Add(time.Hour))
	if keep < 24*time.Hour {
		t.Skip("the clock is not a day past the fixture's history")
	}
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	reception := lot("reception", "301-320", func(l *conf.Lot) { l.ParkCode, l.RetrieveCode = "*80", "*81" })
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim, lot("main", "201-220", nil), reception)}
	h.cfg.Store.Keep = keep
	db := store.NewDB(h.cfg.Store.Path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	storetest.Record(t, db, storetest.Transitions())
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	h.boot()
	calls := func() map[parking.CallID]bool {
		rows, err := h.m.DB.History(context.Background(), store.HistoryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[parking.CallID]bool{}
		for _, r := range rows {
			out[r.Call] = true
		}
		return out
	}
	deadline := time.Now().Add(wait5s)
	for got := calls(); !maps.Equal(got, map[parking.CallID]bool{"call-i": true}); got = calls() {
		if time.Now().After(deadline) {
			t.Fatalf("history holds the rows of %v; want only call-i's, the call still parked at start", slices.Sorted(maps.Keys(got)))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
