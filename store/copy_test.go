package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storegen"
	"github.com/parkd/parkd/store/storetest"
)

// siteDB makes a SQLite database with something in every table: a
// generated history, the fixture (a call still parked), a note, queued
// webhook deliveries, wrong PINs and a lockout, and a caller whose name
// PostgreSQL cannot hold as it is. It returns it open, with webhook h.
func siteDB(t *testing.T) *store.DB {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "site.db")
	if _, err := storegen.Generate(ctx, path, storegen.Options{Rows: 5000, Seed: 3, End: storetest.Base().Add(-time.Hour), Span: 20 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	db := store.NewDB(path)
	db.Webhooks = []store.WebhookTarget{{Name: "h"}}
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	storetest.Record(t, db, storetest.Transitions())
	if _, err := db.AddNote(ctx, "", "reception", 302, "wants Dr. Smith", storetest.WindowEnd()); err != nil {
		t.Fatal(err)
	}
	at := storetest.WindowEnd().Add(time.Minute)
	if _, _, err := db.PINFailed(ctx, "", "main", "+15550100", at, at.Add(-time.Hour), at.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := db.LockOutside(ctx, "", "main", "+15550100", at.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	odd := Parked("call-odd", "main", 299, storetest.Base().Add(3*time.Hour))
	odd.Caller.Name = "nul\x00 and \xff"
	odd.Occupancy.Caller.Name = odd.Caller.Name
	MustRecord(t, db, odd)
	gone := Retrieved("call-odd", "main", 299, storetest.Base().Add(3*time.Hour), time.Minute)
	gone.Caller.Name = odd.Caller.Name
	MustRecord(t, db, gone)
	return db
}

// sameReports fails the test unless a and b give the same reports (groups,
// total, outside pick-up), wait buckets and PIN report over the whole
// history, for every grouping, in UTC and in a zone with summer time.
func sameReports(t *testing.T, a, b *store.DB) {
	t.Helper()
	ctx := context.Background()
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	from, to := storetest.Base().AddDate(0, -2, 0), storetest.Base().AddDate(0, 0, 2)
	for _, by := range []store.ReportBy{store.ByLot, store.ByParker, store.ByRetriever, store.ByHour, store.ByDay, store.ByDomain} {
		for _, loc := range []*time.Location{time.UTC, ny} {
			q := store.ReportQuery{From: from, To: to, By: by, Location: loc}
			ra, err := a.Report(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			rb, err := b.Report(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if ra.Total.Parked < 1000 {
				t.Fatalf("only %d sessions in the report", ra.Total.Parked)
			}
			if !reflect.DeepEqual(ra.Groups, rb.Groups) || ra.Total != rb.Total || !reflect.DeepEqual(ra.Outside, rb.Outside) {
				t.Fatalf("by %s in %v:\n%s: %+v %+v\n%s: %+v %+v", by, loc, a.Path, ra.Total, ra.Outside, b.Path, rb.Total, rb.Outside)
			}
		}
	}
	bounds := []time.Duration{10 * time.Second, time.Minute, 5 * time.Minute}
	wa, err := a.WaitBuckets(ctx, from, to, nil, bounds)
	if err != nil {
		t.Fatal(err)
	}
	wb, err := b.WaitBuckets(ctx, from, to, nil, bounds)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(wa, wb) {
		t.Fatalf("wait buckets: %+v, %+v", wa, wb)
	}
}

// Ensure Copy moves a site's every table from SQLite to PostgreSQL and
// back without loss: Compare finds every table the same, row for row
// (the text PostgreSQL cannot hold as U+FFFD, counted), the reports give
// the same figures, and the target goes on numbering after the copied
// ids; and that it refuses a target with rows unless told to replace them.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	src := siteDB(t)
	pg := backends[1].open(t)

	res, err := store.Copy(ctx, src, pg, store.CopyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 3 { // the odd name in two history rows and one session
		t.Errorf("changed=%d, want 3", res.Changed)
	}
	for _, tc := range res.Tables {
		if tc.Rows == 0 {
			t.Errorf("copied no rows of %s", tc.Table)
		}
	}
	cmp, err := store.Compare(ctx, src, pg)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmp {
		if !c.Same || c.Rows != c.TargetRows || c.Rows == 0 {
			t.Errorf("%s: %d rows, %d in PostgreSQL, same=%v", c.Table, c.Rows, c.TargetRows, c.Same)
		}
	}
	sameReports(t, src, pg)

	// PostgreSQL goes on where SQLite stopped.
	last, err := src.History(ctx, store.HistoryFilter{Limit: 1, Newest: true})
	if err != nil {
		t.Fatal(err)
	}
	MustRecord(t, pg, Parked("call-next", "main", 298, storetest.WindowEnd().Add(time.Hour)))
	next, err := pg.History(ctx, store.HistoryFilter{Limit: 1, Newest: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := next[0].ID, last[0].ID+1; got != want {
		t.Fatalf("next id=%d, want %d", got, want)
	}
	if _, err := pg.AddNote(ctx, "", "main", 298, "after the copy", storetest.WindowEnd().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}

	if _, err := store.Copy(ctx, src, pg, store.CopyOptions{}); !errors.Is(err, store.ErrNotEmpty) {
		t.Fatalf("copy onto rows: %v, want %v", err, store.ErrNotEmpty)
	}
	if _, err := store.Copy(ctx, src, pg, store.CopyOptions{Replace: true}); err != nil {
		t.Fatal(err)
	}
	if cmp, err := store.Compare(ctx, src, pg); err != nil {
		t.Fatal(err)
	} else {
		for _, c := range cmp {
			if !c.Same {
				t.Errorf("after replace: %s differs", c.Table)
			}
		}
	}

	// And back, into a new SQLite file.
	back := MustOpenDB(t)
	if _, err := store.Copy(ctx, pg, back, store.CopyOptions{}); err != nil {
		t.Fatal(err)
	}
	cmp, err = store.Compare(ctx, pg, back)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cmp {
		if !c.Same {
			t.Errorf("PostgreSQL to SQLite: %s: %d rows, %d copied, same=%v", c.Table, c.Rows, c.TargetRows, c.Same)
		}
	}
	sameReports(t, pg, back)
	MustRecord(t, back, Retrieved("call-i", "reception", 302, storetest.Base().Add(time.Hour), 2*time.Hour))
	if occ, err := back.Occupied(ctx); err != nil || len(occ) != 0 {
		t.Fatalf("occupied after retrieving the copied call: %v, %v", occ, err)
	}
}

// Ensure Copy refuses a source or a target that is not at this parkd's
// schema version, and a target opened read-only.
func TestCopy_Refuses(t *testing.T) {
	ctx := context.Background()
	src := MustOpenFixture(t)
	old := filepath.Join(t.TempDir(), "old.db")
	if err := store.MigrateTo(old, 3); err != nil {
		t.Fatal(err)
	}
	// A database at version 3 cannot even be opened read-only.
	if _, err := store.OpenReadOnly(old); !errors.Is(err, store.ErrOlderSchema) {
		t.Fatalf("old source: %v, want %v", err, store.ErrOlderSchema)
	}
	ro, err := src.Location().OpenReadOnly()
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if _, err := store.Copy(ctx, src, ro, store.CopyOptions{}); !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("read-only target: %v, want %v", err, store.ErrReadOnly)
	}
}
