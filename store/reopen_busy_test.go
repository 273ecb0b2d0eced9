package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parkd/parkd/store"
)

// Ensure Reopen does not abandon the -wal of a file that was moved away
// while a reader that opened it before the move holds a snapshot: the
// checkpoint stops short of the rows written after that snapshot, and
// removing the -wal then left the moved file missing rows, or damaged.
// Reopen must fail, keep writing the old file, and succeed once the reader
// is gone, with every row in the moved file.
func TestDB_Reopen_CheckpointBlocked(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "parkd.db")
	db := store.NewDB(path)
	db.BusyTimeout = 50 * time.Millisecond // how long the checkpoint waits for the reader
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	MustRecord(t, db, Parked("call-1", "main", 701, t0))

	// A reader holds a snapshot taken before call-2 was written.
	raw := RawDB(t, path)
	conn, err := raw.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM history").Scan(&n); err != nil {
		t.Fatal(err)
	}
	MustRecord(t, db, Parked("call-2", "main", 702, t0))

	moved := filepath.Join(dir, "moved.db")
	if err := os.Rename(path, moved); err != nil {
		t.Fatal(err)
	}
	if err := db.Reopen(); err == nil {
		t.Fatal("Reopen succeeded while a reader blocked the checkpoint")
	}
	MustRecord(t, db, Parked("call-3", "main", 703, t0)) // still the old file
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	raw.Close()
	if err := db.Reopen(); err != nil {
		t.Fatal(err)
	}
	if got := HistoryLen(t, db); got != 0 {
		t.Fatalf("the new file holds %d rows, want 0", got)
	}

	r, err := store.OpenReadOnly(moved)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, want := HistoryLen(t, r), 3; got != want {
		t.Fatalf("the moved file holds %d rows, want %d", got, want)
	}
}
