package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storegen"
	"github.com/parkd/parkd/store/storetest"
)

// Ensure the park_sessions view shows exactly the fixture's sessions in the
// window, as Record maintained them: one per parked stay, a move keeps its
// session, a call parked again gets a new one, a recalled call without a
// retriever shows its parker.
func TestDB_Sessions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.openFixture(t)
		got, err := db.Sessions(context.Background(), storetest.Base(), storetest.WindowEnd())
		if err != nil {
			t.Fatal(err)
		}
		want := storetest.Sessions()
		if len(got) != len(want) {
			t.Fatalf("sessions=%d, want %d:\n%+v", len(got), len(want), got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("session %d=%+v\nwant      %+v", i, got[i], want[i])
			}
		}
	})
}

// The queries the README shows supervisors; the test runs them verbatim
// (with the window as parameters) so that the view and the report agree.
const (
	readmeOutcomes = `SELECT lot, outcome, COUNT(*) AS calls
FROM park_sessions
WHERE parked_at >= ?1 AND parked_at < ?2
GROUP BY lot, outcome
ORDER BY lot, outcome`

	readmeWaits = `WITH w AS (
  SELECT lot, wait_ms,
         ROW_NUMBER() OVER (PARTITION BY lot ORDER BY wait_ms) AS rn,
         COUNT(*) OVER (PARTITION BY lot) AS n
  FROM park_sessions
  WHERE outcome IN ('retrieved', 'recalled')
    AND parked_at >= ?1 AND parked_at < ?2
)
SELECT lot,
       MAX(CASE WHEN rn = (n * 50 + 99) / 100 THEN wait_ms END) AS median_ms,
       MAX(CASE WHEN rn = (n * 90 + 99) / 100 THEN wait_ms END) AS p90_ms,
       MAX(wait_ms) AS max_ms
FROM w GROUP BY lot ORDER BY lot`
)

// Ensure the SQL the README gives supervisors, run on the park_sessions
// view, gives the report's figures for the fixture.
func TestView_AgreesWithReport(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.openFixture(t)
		from, to := storetest.Base().Format("2006-01-02T15:04:05.000Z"), storetest.WindowEnd().Format("2006-01-02T15:04:05.000Z")
		rep, err := db.Report(ctx, store.ReportQuery{From: storetest.Base(), To: storetest.WindowEnd()})
		if err != nil {
			t.Fatal(err)
		}

		// Outcome counts per lot.
		var got, want []string
		rows, err := db.ReadPool().QueryContext(ctx, db.Rebind(readmeOutcomes), from, to)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var lot string
			var outcome sql.NullString
			var n int
			if err := rows.Scan(&lot, &outcome, &n); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s %s %d", lot, outcome.String, n))
		}
		rows.Close()
		for _, g := range rep.Groups {
			for _, c := range []struct {
				outcome string
				n       int
			}{{"", g.Open}, {"abandoned", g.Abandoned}, {"fallback", g.Fallback}, {"lost", g.Lost}, {"recalled", g.Recalled}, {"retrieved", g.Retrieved}} {
				if c.n > 0 {
					want = append(want, fmt.Sprintf("%s %s %d", g.Group, c.outcome, c.n))
				}
			}
		}
		// PostgreSQL sorts the NULL outcome (still parked) last, SQLite
		// first: the figures are what must agree.
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("view outcomes:\n%s\nreport:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}

		// Nearest-rank waits per lot.
		got, want = nil, nil
		rows, err = db.ReadPool().QueryContext(ctx, db.Rebind(readmeWaits), from, to)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var lot string
			var med, p90, maxW int64
			if err := rows.Scan(&lot, &med, &p90, &maxW); err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprintf("%s %d %d %d", lot, med, p90, maxW))
		}
		rows.Close()
		for _, g := range rep.Groups {
			want = append(want, fmt.Sprintf("%s %d %d %d", g.Group, g.WaitMedian.Milliseconds(), g.WaitP90.Milliseconds(), g.WaitMax.Milliseconds()))
		}
		if !slices.Equal(got, want) {
			t.Fatalf("view waits:\n%s\nreport:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
}

// sessionsTable returns every row of the sessions table, one string each.
func sessionsTable(tb testing.TB, db *sql.DB) []string {
	tb.Helper()
	rows, err := db.Query(`SELECT id, call_uuid, lot, slot, caller_number, caller_name, parker, parked_at, recall_attempts,
		ended_id, ended_at, outcome, retriever, wait_ms FROM sessions ORDER BY id`)
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, slot, attempts int64
		var call, lot, num, name, parker, parkedAt, retriever string
		var endedID, wait sql.NullInt64
		var endedAt, outcome sql.NullString
		if err := rows.Scan(&id, &call, &lot, &slot, &num, &name, &parker, &parkedAt, &attempts, &endedID, &endedAt, &outcome, &retriever, &wait); err != nil {
			tb.Fatal(err)
		}
		out = append(out, fmt.Sprint(id, call, lot, slot, num, name, parker, parkedAt, attempts, endedID, endedAt, outcome, retriever, wait))
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// backfilled copies the history of the database at src into a new database
// at schema version 2 (before sessions existed), migrates it with Open, and
// returns it: its sessions are the migration's backfill.
func backfilled(tb testing.TB, src string) *store.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "old.db")
	if err := store.MigrateTo(path, 2); err != nil {
		tb.Fatal(err)
	}
	raw := RawDB(tb, path)
	if _, err := raw.Exec(`ATTACH DATABASE ? AS src`, src); err != nil {
		tb.Fatal(err)
	}
	const cols = `id, at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms`
	if _, err := raw.Exec(`INSERT INTO history (` + cols + `) SELECT ` + cols + ` FROM src.history ORDER BY id`); err != nil {
		tb.Fatal(err)
	}
	raw.Close()
	return MustOpenPath(tb, path)
}

