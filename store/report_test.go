package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the zones of TestDB_ReportMatchesSessions, wherever the tests run

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storegen"
	"github.com/parkd/parkd/store/storetest"
)

// MustOpenFixture opens a new SQLite database holding
// storetest.Transitions.
func MustOpenFixture(tb testing.TB) *store.DB {
	tb.Helper()
	return backends[0].openFixture(tb)
}

// generate fills db, new and open, with storegen's history for o: on
// SQLite directly, on PostgreSQL by way of a SQLite file and Copy (the
// generator writes SQLite's tables).
func (b backend) generate(tb testing.TB, db *store.DB, o storegen.Options) {
	tb.Helper()
	ctx := context.Background()
	path := db.Path
	if b.name != "sqlite" {
		path = filepath.Join(tb.TempDir(), "generated.db")
	}
	if _, err := storegen.Generate(ctx, path, o); err != nil {
		tb.Fatal(err)
	}
	if b.name == "sqlite" {
		return
	}
	src, err := store.OpenReadOnly(path)
	if err != nil {
		tb.Fatal(err)
	}
	defer src.Close()
	res, err := store.Copy(ctx, src, db, store.CopyOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, ok := tb.(*testing.B); ok {
		tb.Logf("copied %d history rows into PostgreSQL in %v", res.Tables[0].Rows, res.Elapsed.Round(time.Millisecond))
	}
}

// openFixture opens a new database of the backend holding
// storetest.Transitions.
func (b backend) openFixture(tb testing.TB) *store.DB {
	tb.Helper()
	db := b.open(tb)
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
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.openFixture(t)
		ist := time.FixedZone("IST", 5*3600+1800)
		minus9 := time.FixedZone("-09", -9*3600)
		total := rr("", 15, 8, 2, 1, 2, 1, 1, 7, 3, 45_500, 130_000, 190_000)
		byLot := []store.ReportRow{
			rr("main", 8, 5, 1, 0, 2, 0, 0, 4, 2, 30_000, 190_000, 190_000),
			rr("reception", 7, 3, 1, 1, 0, 1, 1, 3, 1, 45_500, 130_000, 130_000),
		}

		for _, tt := range []struct {
			name string
			by   store.ReportBy
			loc  *time.Location
			want []store.ReportRow
		}{
			{"Lot", store.ByLot, nil, byLot},
			{"DefaultIsLot", "", nil, byLot},
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

// Ensure lots, parkers and retrievers named with any text (separators,
// quotes, backslashes, control characters, NUL, bytes that are not UTF-8,
// the word null) are grouped under exactly the names recorded: on
// PostgreSQL, which holds neither NUL nor bytes that are not UTF-8, under
// the names with U+FFFD in their place.
func TestDB_ReportNames(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)
		var all strings.Builder
		for b := range 256 {
			all.WriteByte(byte(b))
		}
		names := []string{
			"a,b", `say "hi"`, `back\slash`, `\u0041`, "line\nbreak\ttab\r\b\f", "nul\x00and\x01\x1f\x7f",
			"\xff\xfe not UTF-8", "null", `["x",1]`, "日本語", " ", "\u2028", all.String(),
		}
		for i, name := range names {
			call := parking.CallID(fmt.Sprintf("call-%d", i))
			at := t0.Add(time.Duration(i) * time.Minute)
			p := Parked(call, name, 1, at)
			p.Parker, p.Occupancy.Parker = name, name
			r := Retrieved(call, name, 1, at, time.Duration(i+1)*time.Second)
			r.Parker, r.Retriever = name, name
			MustRecord(t, db, p)
			MustRecord(t, db, r)
		}
		stored := func(s string) string { return s }
		if b.name == "postgres" {
			stored = store.PostgresText
		}
		var want []string
		for _, n := range names {
			want = append(want, stored(n))
		}
		slices.Sort(want)
		for _, by := range []store.ReportBy{store.ByLot, store.ByParker, store.ByRetriever} {
			t.Run(string(by), func(t *testing.T) {
				rep, err := db.Report(ctx, store.ReportQuery{From: t0, To: t0.Add(time.Hour), By: by})
				if err != nil {
					t.Fatal(err)
				}
				if got, want := len(rep.Groups), len(want); got != want {
					t.Fatalf("groups=%d, want %d", got, want)
				}
				for i, g := range rep.Groups {
					if g.Group != want[i] {
						t.Errorf("group %d=%q, want %q", i, g.Group, want[i])
					}
					wait := time.Duration(slices.IndexFunc(names, func(n string) bool { return stored(n) == want[i] })+1) * time.Second
					if g.Parked != 1 || g.Retrieved != 1 || g.BeforeRecall != 1 || g.WaitMedian != wait || g.WaitMax != wait {
						t.Errorf("group %q=%+v, want one session retrieved after %v", g.Group, g, wait)
					}
				}
				if got, want := rep.Total.Parked, len(names); got != want {
					t.Errorf("total parked=%d, want %d", got, want)
				}
			})
		}
	})
}

