package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/parkd/parkd/cli"
	"github.com/parkd/parkd/store/storegen"
)

// runGenHistory fills a new database with a synthetic history for load
// tests and benchmarks. It is not listed in the usage.
func runGenHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("parkd-bench gen-history", "Create a database filled with a synthetic, reproducible park history (for load tests).", stderr)
	db := fs.String("db", "", "SQLite `PATH` of the new database (must not exist)")
	rows := fs.Int("rows", 1_000_000, "history `N` rows to write")
	seed := fs.Uint64("seed", 1, "random `SEED`; the same seed gives the same history")
	days := fs.Int("days", 365, "spread the sessions over the last `N` days")
	end := fs.String("end", "now", "when the last session starts: `WHEN`, as report --to")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	switch {
	case *db == "":
		return fmt.Errorf("%w: gen-history: --db is required", cli.ErrUsage)
	case *rows <= 0 || *days <= 0:
		return fmt.Errorf("%w: gen-history: --rows and --days must be positive", cli.ErrUsage)
	}
	now := time.Now()
	endAt, err := cli.ParseWhen(*end, now, time.Local)
	if err != nil {
		return fmt.Errorf("%w: gen-history: --end %v", cli.ErrUsage, err)
	}
	if _, err := os.Stat(*db); err == nil {
		return fmt.Errorf("gen-history: %s exists; give a new file", *db)
	}
	res, err := storegen.Generate(ctx, *db, storegen.Options{Rows: *rows, Seed: *seed, End: endAt, Span: time.Duration(*days) * 24 * time.Hour})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s: %d history rows, %d sessions in %v\n", *db, res.Rows, res.Sessions, time.Since(now).Round(time.Millisecond))
	return err
}
