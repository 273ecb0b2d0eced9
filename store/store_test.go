package store_test

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/parkd/parkd/internal/pgtest"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// TestMain stops the PostgreSQL server the backend tests started, if any.
func TestMain(m *testing.M) { pgtest.Main(m) }

// backend is an engine the store's behaviour is tested on: every test
// about what the store does (not about SQLite's files) runs once per
// backend, through forEachBackend.
type backend struct {
	name string
	// newLoc returns a new, empty database for the test: a file in its
	// temporary directory, or a PostgreSQL database of its own (pgtest).
	newLoc func(tb testing.TB) store.Location
}

var backends = []backend{
	{"sqlite", func(tb testing.TB) store.Location {
		return store.Location{Driver: store.SQLite, Path: filepath.Join(tb.TempDir(), "parkd.db")}
	}},
	{"postgres", func(tb testing.TB) store.Location {
		return store.Location{Driver: store.Postgres, DSN: pgtest.DSN(tb)}
	}},
}

// forEachBackend runs f as a subtest per backend, named after it.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) { f(t, b) })
	}
}

// benchEachBackend is forEachBackend for benchmarks.
func benchEachBackend(b *testing.B, f func(b *testing.B, be backend)) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) { f(b, be) })
	}
}

// open opens a new database of the backend and closes it when the test
// ends.
func (b backend) open(tb testing.TB) *store.DB {
	tb.Helper()
	return b.openAt(tb, b.newLoc(tb))
}

// openAt opens the database at loc and closes it when the test ends.
func (b backend) openAt(tb testing.TB, loc store.Location) *store.DB {
	tb.Helper()
	db := loc.New()
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// newDB returns a DB for a new database of the backend, not yet open,
// closed when the test ends.
func (b backend) newDB(tb testing.TB) *store.DB {
	tb.Helper()
	db := b.newLoc(tb).New()
	tb.Cleanup(func() { db.Close() })
	return db
}

// rawExec runs q, written with SQLite's ? placeholders, on db's writer,
// bypassing the store's methods (as an outside tool would).
func rawExec(tb testing.TB, db *store.DB, q string, args ...any) {
	tb.Helper()
	if _, err := db.WritePool().Exec(db.Rebind(q), args...); err != nil {
		tb.Fatalf("%s: %v", q, err)
	}
}

// t0 is the base time of the test transitions. It is not in UTC, so the
// tests also check that the store converts.
var t0 = time.Date(2025, 3, 4, 10, 11, 12, 345678901, time.FixedZone("CET", 3600))

// MustOpenDB opens a new database in a temporary directory and closes it when
// the test ends.
func MustOpenDB(tb testing.TB) *store.DB {
	tb.Helper()
	return MustOpenPath(tb, filepath.Join(tb.TempDir(), "parkd.db"))
}

// MustOpenPath opens the database at path and closes it when the test ends.
func MustOpenPath(tb testing.TB, path string) *store.DB {
	tb.Helper()
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := db.Close(); err != nil {
			tb.Error(err)
		}
	})
	return db
}

// MustRecord records t or fails the test.
func MustRecord(tb testing.TB, db *store.DB, t parking.Transition) {
	tb.Helper()
	if err := db.Record(context.Background(), t); err != nil {
		tb.Fatal(err)
	}
}

// Parked is the transition of call taking lot/slot at at.
func Parked(call parking.CallID, lot string, slot int, at time.Time) parking.Transition {
	caller := parking.Caller{Name: "Jane Roe", Number: "+15550100"}
	return parking.Transition{
		At: at, Event: parking.EventParked, Lot: lot, Slot: slot, Call: call,
		Caller: caller, Parker: "1001", Reason: "directed",
		Occupancy: &parking.Occupant{
			Lot: lot, Slot: slot, Call: call, Caller: caller, Parker: "1001",
			ParkedAt: at, Deadline: at.Add(2 * time.Minute),
		},
	}
}

// Retrieved is the transition of call being picked up from lot/slot by
// retriever, wait after it was parked at parkedAt.
func Retrieved(call parking.CallID, lot string, slot int, parkedAt time.Time, wait time.Duration) parking.Transition {
	return parking.Transition{
		At: parkedAt.Add(wait), Event: parking.EventRetrieved, Lot: lot, Slot: slot, Call: call,
		Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}, Parker: "1001",
		Retriever: "1202", Reason: "retrieve code", Wait: wait,
	}
}

// Recall is the transition of the n-th recall of call, parked in lot/slot at
// parkedAt with a two-minute timeout and recalled every minute after that:
// the call keeps its slot and its occupancy counts the attempt.
func Recall(call parking.CallID, lot string, slot int, parkedAt time.Time, n int) parking.Transition {
	at := parkedAt.Add(2*time.Minute + time.Duration(n-1)*time.Minute)
	caller := parking.Caller{Name: "Jane Roe", Number: "+15550100"}
	return parking.Transition{
		At: at, Event: parking.EventRecall, Lot: lot, Slot: slot, Call: call,
		Caller: caller, Parker: "1001", Reason: fmt.Sprintf("attempt %d", n), Wait: at.Sub(parkedAt),
		Occupancy: &parking.Occupant{
			Lot: lot, Slot: slot, Call: call, Caller: caller, Parker: "1001",
			ParkedAt: parkedAt, Deadline: at, ParkerDomain: "pbx.example.com", Attempts: n,
		},
	}
}

// RecallFailed is the transition of the n-th recall of call (see Recall)
// going unanswered for 30 seconds: the call stays in its slot with the next
// recall due 30 seconds later.
func RecallFailed(call parking.CallID, lot string, slot int, parkedAt time.Time, n int) parking.Transition {
	t := Recall(call, lot, slot, parkedAt, n)
	t.At = t.At.Add(30 * time.Second)
	t.Event, t.Reason, t.Wait = parking.EventRecallFailed, "NO_ANSWER", t.At.Sub(parkedAt)
	t.Occupancy.Deadline = t.At.Add(30 * time.Second)
	return t
}

// HistoryLen returns the number of history rows.
func HistoryLen(tb testing.TB, db *store.DB) int {
	tb.Helper()
	rows, err := db.History(context.Background(), store.HistoryFilter{})
	if err != nil {
		tb.Fatal(err)
	}
	return len(rows)
}

// RawDB opens path with a plain go-sqlite3 connection, bypassing the store,
// and closes it when the test ends.
func RawDB(tb testing.TB, path string) *sql.DB {
	tb.Helper()
	raw, err := sql.Open("sqlite3", fmt.Sprintf("file:%s?_busy_timeout=5000", path))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { raw.Close() })
	return raw
}