// wantReport computes, one session at a time, the report of ss grouped by
// by in loc, with the percentiles of the sorted waits: the report Report
// must agree with.
func wantReport(ss []store.Session, by store.ReportBy, loc *time.Location) (groups []store.ReportRow, total store.ReportRow) {
	type acc struct {
		r     store.ReportRow
		waits []time.Duration
	}
	accs := map[string]*acc{}
	var all acc
	for _, s := range ss {
		var key string
		switch by {
		case store.ByLot:
			key = s.Lot
		case store.ByParker:
			key = s.Parker
		case store.ByRetriever:
			key = s.Retriever
		case store.ByHour:
			key = s.ParkedAt.In(loc).Format("15")
		case store.ByDay:
			key = s.ParkedAt.In(loc).Format(time.DateOnly)
		}
		if accs[key] == nil {
			accs[key] = &acc{r: store.ReportRow{Group: key}}
		}
		for _, a := range []*acc{accs[key], &all} {
			a.r.Parked++
			switch s.Outcome {
			case parking.EventRetrieved:
				a.r.Retrieved++
				if s.RecallAttempts == 0 {
					a.r.BeforeRecall++
				}
				a.waits = append(a.waits, s.Wait)
			case parking.EventRecalled:
				a.r.Recalled++
				a.r.RecallAttempts += s.RecallAttempts
				a.waits = append(a.waits, s.Wait)
			case parking.EventFallback:
				a.r.Fallback++
			case parking.EventAbandoned:
				a.r.Abandoned++
			case parking.EventLost:
				a.r.Lost++
			default:
				a.r.Open++
			}
		}
	}
	row := func(a *acc) store.ReportRow {
		slices.Sort(a.waits)
		a.r.WaitMedian, a.r.WaitP90, a.r.WaitMax = store.Percentile(a.waits, 50), store.Percentile(a.waits, 90), store.Percentile(a.waits, 100)
		return a.r
	}
	for _, a := range accs {
		groups = append(groups, row(a))
	}
	slices.SortFunc(groups, func(a, b store.ReportRow) int { return strings.Compare(a.Group, b.Group) })
	return groups, row(&all)
}

// Ensure the report of a generated history agrees with the sessions it
// covers counted one by one, for every grouping, in zones with daylight
// saving time changes inside the window, half-hour and 45-minute offsets,
// and an offset in seconds.
func TestDB_ReportMatchesSessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)
		end := time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC) // the window spans the EU and US ends of summer time
		b.generate(t, db, storegen.Options{Rows: 6000, Seed: 7, End: end, Span: 40 * 24 * time.Hour})
		var zones []*time.Location
		for _, name := range []string{"UTC", "America/New_York", "Europe/London", "Asia/Kolkata", "Australia/Lord_Howe", "Pacific/Chatham"} {
			loc, err := time.LoadLocation(name)
			if err != nil {
				t.Fatal(err)
			}
			zones = append(zones, loc)
		}
		zones = append(zones, time.FixedZone("+0019:32", 19*60+32), time.FixedZone("-0930", -(9*3600+1800)))
		for _, w := range []struct{ from, to time.Time }{
			{end.AddDate(0, 0, -41).Add(17*time.Minute + 13500*time.Millisecond), end.Add(time.Hour)},
			{end.AddDate(0, 0, -12).Add(3 * time.Hour), end.AddDate(0, 0, -5)},
		} {
			ss, err := db.Sessions(ctx, w.from, w.to)
			if err != nil {
				t.Fatal(err)
			}
			if len(ss) < 300 {
				t.Fatalf("only %d sessions in %v to %v", len(ss), w.from, w.to)
			}
			for _, by := range []store.ReportBy{store.ByLot, store.ByParker, store.ByRetriever, store.ByHour, store.ByDay} {
				for _, loc := range zones {
					rep, err := db.Report(ctx, store.ReportQuery{From: w.from, To: w.to, By: by, Location: loc})
					if err != nil {
						t.Fatal(err)
					}
					groups, total := wantReport(ss, by, loc)
					if !slices.Equal(rep.Groups, groups) {
						t.Errorf("%v to %v by %s in %v: groups\n%+v\nwant\n%+v", w.from, w.to, by, loc, rep.Groups, groups)
					}
					if rep.Total != total {
						t.Errorf("%v to %v by %s in %v: total=%+v\nwant  %+v", w.from, w.to, by, loc, rep.Total, total)
					}
				}
			}
		}
	})
}

