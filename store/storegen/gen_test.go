package storegen_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storegen"
)

// Ensure Generate creates a parkd database the store reads, with exactly the
// rows asked for, and refuses a non-positive row count without creating
// anything. TestDB_Generate (package store) checks the sessions against
// the store's own and the reproducibility.
func TestGenerate(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "history.db")
	if _, err := storegen.Generate(ctx, path, storegen.Options{Rows: 0}); !errors.Is(err, store.ErrInvalid) {
		t.Fatalf("Rows 0: err=%v, want %v", err, store.ErrInvalid)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Rows 0 created the file: %v", err)
	}

	end := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	res, err := storegen.Generate(ctx, path, storegen.Options{Rows: 500, Seed: 3, End: end, Span: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Rows, 500; got != want {
		t.Fatalf("rows=%d, want %d", got, want)
	}
	db, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.History(ctx, store.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rows), 500; got != want {
		t.Fatalf("history=%d, want %d", got, want)
	}
	parked, err := db.Parked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 0 {
		t.Fatalf("parked=%d, want every session ended", len(parked))
	}
	if _, err := storegen.Generate(ctx, path, storegen.Options{Rows: 5}); !errors.Is(err, storegen.ErrHasHistory) {
		t.Fatalf("second Generate err=%v, want %v", err, storegen.ErrHasHistory)
	}
}
