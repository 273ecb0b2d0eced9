package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storetest"
)

// MustOpenFixture opens a new database holding storetest.Transitions.
func MustOpenFixture(tb testing.TB) *store.DB {
	tb.Helper()
	db := MustOpenDB(tb)
	storetest.Record(tb, db, storetest.Transitions())
	return db
}

// rr builds an expected report row; waits are in milliseconds.
func rr(group string, parked, retrieved, recalled, fallback, abandoned, lost, open, before, attempts int, med, p90, maxW int64) store.ReportRow {
	ms := func(n int64) time.Duration { return time.Duration(n) * time.Millisecond }
	return store.ReportRow{
		Group: group, Parked: parked, Retrieved: retrieved, Recalled: recalled, Fallback: fallback,
		Abandoned: abandoned, Lost: lost, Open: open, BeforeRecall: before, RecallAttempts: attempts,
		WaitMedian: ms(med), WaitP90: ms(p90), WaitMax: ms(maxW),
	}
}

// Ensure the report's figures over the fixture are exactly those computed
// by hand (see storetest.Transitions): calls parked just before the window
// or at its end are left out, calls parked in it count with the outcome they
// had later, percentiles are nearest-rank, and each grouping (including
// hour and day in a zone with a half-hour offset) splits the sessions as the
// fixture table says.
func TestDB_Report(t *testing.T) {
	ctx := context.Background()
	db := MustOpenFixture(t)
	ist := time.FixedZone("IST", 5*3600+1800)
	minus9 := time.FixedZone("-09", -9*3600)
	total := rr("", 15, 8, 2, 1, 2, 1, 1, 7, 3, 45_500, 130_000, 190_000)

	for _, tt := range []struct {
		name string
		by   store.ReportBy
		loc  *time.Location
		want []store.ReportRow
	}{
		{"Lot", store.ByLot, nil, []store.ReportRow{
			rr("main", 8, 5, 1, 0, 2, 0, 0, 4, 2, 30_000, 190_000, 190_000),
			rr("reception", 7, 3, 1, 1, 0, 1, 1, 3, 1, 45_500, 130_000, 130_000),
		}},
		{"DefaultIsLot", "", nil, []store.ReportRow{
			rr("main", 8, 5, 1, 0, 2, 0, 0, 4, 2, 30_000, 190_000, 190_000),
			rr("reception", 7, 3, 1, 1, 0, 1, 1, 3, 1, 45_500, 130_000, 130_000),
		}},
		{"Parker", store.ByParker, nil, []store.ReportRow{
			rr("1001", 6, 5, 1, 0, 0, 0, 0, 4, 2, 60_000, 190_000, 190_000),
			rr("1002", 2, 1, 0, 0, 1, 0, 0, 1, 0, 20_001, 20_001, 20_001),
			rr("1003", 4, 0, 1, 1, 0, 1, 1, 0, 1, 130_000, 130_000, 130_000),
			rr("1004", 2, 2, 0, 0, 0, 0, 0, 2, 0, 5_000, 45_500, 45_500),
			rr("1202", 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0),
		}},
		{"Retriever", store.ByRetriever, nil, []store.ReportRow{
			rr("", 5, 0, 0, 1, 2, 1, 1, 0, 0, 0, 0, 0),
			rr("1001", 1, 0, 1, 0, 0, 0, 0, 0, 2, 190_000, 190_000, 190_000),
			rr("1003", 1, 0, 1, 0, 0, 0, 0, 0, 1, 130_000, 130_000, 130_000),
			rr("1202", 4, 4, 0, 0, 0, 0, 0, 4, 0, 20_001, 60_000, 60_000),
			rr("1203", 1, 1, 0, 0, 0, 0, 0, 0, 0, 125_000, 125_000, 125_000),
			rr("1204", 1, 1, 0, 0, 0, 0, 0, 1, 0, 60_000, 60_000, 60_000),
			rr("1205", 2, 2, 0, 0, 0, 0, 0, 2, 0, 5_000, 45_500, 45_500),
		}},
		{"HourUTC", store.ByHour, nil, []store.ReportRow{
			rr("08", 4, 2, 1, 1, 0, 0, 0, 2, 2, 10_000, 190_000, 190_000),
			rr("09", 3, 1, 0, 0, 1, 0, 1, 1, 0, 45_500, 45_500, 45_500),
			rr("10", 5, 4, 0, 0, 1, 0, 0, 3, 0, 60_000, 125_000, 125_000),
			rr("11", 3, 1, 1, 0, 0, 1, 0, 1, 1, 20_001, 130_000, 130_000),
		}},
		{"HourIST", store.ByHour, ist, []store.ReportRow{
			rr("13", 2, 1, 1, 0, 0, 0, 0, 1, 2, 10_000, 190_000, 190_000),
			rr("14", 5, 2, 0, 1, 1, 0, 1, 2, 0, 5_000, 45_500, 45_500),
			rr("15", 1, 1, 0, 0, 0, 0, 0, 0, 0, 125_000, 125_000, 125_000),
			rr("16", 6, 3, 1, 0, 1, 1, 0, 3, 1, 60_000, 130_000, 130_000),
			rr("17", 1, 1, 0, 0, 0, 0, 0, 1, 0, 20_001, 20_001, 20_001),
		}},
		{"DayMinus9", store.ByDay, minus9, []store.ReportRow{
			rr("2026-11-01", 4, 2, 1, 1, 0, 0, 0, 2, 2, 10_000, 190_000, 190_000),
			rr("2026-11-02", 11, 6, 1, 0, 2, 1, 1, 5, 1, 60_000, 130_000, 130_000),
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep, err := db.Report(ctx, store.ReportQuery{From: storetest.Base(), To: storetest.WindowEnd(), By: tt.by, Location: tt.loc})
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(rep.Groups), len(tt.want); got != want {
				t.Fatalf("groups=%d, want %d: %+v", got, want, rep.Groups)
			}
			for i := range tt.want {
				if got, want := rep.Groups[i], tt.want[i]; got != want {
					t.Errorf("group %d=%+v\nwant     %+v", i, got, want)
				}
			}
			if got, want := rep.Total, total; got != want {
				t.Errorf("total=%+v\nwant  %+v", got, want)
			}
		})
	}

	t.Run("Ratios", func(t *testing.T) {
		rep, err := db.Report(ctx, store.ReportQuery{From: storetest.Base(), To: storetest.WindowEnd()})
		if err != nil {
			t.Fatal(err)
		}
		main := rep.Groups[0]
		if got, want := main.AbandonRate(), 0.25; got != want {
			t.Errorf("abandon rate=%v, want %v", got, want)
		}
		if got, want := main.BeforeRecallShare(), 0.5; got != want {
			t.Errorf("before recall=%v, want %v", got, want)
		}
		if got, ok := rep.Total.AttemptsPerRecalled(); !ok || got != 1.5 {
			t.Errorf("attempts per recalled=%v, %v, want 1.5", got, ok)
		}
		if _, ok := rr("x", 1, 1, 0, 0, 0, 0, 0, 1, 0, 1, 1, 1).AttemptsPerRecalled(); ok {
			t.Errorf("attempts per recalled defined without recalled calls")
		}
	})

	t.Run("Edges", func(t *testing.T) {
		// A window of exactly one millisecond at each edge call.
		for _, tt := range []struct {
			from time.Time
			want int
		}{
			{storetest.Base().Add(-time.Millisecond), 1},               // call-a
			{storetest.Base(), 1},                                      // call-b
			{storetest.WindowEnd().Add(-time.Millisecond), 1},          // call-e
			{storetest.WindowEnd(), 1},                                 // call-f
			{storetest.WindowEnd().Add(time.Millisecond), 0},           // nothing
			{storetest.Base().Add(90 * time.Minute), 0},                // the rejected park is no session
			{storetest.Base().Add(170*time.Minute + 5*time.Second), 0}, // call-n's move starts no session
		} {
			rep, err := db.Report(ctx, store.ReportQuery{From: tt.from, To: tt.from.Add(time.Millisecond)})
			if err != nil {
				t.Fatal(err)
			}
			if got := rep.Total.Parked; got != tt.want {
				t.Errorf("parked in [%v, +1ms)=%d, want %d", tt.from, got, tt.want)
			}
		}
	})

	t.Run("ErrInvalid", func(t *testing.T) {
		for _, q := range []store.ReportQuery{
			{From: storetest.Base(), To: storetest.WindowEnd(), By: "week"},
			{From: storetest.WindowEnd(), To: storetest.Base()},
			{From: storetest.Base(), To: storetest.Base()},
			{To: storetest.Base()},
		} {
			if _, err := db.Report(ctx, q); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("query %+v: err=%v, want %v", q, err, store.ErrInvalid)
			}
		}
	})
}

