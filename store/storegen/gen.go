// Package storegen writes synthetic, reproducible park histories into parkd
// databases, for load tests and benchmarks. It writes the tables directly,
// through a connection of its own, so the production store type carries no
// generator and the parkd daemon does not link this package.
package storegen

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// ErrHasHistory: Generate was given a database that already has history.
var ErrHasHistory = errors.New("the database already has history")

// Options describes a synthetic history.
type Options struct {
	// Rows is the exact number of history rows to write.
	Rows int
	// Seed makes the history reproducible: the same options give the same
	// rows.
	Seed uint64
	// End is when the last session starts; zero means now. Span is how far
	// back the first one starts; zero means 365 days.
	End  time.Time
	Span time.Duration
}

// Result says what Generate wrote.
type Result struct {
	Rows     int // history rows
	Sessions int // park sessions (all of them ended)
}

// timeLayout is how the store keeps times (UTC, milliseconds, fixed width;
// see package store). The generator writes rows the store reads back, so
// it must use the same form.
const timeLayout = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// terminal reports whether e ends a park session, as the store decides it.
func terminal(e parking.Event) bool {
	switch e {
	case parking.EventRetrieved, parking.EventRecalled, parking.EventAbandoned, parking.EventFallback, parking.EventLost,
		parking.EventReplaced:
		return true
	}
	return false
}

// Generate appends a synthetic but realistic history of o.Rows rows, with
// its sessions, to the parkd database at path, creating and migrating it
// through store.DB.Open first if needed, in one transaction of batched
// inserts (about ten seconds per million rows on a 2-vCPU VM). Sessions
// start evenly over [End-Span, End] with a random jitter, in three lots;
// about 55% are retrieved before any recall, 10% abandoned, the rest
// recalled up to three times and then recalled, retrieved, abandoned or
// sent to the fallback; 1% are lost, and about 3% of rows are refused
// parks. Every session ends, so nobody is left in a slot. It refuses a
// database that already has history (ErrHasHistory) and a non-positive
// o.Rows (store.ErrInvalid).
func Generate(ctx context.Context, path string, o Options) (Result, error) {
	if o.Rows <= 0 {
		return Result{}, fmt.Errorf("generate: %w: rows %d", store.ErrInvalid, o.Rows)
	}
	if o.End.IsZero() {
		o.End = time.Now()
	}
	if o.Span <= 0 {
		o.Span = 365 * 24 * time.Hour
	}
	// The store creates the file and applies the schema; the generator
	// only fills the tables.
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		return Result{}, fmt.Errorf("generate: %w", err)
	}
	if err := db.Close(); err != nil {
		return Result{}, fmt.Errorf("generate: %w", err)
	}
	u := url.URL{Path: filepath.ToSlash(filepath.Clean(path))}
	// A large page cache keeps the index rebuilds in memory.
	w, err := sql.Open("sqlite3", "file:"+u.EscapedPath()+
		"?_foreign_keys=on&_txlock=immediate&_busy_timeout=5000&_cache_size=-262144")
	if err != nil {
		return Result{}, fmt.Errorf("generate: %w", err)
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	if _, err := w.ExecContext(ctx, `PRAGMA temp_store = MEMORY`); err != nil {
		return Result{}, fmt.Errorf("generate: %w", err)
	}
	res, err := generate(ctx, w, o)
	if err != nil {
		return Result{}, fmt.Errorf("generate %s: %w", path, err)
	}
	if err := w.Close(); err != nil {
		return Result{}, fmt.Errorf("generate %s: close: %w", path, err)
	}
	return res, nil
}

// generate writes the history o describes through w, in one transaction.
func generate(ctx context.Context, w *sql.DB, o Options) (Result, error) {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return Result{}, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM history`).Scan(&n); err != nil {
		return Result{}, err
	}
	if n > 0 {
		return Result{}, fmt.Errorf("%w (%d rows)", ErrHasHistory, n)
	}

	// Secondary indexes are dropped while the rows go in and rebuilt after
	// (a sort instead of a million random B-tree inserts), in the same
	// transaction, from their own stored definitions.
	indexes, err := dropIndexes(ctx, tx)
	if err != nil {
		return Result{}, err
	}
	g := &generator{
		rng:  rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		hist: newBatcher(tx, "history", "at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms", 11),
		sess: newBatcher(tx, "sessions", "id, call_uuid, lot, slot, caller_number, caller_name, parker, parked_at, recall_attempts, ended_id, ended_at, outcome, retriever, wait_ms", 14),
	}
	res, err := g.run(ctx, o)
	if err != nil {
		return Result{}, err
	}
	for _, ddl := range indexes {
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			return Result{}, fmt.Errorf("rebuild index: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return Result{}, fmt.Errorf("commit: %w", err)
	}
	return res, nil
}

// dropIndexes drops the secondary indexes of history and sessions and
// returns the statements that recreate them.
func dropIndexes(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master
	WHERE type = 'index' AND tbl_name IN ('history', 'sessions') AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	var names, ddls []string
	for rows.Next() {
		var name, ddl string
		if err := rows.Scan(&name, &ddl); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list indexes: %w", err)
		}
		names, ddls = append(names, name), append(ddls, ddl)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	for _, name := range names {
		// Names come from sqlite_master, not from input; quoted all the same.
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", name, err)
		}
	}
	return ddls, nil
}