// Ensure migration 0003 backfills, from the history of an existing
// database, exactly the sessions Record maintains as it goes.
func TestMigration_BackfillsSessions(t *testing.T) {
	db := MustOpenFixture(t)
	old := backfilled(t, db.Path)
	got, want := sessionsTable(t, old.ReadPool()), sessionsTable(t, db.ReadPool())
	if len(want) != 17 { // 15 in the window, call-a and call-f outside
		t.Fatalf("fixture sessions=%d, want 17", len(want))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("backfilled sessions:\n%s\nrecorded:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Ensure Generate writes exactly the rows asked for, deterministically per
// seed, with the sessions the backfill would derive from its history, and
// refuses a database that has history.
func TestDB_Generate(t *testing.T) {
	ctx := context.Background()
	end := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	gen := func(seed uint64) (*store.DB, storegen.Result) {
		db := MustOpenDB(t)
		res, err := storegen.Generate(ctx, db.Path, storegen.Options{Rows: 20_000, Seed: seed, End: end, Span: 30 * 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		return db, res
	}
	db, res := gen(7)
	if got, want := res.Rows, 20_000; got != want {
		t.Fatalf("rows=%d, want %d", got, want)
	}
	if got, want := HistoryLen(t, db), 20_000; got != want {
		t.Fatalf("history=%d, want %d", got, want)
	}
	recorded := sessionsTable(t, db.ReadPool())
	if got, want := len(recorded), res.Sessions; got != want {
		t.Fatalf("sessions=%d, want %d", got, want)
	}
	if res.Sessions < 6000 || res.Sessions > 8000 {
		t.Fatalf("sessions=%d, want about 20000/2.8", res.Sessions)
	}
	if got := sessionsTable(t, backfilled(t, db.Path).ReadPool()); !slices.Equal(got, recorded) {
		t.Fatalf("backfilled sessions differ from generated ones (%d vs %d rows)", len(got), len(recorded))
	}
	db2, _ := gen(7)
	if !slices.Equal(sessionsTable(t, db2.ReadPool()), recorded) {
		t.Fatalf("same seed, different sessions")
	}
	// Times ascend with ids, as the daemon writes them.
	var bad int
	if err := db.ReadPool().QueryRow(`SELECT COUNT(*) FROM history a JOIN history b ON b.id = a.id + 1 WHERE b.at < a.at`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Fatalf("%d rows earlier than the row before them", bad)
	}
	if _, err := storegen.Generate(ctx, db.Path, storegen.Options{Rows: 10, End: end}); !errors.Is(err, storegen.ErrHasHistory) {
		t.Fatalf("Generate on a database with history: err=%v, want %v", err, storegen.ErrHasHistory)
	}
}
