package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Ensure Open creates and migrates a new file, and that reopening it applies
// no migration twice.
func TestDB_Open(t *testing.T) {
	type applied struct {
		version         int
		name, appliedAt string
	}
	readApplied := func(t *testing.T, db *store.DB) []applied {
		t.Helper()
		rows, err := db.ReadPool().Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var got []applied
		for rows.Next() {
			var a applied
			if err := rows.Scan(&a.version, &a.name, &a.appliedAt); err != nil {
				t.Fatal(err)
			}
			got = append(got, a)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return got
	}

	// A name SQLite's URI parser would trip over if it were not escaped.
	path := filepath.Join(t.TempDir(), "park d?#%.db")
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	first := readApplied(t, db)
	if got, want := len(first), schemaVersion; got != want {
		t.Fatalf("migrations=%v, want %d", first, want)
	}
	for i, name := range []string{"0001_init.sql", "0002_recall.sql", "0003_sessions.sql", "0004_replaced.sql", "0005_actions.sql", "0006_webhooks.sql"} {
		if got, want := first[i].version, i+1; got != want {
			t.Fatalf("version=%d, want %d", got, want)
		}
		if got, want := first[i].name, name; got != want {
			t.Fatalf("name=%q, want %q", got, want)
		}
		if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(first[i].appliedAt) {
			t.Fatalf("applied_at=%q, want UTC text with milliseconds", first[i].appliedAt)
		}
	}
	MustRecord(t, db, Parked("call-1", "default", 1, t0))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}

	db = MustOpenPath(t, path)
	if got, want := readApplied(t, db), first; !slices.Equal(got, want) {
		t.Fatalf("after reopen migrations=%v, want %v", got, want)
	}
	occ, err := db.Occupied(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(occ), 1; got != want {
		t.Fatalf("after reopen occupied=%d, want %d", got, want)
	}
}

// Ensure an empty file (zero bytes, as touch leaves it) is initialised.
func TestDB_Open_EmptyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "parkd.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	db := MustOpenPath(t, path)
	MustRecord(t, db, Parked("call-1", "default", 1, t0))
}

// Ensure every pooled connection, reader and writer, enforces foreign keys,
// the file is in WAL mode, the writer keeps temporary files in memory, and
// the read pool cannot write.
func TestDB_Pragmas(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)

	w, err := db.WritePool().Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var fk int
	var mode string
	if err := w.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if got, want := fk, 1; got != want {
		t.Fatalf("writer foreign_keys=%d, want %d", got, want)
	}
	if err := w.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if got, want := mode, "wal"; got != want {
		t.Fatalf("journal_mode=%q, want %q", got, want)
	}
	// 2: MEMORY. A savepoint's statement journal in a file cost most of
	// a batch's time (BENCHMARKS.md, issue 16 point 3).
	var temp int
	if err := w.QueryRowContext(ctx, `PRAGMA temp_store`).Scan(&temp); err != nil {
		t.Fatal(err)
	}
	if got, want := temp, 2; got != want {
		t.Fatalf("writer temp_store=%d, want %d (MEMORY)", got, want)
	}

	// Hold every connection the read pool allows at once, so each is a
	// distinct connection.
	for i := range store.DefaultMaxReadConns {
		c, err := db.ReadPool().Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if got, want := fk, 1; got != want {
			t.Fatalf("reader %d foreign_keys=%d, want %d", i, got, want)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if got, want := mode, "wal"; got != want {
			t.Fatalf("reader %d journal_mode=%q, want %q", i, got, want)
		}
		_, err = c.ExecContext(ctx, `INSERT INTO occupancy (lot, slot, call_uuid, caller_number, caller_name, parker, parked_at, deadline)
		VALUES ('x', 1, 'c', '', '', '', '', '')`)
		var se sqlite3.Error
		if !errors.As(err, &se) || se.Code != sqlite3.ErrReadonly {
			t.Fatalf("reader %d insert err=%v, want SQLITE_READONLY", i, err)
		}
	}
}

