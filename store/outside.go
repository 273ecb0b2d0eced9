package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/parkd/parkd/parking"
)

var _ parking.PINFailures = (*DB)(nil)

// PINFailed implements parking.PINFailures: it records a wrong PIN from
// number for lot at at and counts, in the same transaction, the lot's
// failures from number since numberSince and from any number since
// lotSince, this one included. The PIN itself is never given to the store.
func (db *DB) PINFailed(ctx context.Context, domain, lot, number string, at, numberSince, lotSince time.Time) (byNumber, byLot int, rerr error) {
	defer db.damaged(&rerr)
	if err := db.writable(); err != nil {
		return 0, 0, fmt.Errorf("wrong PIN for %s: %w", lot, err)
	}
	number = db.eng.text(number)
	if lot == "" || at.IsZero() {
		return 0, 0, fmt.Errorf("wrong PIN: %w: lot and time are required", ErrInvalid)
	}
	ctx, cancel := db.writeContext(ctx)
	defer cancel()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("wrong PIN for %s: begin: %w", lot, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO outside_failures (domain, lot, number, at) VALUES (?, ?, ?, ?)`,
		domain, lot, number, formatTime(at)); err != nil {
		return 0, 0, fmt.Errorf("wrong PIN for %s: %w", lot, err)
	}
	// Times are fixed-width UTC text: they compare as text.
	if err := tx.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM outside_failures WHERE domain = ? AND lot = ? AND number = ? AND at > ?),
		(SELECT count(*) FROM outside_failures WHERE domain = ? AND lot = ? AND at > ?)`,
		domain, lot, number, formatTime(numberSince), domain, lot, formatTime(lotSince)).Scan(&byNumber, &byLot); err != nil {
		return 0, 0, fmt.Errorf("wrong PIN for %s: count: %w", lot, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, 0, fmt.Errorf("wrong PIN for %s: commit: %w", lot, err)
	}
	return byNumber, byLot, nil
}

// LockOutside implements parking.PINFailures.
func (db *DB) LockOutside(ctx context.Context, domain, lot, number string, until time.Time) (rerr error) {
	defer db.damaged(&rerr)
	if err := db.writable(); err != nil {
		return fmt.Errorf("lock outside access of %s: %w", lot, err)
	}
	number = db.eng.text(number)
	ctx, cancel := db.writeContext(ctx)
	defer cancel()
	if _, err := db.w.ExecContext(ctx, `INSERT INTO outside_locks (domain, lot, number, until) VALUES (?, ?, ?, ?)`,
		domain, lot, number, formatTime(until)); err != nil {
		return fmt.Errorf("lock outside access of %s: %w", lot, err)
	}
	return nil
}

// OutsideLockedUntil implements parking.PINFailures.
func (db *DB) OutsideLockedUntil(ctx context.Context, domain, lot, number string, now time.Time) (time.Time, error) {
	if db.r == nil {
		return time.Time{}, fmt.Errorf("outside lock of %s: %w", lot, errNotOpen)
	}
	number = db.eng.text(number)
	var until sql.NullString
	err := db.r.QueryRowContext(ctx, `SELECT max(until) FROM outside_locks
		WHERE domain = ? AND lot = ? AND (number = '' OR number = ?) AND until > ?`, domain, lot, number, formatTime(now)).Scan(&until)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, fmt.Errorf("outside lock of %s: %w", lot, err)
	}
	if !until.Valid {
		return time.Time{}, nil
	}
	t, err := parseTime(until.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("outside lock of %s: %w", lot, err)
	}
	return t, nil
}

// ClearOutside lifts the lockouts of the outside pick-up of lot (of
// domain, "" for a lot without one) and forgets its wrong PINs: of number
// only, or of every number (and the lot's own lock) when number is "". It
// returns how many locks it lifted.
func (db *DB) ClearOutside(ctx context.Context, domain, lot, number string) (lifted int64, rerr error) {
	defer db.damaged(&rerr)
	if err := db.writable(); err != nil {
		return 0, fmt.Errorf("clear outside lockout of %s: %w", lot, err)
	}
	number = db.eng.text(number)
	ctx, cancel := db.writeContext(ctx)
	defer cancel()
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("clear outside lockout of %s: begin: %w", lot, err)
	}
	defer tx.Rollback()
	where, args := `domain = ? AND lot = ?`, []any{domain, lot}
	if number != "" {
		where, args = `domain = ? AND lot = ? AND number = ?`, []any{domain, lot, number}
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM outside_locks WHERE `+where, args...)
	if err != nil {
		return 0, fmt.Errorf("clear outside lockout of %s: %w", lot, err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM outside_failures WHERE `+where, args...); err != nil {
		return 0, fmt.Errorf("clear outside lockout of %s: %w", lot, err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("clear outside lockout of %s: commit: %w", lot, err)
	}
	lifted, _ = res.RowsAffected()
	return lifted, nil
}

// PINRow counts a lot's outside pick-up refusals in a report's window.
type PINRow struct {
	Domain string // the lot's domain; "" for a lot without one
	Lot    string
	Failed int // pin_failed rows: wrong PINs, and PINs typed while locked out
	Locked int // pin_locked rows: lockouts of a number or of the lot
}

// PINReport counts the pin_failed and pin_locked events of [from, to) per
// lot, ordered by domain and lot; lots without any are left out.
func (db *DB) PINReport(ctx context.Context, from, to time.Time) (_ []PINRow, rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return nil, fmt.Errorf("PIN report: %w", errNotOpen)
	}
	rows, err := db.pinRows(ctx, from, to, nil)
	if err != nil {
		return nil, fmt.Errorf("PIN report: %w", err)
	}
	return rows, nil
}

// pinRows counts the pin_failed and pin_locked events of [from, to) per
// lot of domains (nil: every domain's).
func (db *DB) pinRows(ctx context.Context, from, to time.Time, domains []string) ([]PINRow, error) {
	var ds any // NULL: every domain
	if domains != nil {
		ds = domainsJSON(domains)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT domain, lot,
		count(*) FILTER (WHERE event = 'pin_failed'), count(*) FILTER (WHERE event = 'pin_locked')
		FROM history WHERE event IN ('pin_failed', 'pin_locked') AND at >= ?1 AND at < ?2
		AND `+db.eng.domainsOrAll("?3")+`
		GROUP BY domain, lot ORDER BY domain, lot`, formatTime(from), formatTime(to), ds)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []PINRow
	for rows.Next() {
		var r PINRow
		if err := rows.Scan(&r.Domain, &r.Lot, &r.Failed, &r.Locked); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
