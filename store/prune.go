package store

import (
	"context"
	"fmt"
	"time"
)

// The prune runs these in one transaction. History is append-only by
// trigger, so on SQLite the prune drops the delete trigger, deletes, and
// recreates it exactly as 0001_init.sql created it, all inside that
// transaction: no other connection ever sees the history without its
// guard. On PostgreSQL the trigger lets a transaction through that set
// parkd.history_delete to 'allow' for itself (SET LOCAL), so the guard
// never comes down at all (migrations/postgres/0001_init.sql).
const (
	sqlAllowHistoryDelete    = `SET LOCAL parkd.history_delete = 'allow'`
	sqlGuardHistoryDelete    = `SET LOCAL parkd.history_delete = ''`
	sqlDropHistoryNoDelete   = `DROP TRIGGER history_no_delete`
	sqlCreateHistoryNoDelete = `CREATE TRIGGER history_no_delete BEFORE DELETE ON history
BEGIN
	SELECT RAISE(ABORT, 'history is append-only');
END`

	// History rows before the cutoff, except those of calls parked now and
	// those of sessions still open or ended at or after the cutoff (a
	// session is kept or pruned whole).
	sqlPruneHistory = `DELETE FROM history
	WHERE at < ?1
	AND call_uuid NOT IN (SELECT call_uuid FROM occupancy)
	AND NOT EXISTS (SELECT 1 FROM sessions s
		WHERE s.call_uuid = history.call_uuid AND history.id >= s.id
		AND (s.ended_id IS NULL OR (history.id <= s.ended_id AND s.ended_at >= ?1)))`
	sqlPruneSessions = `DELETE FROM sessions
	WHERE ended_at < ?1 AND call_uuid NOT IN (SELECT call_uuid FROM occupancy)`
	sqlPruneNotes = `DELETE FROM notes
	WHERE at < ?1 AND call_uuid NOT IN (SELECT call_uuid FROM occupancy)
	AND (session_id IS NULL OR session_id NOT IN (SELECT id FROM sessions))`
)

// Prune deletes what the retention period no longer keeps: the history rows,
// sessions and notes of park sessions that ended before before, and other
// history rows (refused parks) from before before. It never touches a call
// that holds a slot, nor a session still open or that ended at or after
// before. It returns the number of history rows deleted.
//
// It runs in one write transaction, so the daemon's writes wait for it
// (briefly: it deletes by index) and readers see all of it or none of it.
// The daemon calls it once a day with before = now - [store] keep.
func (db *DB) Prune(ctx context.Context, before time.Time) (_ int64, rerr error) {
	defer db.damaged(&rerr)
	if !validTime(before) {
		return 0, fmt.Errorf("prune: %w: time %v", ErrInvalid, before)
	}
	if err := db.writable(); err != nil {
		return 0, fmt.Errorf("prune: %w", err)
	}
	cutoff := formatTime(before)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("prune: begin: %w", err)
	}
	defer tx.Rollback()

	off, on := sqlDropHistoryNoDelete, sqlCreateHistoryNoDelete
	if db.Driver == Postgres {
		off, on = sqlAllowHistoryDelete, sqlGuardHistoryDelete
	}
	if _, err := tx.ExecContext(ctx, off); err != nil {
		return 0, fmt.Errorf("prune: drop history guard: %w", err)
	}
	res, err := tx.ExecContext(ctx, sqlPruneHistory, cutoff)
	if err != nil {
		return 0, fmt.Errorf("prune: history: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune: history: %w", err)
	}
	if _, err := tx.ExecContext(ctx, on); err != nil {
		return 0, fmt.Errorf("prune: restore history guard: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sqlPruneSessions, cutoff); err != nil {
		return 0, fmt.Errorf("prune: sessions: %w", err)
	}
	if _, err := tx.ExecContext(ctx, sqlPruneNotes, cutoff); err != nil {
		return 0, fmt.Errorf("prune: notes: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("prune: commit: %w", err)
	}
	return n, nil
}