// Ensure nearest-rank percentiles pick the documented ranks.
func TestPercentile(t *testing.T) {
	vals := func(n int) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = time.Duration(i + 1)
		}
		return out
	}
	for _, tt := range []struct {
		n, p int
		want time.Duration
	}{
		{0, 50, 0}, {1, 50, 1}, {1, 90, 1}, {2, 50, 1}, {2, 90, 2}, {4, 50, 2}, {5, 50, 3},
		{10, 90, 9}, {11, 90, 10}, {10, 100, 10}, {100, 90, 90}, {101, 90, 91}, {3, 1, 1},
	} {
		t.Run(fmt.Sprintf("n%d_p%d", tt.n, tt.p), func(t *testing.T) {
			if got := store.Percentile(vals(tt.n), tt.p); got != tt.want {
				t.Fatalf("Percentile=%v, want %v", got, tt.want)
			}
		})
	}
}

// waitInputs returns named inputs for the selection tests: random values
// with and without duplicates, and orders that make a naive pivot split
// badly.
func waitInputs(n int, rng *rand.Rand) map[string][]time.Duration {
	gen := func(f func(i int) time.Duration) []time.Duration {
		out := make([]time.Duration, n)
		for i := range out {
			out[i] = f(i)
		}
		return out
	}
	return map[string][]time.Duration{
		"Random":     gen(func(int) time.Duration { return time.Duration(rng.IntN(1_000_000)) }),
		"FewValues":  gen(func(int) time.Duration { return time.Duration(rng.IntN(3)) }),
		"Equal":      gen(func(int) time.Duration { return 7 }),
		"Ascending":  gen(func(i int) time.Duration { return time.Duration(i) }),
		"Descending": gen(func(i int) time.Duration { return time.Duration(n - i) }),
		"OrganPipe":  gen(func(i int) time.Duration { return time.Duration(min(i, n-i)) }),
		"Sawtooth":   gen(func(i int) time.Duration { return time.Duration(i % 17) }),
	}
}

