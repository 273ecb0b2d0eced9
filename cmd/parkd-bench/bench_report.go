package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storegen"
)

// historyFigures counts the history parkd wrote: every row of the database
// at path, read as runningParkd.history reads a running parkd's.
func historyFigures(ctx context.Context, path string, r *benchResult) error {
	db, err := openHistoryDB(path)
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT at, event FROM history`)
	if err != nil {
		return err
	}
	defer rows.Close()
	r.HistoryEvents = map[string]int{}
	var ats []string
	for rows.Next() {
		var at, ev string
		if err := rows.Scan(&at, &ev); err != nil {
			return err
		}
		r.HistoryEvents[ev]++
		ats = append(ats, at)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	r.HistoryRows = len(ats)
	r.HistoryRowsPerS, r.HistoryPeakPerS = rowRates(ats)
	return nil
}

// ---------------------------------------------------------------------------
// report1m: the report over a generated history.

func benchReport(ctx context.Context, c benchConfig, stderr io.Writer) (*benchResult, error) {
	path := filepath.Join(c.Dir, "history.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
	end := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	r := &benchResult{Scenario: c.Scenario, Mode: "inproc", Seed: c.Seed, CPUs: runtime.NumCPU(), ReportQueries: map[string]float64{}}
	fmt.Fprintf(stderr, "bench report1m: generating %d history rows in %s\n", c.Rows, path)
	t0 := time.Now()
	gen, err := storegen.Generate(ctx, path, storegen.Options{Rows: c.Rows, Seed: c.Seed, End: end})
	if err != nil {
		return nil, err
	}
	r.ReportGenS = time.Since(t0).Seconds()
	r.ReportRows = gen.Rows

	// As "parkd report" does: a read-only DB, a fresh process's worth of
	// caches on the first run (the file is in the page cache, though).
	db, err := store.OpenReadOnly(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	year := store.ReportQuery{From: end.AddDate(-1, 0, -1), To: end.Add(time.Hour), By: store.ByLot}
	queries := reportQueries(end, year)
	r.ReportQueries, r.ReportP50, r.ReportMax = runReports(ctx, db, queries, r)
	if c.Postgres != "" {
		if err := benchReportPostgres(ctx, c, db, queries, r, stderr); err != nil {
			return nil, err
		}
	}
	r.PeakRSSMB = float64(procStatus(0, "VmHWM")) / 1024
	return r, nil
}

// reportQuery is one of report1m's timed reports.
type reportQuery struct {
	name string
	q    store.ReportQuery
}

// reportQueries are report1m's reports, over a year ending at end.
func reportQueries(end time.Time, year store.ReportQuery) []reportQuery {
	return []reportQuery{
		{"year_by_lot", year},
		{"year_by_hour", store.ReportQuery{From: year.From, To: year.To, By: store.ByHour, Location: time.UTC}},
		{"30d_by_parker", store.ReportQuery{From: end.AddDate(0, 0, -30), To: end, By: store.ByParker}},
		{"24h_by_lot", store.ReportQuery{From: end.Add(-24 * time.Hour), To: end, By: store.ByLot}},
	}
}

// runReports times 5 runs of each query on db and returns each one's
// median, and the year by lot's median and maximum, in milliseconds.
func runReports(ctx context.Context, db *store.DB, queries []reportQuery, r *benchResult) (p50s map[string]float64, yearP50, yearMax float64) {
	p50s = map[string]float64{}
	const runs = 5
	for _, q := range queries {
		var ds []time.Duration
		for range runs {
			t := time.Now()
			rep, err := db.Report(ctx, q.q)
			ds = append(ds, time.Since(t))
			if err != nil {
				r.Errors++
				r.ErrorSample = append(r.ErrorSample, fmt.Sprintf("%s: %v", q.name, err))
				break
			}
			if rep.Total.Parked == 0 {
				r.Errors++
				r.ErrorSample = append(r.ErrorSample, q.name+": empty report")
				break
			}
		}
		p50s[q.name] = pct(ds, 50)
		if q.name == "year_by_lot" {
			yearP50, yearMax = pct(ds, 50), pct(ds, 100)
		}
	}
	return p50s, yearP50, yearMax
}

// benchReportPostgres copies the generated history from lite into the
// PostgreSQL database c.Postgres names, as parkd migrate does, and runs
// the same reports there, checking that they give the same figures.
func benchReportPostgres(ctx context.Context, c benchConfig, lite *store.DB, queries []reportQuery, r *benchResult, stderr io.Writer) error {
	pg := store.NewPostgres(c.Postgres)
	if err := pg.Open(); err != nil {
		return err
	}
	defer pg.Close()
	fmt.Fprintf(stderr, "bench report1m: copying the history into %s\n", pg.Path)
	res, err := store.Copy(ctx, lite, pg, store.CopyOptions{})
	if err != nil {
		return err
	}
	r.PGCopyS = res.Elapsed.Seconds()
	r.PGCopyRowsPerS = float64(res.Tables[0].Rows) / res.Elapsed.Seconds()
	r.PGReportQueries, r.PGReportP50, r.PGReportMax = runReports(ctx, pg, queries, r)
	same := true
	for _, q := range queries {
		_, _, ok, err := store.CompareReports(ctx, lite, pg, q.q)
		if err != nil {
			return err
		}
		same = same && ok
	}
	r.PGReportsSameAsSQLite = &same
	return nil
}