// Ensure Open refuses files that are not parkd databases and leaves them
// byte for byte as they were.
func TestDB_Open_Refuses(t *testing.T) {
	// check opens path with Open and OpenReadOnly, expects errors matching
	// target and containing text, and checks the directory is unchanged.
	check := func(t *testing.T, path string, target error, text string) {
		t.Helper()
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		dirBefore := listDir(t, filepath.Dir(path))

		err = store.NewDB(path).Open()
		if !errors.Is(err, target) {
			t.Fatalf("Open err=%v, want %v", err, target)
		}
		if !strings.Contains(err.Error(), text) {
			t.Fatalf("Open err=%q, want it to mention %q", err, text)
		}
		if db, err := store.OpenReadOnly(path); !errors.Is(err, target) {
			if db != nil {
				db.Close()
			}
			t.Fatalf("OpenReadOnly err=%v, want %v", err, target)
		}

		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, before) {
			t.Fatal("file modified")
		}
		// Not even an empty -wal or -shm file is left beside it.
		if got := listDir(t, filepath.Dir(path)); !slices.Equal(got, dirBefore) {
			t.Fatalf("directory holds %v, want %v as found", got, dirBefore)
		}
	}

	t.Run("ErrForeignDB", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "other.db")
		raw := RawDB(t, path)
		if _, err := raw.Exec(`CREATE TABLE foo (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO foo (v) VALUES ('keep me')`); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		check(t, path, store.ErrForeignDB, "is not a parkd database (found tables: foo)")
	})

	t.Run("NotSQLite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "random.db")
		junk := make([]byte, 8192)
		r := rand.New(rand.NewPCG(1, 2))
		for i := range junk {
			junk[i] = byte(r.Uint32())
		}
		if err := os.WriteFile(path, junk, 0o600); err != nil {
			t.Fatal(err)
		}
		check(t, path, store.ErrForeignDB, "is not a parkd database: it is not a SQLite file")
	})

	t.Run("ErrNewerSchema", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "parkd.db")
		db := store.NewDB(path)
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		raw := RawDB(t, path)
		if _, err := raw.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, '2030-01-01T00:00:00.000Z')`,
			schemaVersion+1, fmt.Sprintf("%04d_future.sql", schemaVersion+1)); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		check(t, path, store.ErrNewerSchema, fmt.Sprintf("schema version %d (%04d_future.sql), this parkd knows up to %d",
			schemaVersion+1, schemaVersion+1, schemaVersion))
	})
}

// Ensure a database an older parkd left at schema version 1 is migrated to
// the latest version by Open and keeps every row: its occupants get no parker domain
// and no recall attempts, and its history is untouched.
func TestDB_Open_MigratesVersion1(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parkd.db")
	if err := store.MigrateTo(path, 1); err != nil {
		t.Fatal(err)
	}
	// Rows as parkd 0001 wrote them: the occupancy table has 8 columns.
	raw := RawDB(t, path)
	if _, err := raw.Exec(`
		INSERT INTO occupancy VALUES ('default', 701, 'call-1', '+15550100', 'Jane Roe', '1001', '2025-03-04T09:11:12.345Z', '2025-03-04T09:13:12.345Z');
		INSERT INTO history (at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms)
		VALUES ('2025-03-04T09:11:12.345Z', 'default', 701, 'call-1', '+15550100', 'Jane Roe', '1001', 'parked', 'directed', '', 0)`); err != nil {
		t.Fatal(err)
	}
	var cols int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM pragma_table_info('occupancy')`).Scan(&cols); err != nil {
		t.Fatal(err)
	}
	if got, want := cols, 8; got != want {
		t.Fatalf("version 1 occupancy has %d columns, want %d", got, want)
	}
	raw.Close()

	db := MustOpenPath(t, path)
	var version int
	if err := db.ReadPool().QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if got, want := version, schemaVersion; got != want {
		t.Fatalf("schema version=%d, want %d", got, want)
	}
	occ, err := db.Occupied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 3, 4, 9, 11, 12, 345_000_000, time.UTC)
	want := []parking.Occupant{{
		Lot: "default", Slot: 701, Call: "call-1",
		Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}, Parker: "1001",
		ParkedAt: at, Deadline: at.Add(2 * time.Minute), ParkerDomain: "", Attempts: 0,
	}}
	if !slices.Equal(occ, want) {
		t.Fatalf("occupied=%+v\nwant %+v", occ, want)
	}
	if got, want := HistoryLen(t, db), 1; got != want {
		t.Fatalf("history=%d, want %d", got, want)
	}

	// The migrated row takes part in recalls like a new one.
	recall := Recall("call-1", "default", 701, t0, 1)
	MustRecord(t, db, recall)
	occ, err = db.Occupied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := fmt.Sprintf("%s %d", occ[0].ParkerDomain, occ[0].Attempts), "pbx.example.com 1"; got != want {
		t.Fatalf("after recall domain, attempts=%q, want %q", got, want)
	}
}