// Ensure the hour and day of a stored time at a fixed offset are those the
// time package gives, across midnights, month and year ends and leap days,
// for times in order (as a scan reads them) and not.
func TestClockGroups(t *testing.T) {
	const layout = "2006-01-02T15:04:05.000Z"
	rng := rand.New(rand.NewPCG(7, 8))
	var times []time.Time
	for _, base := range []time.Time{
		time.Date(2024, 2, 28, 20, 0, 0, 0, time.UTC), time.Date(2025, 12, 31, 20, 0, 0, 0, time.UTC),
		time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 30, 0, 0, 0, 0, time.UTC),
	} {
		var run []time.Time
		for range 500 {
			run = append(run, base.Add(time.Duration(rng.Int64N(int64(48*time.Hour)))))
		}
		slices.SortFunc(run, time.Time.Compare)
		times = append(times, run...)
	}
	span := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC).Sub(time.Date(2, 1, 1, 0, 0, 0, 0, time.UTC))
	for range 2000 {
		times = append(times, time.Date(2, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(rng.Int64N(int64(span)))))
	}
	for _, off := range []int{0, 1, -1, 19*60 + 32, -(19*60 + 32), 3600, -3600, 5*3600 + 1800, -(9*3600 + 1800), 14 * 3600, -12 * 3600, 86399, -86399, 100_000, -100_000} {
		loc := time.FixedZone("", off)
		hour, day := store.ClockGroups(store.ByHour, off), store.ClockGroups(store.ByDay, off)
		for _, tm := range times {
			ts := tm.Format(layout)
			if got, err := hour(ts); err != nil || got != tm.In(loc).Format("15") {
				t.Fatalf("offset %d: hour of %s=%q, %v, want %q", off, ts, got, err, tm.In(loc).Format("15"))
			}
			if got, err := day(ts); err != nil || got != tm.In(loc).Format(time.DateOnly) {
				t.Fatalf("offset %d: day of %s=%q, %v, want %q", off, ts, got, err, tm.In(loc).Format(time.DateOnly))
			}
		}
	}
	for _, ts := range []string{
		"", "2026-11-02T08:00:00.000", "2026-11-02 08:00:00.000Z", "2026-11-02T24:00:00.000Z",
		"2026-11-02T08:60:00.000Z", "2026-11-02T08:00:6x.000Z", "2026-13-02T08:00:00.000Z", "2026-02-30T08:00:00.000Z",
	} {
		for _, by := range []store.ReportBy{store.ByHour, store.ByDay} {
			if got, err := store.ClockGroups(by, 0)(ts); err == nil {
				t.Errorf("%s of %q=%q, want an error", by, ts, got)
			}
		}
	}
}

// Ensure Report reads json_group_array's arrays back exactly, and refuses
// anything else.
func TestReadJSONArray(t *testing.T) {
	for _, tt := range []struct {
		in   string
		ints bool
		want []any
	}{
		{`[]`, false, nil},
		{`[]`, true, nil},
		{`["a","",null,"b"]`, false, []any{"a", "", "", "b"}},
		{`["a,b","c\"d","e\\f","[\/]","\b\t\n\f\r","\u0000\u001f\u0041","\u00e9","x\ty\"z\\"]`, false,
			[]any{"a,b", `c"d`, `e\f`, "[/]", "\b\t\n\f\r", "\x00\x1fA", "é", "x\ty\"z\\"}},
		{"[\"\xff\xfe\"]", false, []any{"\xff\xfe"}},
		{`[0,1,-5,null,123456789012345678,1234567890123456789,-9223372036854775808]`, true,
			[]any{int64(0), int64(1), int64(-5), nil, int64(123456789012345678), int64(1234567890123456789), int64(-9223372036854775808)}},
	} {
		got, err := store.ReadJSONArray(tt.in, tt.ints)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("ReadJSONArray(%q)=%q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		in   string
		ints bool
	}{
		{``, false}, {`[`, false}, {`"a"`, false}, {`[,"a"]`, false}, {`["a",]`, false}, {`["a"x]`, false},
		{`["a`, false}, {`["a\"]`, false}, {`["\q"]`, false}, {`["\u12"]`, false}, {`["\u12g4"]`, false}, {`[1]`, false},
		{`[1.5]`, true}, {`[1e3]`, true}, {`["1"]`, true}, {`[,1]`, true}, {`[1,]`, true}, {`[1,,2]`, true},
		{`[99999999999999999999]`, true}, {`[-]`, true}, {`[true]`, true},
	} {
		if got, err := store.ReadJSONArray(tt.in, tt.ints); err == nil {
			t.Errorf("ReadJSONArray(%q, ints %v)=%q, want an error", tt.in, tt.ints, got)
		}
	}
}