// Ensure the wait percentiles found by selection are those Percentile
// finds in the sorted waits, whatever their number and order.
func TestWaitPercentiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{0, 1, 2, 3, 4, 5, 9, 10, 11, 12, 13, 20, 99, 100, 101, 1000, 4097} {
		for name, ws := range waitInputs(n, rng) {
			t.Run(fmt.Sprintf("%s%d", name, n), func(t *testing.T) {
				sorted := slices.Sorted(slices.Values(ws))
				med, p90, maxW := store.WaitPercentiles(ws)
				if got, want := med, store.Percentile(sorted, 50); got != want {
					t.Errorf("median=%v, want %v", got, want)
				}
				if got, want := p90, store.Percentile(sorted, 90); got != want {
					t.Errorf("p90=%v, want %v", got, want)
				}
				if got, want := maxW, store.Percentile(sorted, 100); got != want {
					t.Errorf("max=%v, want %v", got, want)
				}
				if slices.Sort(ws); !slices.Equal(ws, sorted) {
					t.Errorf("the waits changed, not just their order")
				}
			})
		}
	}
}

// Ensure selectNth puts the k-th value in place, with nothing greater
// before it and nothing smaller after it, including when its partition
// budget runs out and it sorts the rest.
func TestSelectNth(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, budget := range []int{0, 1, 2, 40} {
		for name, ws := range waitInputs(500, rng) {
			for _, k := range []int{0, 1, 249, 250, 449, 498, 499} {
				s := slices.Clone(ws)
				sorted := slices.Sorted(slices.Values(ws))
				store.SelectNth(s, k, budget)
				if got, want := s[k], sorted[k]; got != want {
					t.Fatalf("%s budget %d: s[%d]=%v, want %v", name, budget, k, got, want)
				}
				if m := slices.Max(s[:k+1]); m != s[k] {
					t.Fatalf("%s budget %d: %v before s[%d]=%v", name, budget, m, k, s[k])
				}
				if m := slices.Min(s[k:]); m != s[k] {
					t.Fatalf("%s budget %d: %v after s[%d]=%v", name, budget, m, k, s[k])
				}
			}
		}
	}
}
