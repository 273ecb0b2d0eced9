package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/parkd/parkd/daemon"
	"github.com/parkd/parkd/store"
)

// errMigrateDiffers: the copy does not compare equal to its source.
var errMigrateDiffers = errors.New("the copy differs from its source")

// runMigrate copies a site's database into another, typically from SQLite
// to PostgreSQL, and proves the copy: row counts and contents per table,
// and the report's figures, compared on both sides and printed.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("migrate", "Copy a site's database into another, every row of every table (history, sessions, notes,\n"+
		"parked calls, queued webhook deliveries, outside pick-up lockouts) with its ids, then compare\n"+
		"the two, table by table and by the report's figures, and print what was found:\n"+
		"  parkd migrate --from sqlite:/var/lib/parkd/parkd.db --to postgres:\"host=db1 dbname=parkd user=parkd\"\n"+
		"Stop parkd serve first (migrate refuses a database a daemon holds), then point [store] at the\n"+
		"target. The target is created and migrated to this parkd's schema if needed and must be empty\n"+
		"unless --replace. Give the PostgreSQL password in PGPASSWORD or ~/.pgpass, not in the DSN\n"+
		"(the process list shows arguments); it is never printed.", stderr)
	from := fs.String("from", "", "the source database: sqlite:`PATH` (or a PATH) or postgres:DSN")
	to := fs.String("to", "", "the target database: postgres:`DSN` or sqlite:PATH")
	replace := fs.Bool("replace", false, "delete the target's rows first (its history included) instead of refusing a target that has rows")
	if err := Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	if *from == "" || *to == "" {
		return Usagef(fs, "both --from and --to are required")
	}
	src, err := store.ParseLocation(*from)
	if err != nil {
		return Usagef(fs, "--from: %v", err)
	}
	dst, err := store.ParseLocation(*to)
	if err != nil {
		return Usagef(fs, "--to: %v", err)
	}
	if src == dst {
		return Usagef(fs, "--from and --to name the same database")
	}

	from0 := time.Now()
	in, err := src.OpenReadOnly()
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer in.Close()
	release, err := daemon.LockStore(ctx, src, in)
	if err != nil {
		return fmt.Errorf("source: %w; stop it first", err)
	}
	defer release()

	out := dst.New()
	// The daemon's lock on the target, taken before Open writes anything:
	// no parkd serve may start on it while it is filled.
	var releaseOut func() error
	out.BeforeWrite = func() error {
		var err error
		releaseOut, err = daemon.LockStore(ctx, dst, out)
		return err
	}
	if err := out.Open(); err != nil {
		return fmt.Errorf("target: %w", err)
	}
	defer out.Close()
	if releaseOut != nil {
		defer releaseOut()
	}

	res, err := store.Copy(ctx, in, out, store.CopyOptions{Replace: *replace})
	if errors.Is(err, store.ErrNotEmpty) {
		return fmt.Errorf("%w; give --replace to delete its rows first", err)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %s to %s in %.1fs\n", src, dst, res.Elapsed.Seconds())
	if res.Changed > 0 {
		fmt.Fprintf(stdout, "%d text value(s) held a NUL byte or bytes that are not UTF-8, which PostgreSQL cannot store: "+
			"they were copied with U+FFFD in their place\n", res.Changed)
	}

	cmp, err := store.Compare(ctx, in, out)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "table\tsource rows\ttarget rows\tsame\t\n")
	same := true
	for _, c := range cmp {
		ok := "yes"
		if !c.Same {
			ok, same = "NO", false
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t\n", c.Table, c.Rows, c.TargetRows, ok)
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	// The report over all the history, by lot and by day, on both sides.
	q := store.ReportQuery{From: time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC), To: time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)}
	for _, by := range []store.ReportBy{store.ByLot, store.ByDay} {
		q.By = by
		ra, rb, ok, err := store.CompareReports(ctx, in, out, q)
		if err != nil {
			return err
		}
		verdict := "same figures"
		if !ok {
			verdict, same = "FIGURES DIFFER", false
		}
		fmt.Fprintf(stdout, "report of all history by %s: %d groups, %d parked, %d retrieved, %d recalled, %d abandoned, median wait %s; target: %d groups, %d parked: %s\n",
			by, len(ra.Groups), ra.Total.Parked, ra.Total.Retrieved, ra.Total.Recalled, ra.Total.Abandoned, ra.Total.WaitMedian,
			len(rb.Groups), rb.Total.Parked, verdict)
	}
	if !same {
		return errMigrateDiffers
	}
	fmt.Fprintf(stdout, "OK: the target holds the source's every row and gives the same report figures (%.1fs in all)\n",
		time.Since(from0).Seconds())
	return nil
}
