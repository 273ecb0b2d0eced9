package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// mustReplaced returns db.Replaced() or fails the test.
func mustReplaced(t *testing.T, db *store.DB) bool {
	t.Helper()
	replaced, err := db.Replaced()
	if err != nil {
		t.Fatal(err)
	}
	return replaced
}

// Ensure Replaced tells whether the path still names the file the DB
// opened, and Reopen puts a database back at the path, into which the
// daemon can write what it knows.
func TestDB_Replaced(t *testing.T) {
	ctx := context.Background()

	t.Run("Untouched", func(t *testing.T) {
		db := MustOpenDB(t)
		MustRecord(t, db, Parked("call-1", "main", 701, t0))
		if mustReplaced(t, db) {
			t.Fatal("Replaced=true for an untouched file")
		}
	})

	t.Run("Deleted", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "parkd.db")
		db := MustOpenPath(t, path)
		MustRecord(t, db, Parked("call-1", "main", 701, t0))
		MustRecord(t, db, Parked("call-2", "main", 702, t0))
		// What the daemon knows (it keeps it in memory): the calls parked
		// now, and a row it holds.
		parked, err := db.Occupied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if !mustReplaced(t, db) {
			t.Fatal("Replaced=false after the file was deleted")
		}
		if err := db.Reopen(); err != nil {
			t.Fatal(err)
		}
		if mustReplaced(t, db) {
			t.Fatal("Replaced=true after Reopen")
		}
		if got, want := HistoryLen(t, db), 0; got != want {
			t.Fatalf("history of the new file=%d, want %d: the old file's -wal was read into it", got, want)
		}
		for _, o := range parked {
			occ := o
			MustRecord(t, db, parking.Transition{At: o.ParkedAt, Event: parking.EventParked, Lot: o.Lot, Slot: o.Slot,
				Call: o.Call, Caller: o.Caller, Parker: o.Parker, Reason: "database re-created", Occupancy: &occ})
		}
		MustRecord(t, db, Retrieved("call-2", "main", 702, t0, time.Minute))

		r, err := store.OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		occ, err := r.Occupied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(occ), 1; got != want || occ[0].Call != "call-1" {
			t.Fatalf("occupied=%+v, want call-1 alone", occ)
		}
		if got, want := HistoryLen(t, r), 3; got != want {
			t.Fatalf("history=%d, want %d", got, want)
		}
	})

	t.Run("DeletedWithCompanions", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "parkd.db")
		db := MustOpenPath(t, path)
		MustRecord(t, db, Parked("call-1", "main", 701, t0))
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Remove(path + suffix); err != nil {
				t.Fatal(err)
			}
		}
		if !mustReplaced(t, db) {
			t.Fatal("Replaced=false after the files were deleted")
		}
		if err := db.Reopen(); err != nil {
			t.Fatal(err)
		}
		MustRecord(t, db, Parked("call-1", "main", 701, t0))
		if got, want := HistoryLen(t, db), 1; got != want {
			t.Fatalf("history=%d, want %d", got, want)
		}
	})

	t.Run("ReplacedByAnother", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "parkd.db")
		db := MustOpenPath(t, path)
		MustRecord(t, db, Parked("call-1", "main", 701, t0))
		other := filepath.Join(dir, "other.db")
		makeParkdDB(t, other, 2)
		if err := os.Rename(other, path); err != nil {
			t.Fatal(err)
		}
		if !mustReplaced(t, db) {
			t.Fatal("Replaced=false after another file took the path")
		}
		if err := db.Reopen(); err != nil {
			t.Fatal(err)
		}
		if mustReplaced(t, db) {
			t.Fatal("Replaced=true after Reopen")
		}
		if got, want := HistoryLen(t, db), 5; got != want {
			t.Fatalf("history=%d, want the other file's %d", got, want)
		}
	})

	t.Run("ReplacedWhileReadElsewhere", func(t *testing.T) {
		// A CLI reader still has the old file, its -wal and -shm open.
		dir := t.TempDir()
		path := filepath.Join(dir, "parkd.db")
		db := MustOpenPath(t, path)
		MustRecord(t, db, Parked("call-1", "main", 701, t0))
		r, err := store.OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if got, want := HistoryLen(t, r), 1; got != want {
			t.Fatalf("history=%d, want %d", got, want)
		}
		MustRecord(t, db, Parked("call-2", "main", 702, t0))
		other := filepath.Join(dir, "other.db")
		makeParkdDB(t, other, 2)
		if err := os.Rename(other, path); err != nil {
			t.Fatal(err)
		}
		if err := db.Reopen(); err != nil {
			t.Fatal(err)
		}
		if got, want := HistoryLen(t, db), 5; got != want {
			t.Fatalf("history=%d, want the other file's %d", got, want)
		}
		MustRecord(t, db, Parked("call-3", "main", 703, t0))
	})

	t.Run("ReplacedByForeign", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "parkd.db")
		db := MustOpenPath(t, path)
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte("not a database, and long enough to have a header........................................................"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := db.Reopen(); !errors.Is(err, store.ErrForeignDB) {
			t.Fatalf("Reopen err=%v, want %v", err, store.ErrForeignDB)
		}
		// The DB is closed; it can be reopened once the path is fixed.
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := db.Reopen(); err != nil {
			t.Fatal(err)
		}
		MustRecord(t, db, Parked("call-1", "main", 701, t0))
	})

	t.Run("ReadOnly", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "parkd.db")
		makeParkdDB(t, path, 1)
		r, err := store.OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if mustReplaced(t, r) {
			t.Fatal("Replaced=true for an untouched file")
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if !mustReplaced(t, r) {
			t.Fatal("Replaced=false after the file was deleted")
		}
		if err := r.Reopen(); !errors.Is(err, store.ErrReadOnly) {
			t.Fatalf("Reopen err=%v, want %v", err, store.ErrReadOnly)
		}
	})

	t.Run("NotOpen", func(t *testing.T) {
		if _, err := store.NewDB(filepath.Join(t.TempDir(), "parkd.db")).Replaced(); err == nil {
			t.Fatal("Replaced on a DB never opened: no error")
		}
	})
}