// listDir returns the names in dir.
func listDir(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

// Ensure OpenReadOnly reads a database while another DB writes it, and never
// writes, creates or migrates.
func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()

	t.Run("ConcurrentWriter", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "parkd.db")
		w := MustOpenPath(t, path)
		r, err := store.OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()

		const n = 200
		var wg sync.WaitGroup
		done := make(chan struct{})
		wg.Go(func() {
			defer close(done)
			for i := range n {
				MustRecord(t, w, Parked(parking.CallID(fmt.Sprintf("call-%d", i)), "default", i+1, t0))
			}
		})
		var reads int
		for loop := true; loop; reads++ {
			select {
			case <-done:
				loop = false
			default:
			}
			if _, err := r.Occupied(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := r.History(ctx, store.HistoryFilter{Lot: "default"}); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
		occ, err := r.Occupied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(occ), n; got != want {
			t.Fatalf("occupied=%d, want %d", got, want)
		}
		if got, want := HistoryLen(t, r), n; got != want {
			t.Fatalf("history=%d, want %d", got, want)
		}
		t.Logf("%d reads during %d writes", reads, n)

		if err := r.Record(ctx, Parked("call-ro", "default", 999, t0)); !errors.Is(err, store.ErrReadOnly) {
			t.Fatalf("Record err=%v, want %v", err, store.ErrReadOnly)
		}
	})

	t.Run("ClosedDaemon", func(t *testing.T) {
		// A database whose writer has closed (no -wal or -shm left) reads fine.
		path := filepath.Join(t.TempDir(), "parkd.db")
		w := store.NewDB(path)
		if err := w.Open(); err != nil {
			t.Fatal(err)
		}
		MustRecord(t, w, Parked("call-1", "default", 1, t0))
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		r, err := store.OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := HistoryLen(t, r), 1; got != want {
			t.Fatalf("history=%d, want %d", got, want)
		}
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, before) {
			t.Fatal("file modified by a read-only DB")
		}
	})

	t.Run("Missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing.db")
		db, err := store.OpenReadOnly(path)
		if !errors.Is(err, fs.ErrNotExist) {
			if db != nil {
				db.Close()
			}
			t.Fatalf("err=%v, want %v", err, fs.ErrNotExist)
		}
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("stat err=%v: OpenReadOnly created the file", err)
		}
	})

	t.Run("ErrOlderSchemaVersion1", func(t *testing.T) {
		// A database parkd with only 0001 left behind, not yet migrated.
		path := filepath.Join(t.TempDir(), "parkd.db")
		if err := store.MigrateTo(path, 1); err != nil {
			t.Fatal(err)
		}
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		db, err := store.OpenReadOnly(path)
		if !errors.Is(err, store.ErrOlderSchema) {
			if db != nil {
				db.Close()
			}
			t.Fatalf("err=%v, want %v", err, store.ErrOlderSchema)
		}
		if want := fmt.Sprintf("has schema version 1, this parkd needs %d", schemaVersion); !strings.Contains(err.Error(), want) {
			t.Fatalf("err=%q, want it to contain %q", err, want)
		}
		if !strings.Contains(err.Error(), "run parkd serve once to migrate") {
			t.Fatalf("err=%q, want it to say how to migrate", err)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, before) {
			t.Fatal("file modified")
		}

		// Once a writable Open has migrated it, OpenReadOnly succeeds.
		w := store.NewDB(path)
		if err := w.Open(); err != nil {
			t.Fatal(err)
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := store.OpenReadOnly(path)
		if err != nil {
			t.Fatalf("OpenReadOnly after migration: %v", err)
		}
		r.Close()
	})

	t.Run("ErrOlderSchema", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "parkd.db")
		raw := RawDB(t, path)
		if _, err := raw.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`); err != nil {
			t.Fatal(err)
		}
		raw.Close()
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		db, err := store.OpenReadOnly(path)
		if !errors.Is(err, store.ErrOlderSchema) {
			if db != nil {
				db.Close()
			}
			t.Fatalf("err=%v, want %v", err, store.ErrOlderSchema)
		}
		if !strings.Contains(err.Error(), "run parkd serve once to migrate") {
			t.Fatalf("err=%q, want it to say how to migrate", err)
		}
		after, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(after, before) {
			t.Fatal("file modified")
		}
	})
}

// Ensure a reader of a database no daemon has open leaves the directory
// as it found it (no -wal, no -shm), and a reader of one a daemon has open
// reads it normally and sees the rows the daemon writes after it opened.
func TestOpenReadOnly_LeavesNothingBehind(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "parkd.db")
	w := store.NewDB(path)
	if err := w.Open(); err != nil {
		t.Fatal(err)
	}
	MustRecord(t, w, Parked("call-1", "default", 201, t0))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	before := listDir(t, dir)
	r, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	if occ, err := r.Occupied(ctx); err != nil || len(occ) != 1 {
		t.Fatalf("occupied=%v, %v; want call-1", occ, err)
	}
	r.Close()
	if after := listDir(t, dir); !slices.Equal(before, after) {
		t.Fatalf("directory %v after a read, was %v", after, before)
	}

	w = MustOpenPath(t, path) // the daemon runs
	r, err = store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	MustRecord(t, w, Parked("call-2", "default", 202, t0))
	if occ, err := r.Occupied(ctx); err != nil || len(occ) != 2 {
		t.Fatalf("occupied=%v, %v; want the daemon's new row too", occ, err)
	}
}
