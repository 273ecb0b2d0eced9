package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/parkd/parkd/parking"
)

const (
	sqlDeleteOccupancy = `DELETE FROM occupancy WHERE call_uuid = ?`
	sqlInsertOccupancy = `INSERT INTO occupancy
	(lot, slot, call_uuid, caller_number, caller_name, parker, parked_at, deadline, parker_domain, recall_attempts, dialog, domain)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	sqlInsertHistory = `INSERT INTO history
	(at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms, domain)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
)

// Record applies t in one transaction: it appends t to the history, sets or
// clears t.Call's occupancy row and keeps the call's park session (see
// the sessions table in migrations/0003_sessions.sql) up to date.
//
// If t.Occupancy is nil, the call's occupancy row, if any, is deleted. If not,
// t.Occupancy replaces the call's row; a call may move to another slot (its
// old row is deleted). If the slot t.Occupancy names holds another call,
// Record returns an error wrapping parking.ErrSlotTaken and writes nothing.
//
// A recall re-records the call's row in place: the occupancy carries the new
// deadline and recall attempt count (and the parker's domain, for the next
// recall's dial string).
//
// A transition with an unknown event, an empty call, a zero time, a negative
// wait, an occupancy for another call or with a negative attempt count fails
// with ErrInvalid. Times are
// stored in UTC with millisecond precision; Wait in whole milliseconds.
func (db *DB) Record(ctx context.Context, t parking.Transition) (rerr error) {
	defer db.damaged(&rerr)
	if err := validate(t); err != nil {
		return fmt.Errorf("record %s: %w", t.Call, err)
	}
	if err := db.writable(); err != nil {
		return fmt.Errorf("record %s: %w", t.Call, err)
	}
	t = db.eng.fit(t)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("record %s: %w", t.Call, err)
	}
	ctx, cancel := db.writeContext(ctx)
	defer cancel()
	if err := db.record(ctx, t); err != nil {
		return fmt.Errorf("record %s: %w", t.Call, err)
	}
	return nil
}

// errNotOpen is returned by methods called before Open or after Close.
var errNotOpen = errors.New("database not open")

// writable returns nil if db can write, ErrReadOnly if it was opened with
// OpenReadOnly, and errNotOpen if it is not open.
func (db *DB) writable() error {
	switch {
	case db.w != nil:
		return nil
	case db.r != nil:
		return ErrReadOnly
	}
	return errNotOpen
}

// writeContext is ctx without its cancellation, for a history write that
// has begun. The write is bounded by the busy timeout; cutting a
// transaction short buys nothing, and go-sqlite3 runs every statement on a
// goroutine of its own when its context can be cancelled, which under load
// was a good part of the cost of a write. On PostgreSQL the write is
// bounded by a deadline instead (its lock waits by lock_timeout, the busy
// timeout): a server that stopped answering must not hold the writer
// forever. Call cancel when the write is done.
func (db *DB) writeContext(ctx context.Context) (_ context.Context, cancel context.CancelFunc) {
	ctx = context.WithoutCancel(ctx)
	if db.Driver != Postgres {
		return ctx, func() {}
	}
	busy := db.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	return context.WithTimeout(ctx, busy+PostgresWriteSlack)
}

// PostgresWriteSlack is how long a PostgreSQL write may take beyond the
// busy timeout (the lock wait) before it is given up as failed: the round
// trips of a transaction to a server that answers.
const PostgresWriteSlack = 10 * time.Second

func (db *DB) record(ctx context.Context, t parking.Transition) error {
	if db.Driver == Postgres {
		refused := []error{nil}
		rows, err := db.recordPipelined(ctx, []parking.Transition{t}, refused)
		if err != nil {
			return err
		}
		if refused[0] != nil {
			return errors.Unwrap(refused[0]) // Record adds the call itself
		}
		db.tellCommitted(rows)
		return nil
	}
	// The writer pool has one connection and begins IMMEDIATE, so this waits
	// for any other transition and then holds SQLite's write lock.
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	id, err := db.apply(ctx, tx, t)
	if err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	db.tellCommitted([]HistoryRow{rowOf(id, t)})
	return nil
}

// RecordAll applies ts in order in one transaction, which is how a busy
// daemon gets thousands of rows a second out of SQLite: the commit, not the
// rows, is the cost. Each transition gets its own savepoint, so one the
// store refuses (ErrInvalid, or a slot held by another call:
// parking.ErrSlotTaken) is undone alone and reported at its index in
// refused, as Record would have reported it; the others are written. Any
// other error (disk full, database locked) writes nothing and is returned
// as err.
func (db *DB) RecordAll(ctx context.Context, ts []parking.Transition) (refused []error, rerr error) {
	defer db.damaged(&rerr)
	if err := db.writable(); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("record %d transitions: %w", len(ts), err)
	}
	ctx, cancel := db.writeContext(ctx)
	defer cancel()
	refused = make([]error, len(ts))
	if db.Driver == Postgres {
		ts = slices.Clone(ts) // fitted below
		for i, t := range ts {
			if err := validate(t); err != nil {
				refused[i] = fmt.Errorf("record %s: %w", t.Call, err)
			} else {
				ts[i] = db.eng.fit(t)
			}
		}
		rows, err := db.recordPipelined(ctx, ts, refused)
		if err != nil {
			return nil, fmt.Errorf("record %d transitions: %w", len(ts), err)
		}
		db.tellCommitted(rows)
		return refused, nil
	}
	var rows []HistoryRow
	if len(db.committed) > 0 {
		rows = make([]HistoryRow, 0, len(ts))
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("record %d transitions: begin: %w", len(ts), err)
	}
	defer tx.Rollback()
	for i, t := range ts {
		if err := validate(t); err != nil {
			refused[i] = fmt.Errorf("record %s: %w", t.Call, err)
			continue
		}
		t = db.eng.fit(t)
		// Only a transition that claims a slot can be refused (the slot is
		// another call's): only it needs a savepoint to undo it alone. On
		// PostgreSQL each statement is a round trip, so the others save
		// two.
		claims := t.Occupancy != nil
		if claims {
			if _, err := tx.StmtContext(ctx, db.stmts.savepoint).ExecContext(ctx); err != nil {
				return nil, fmt.Errorf("record %s: savepoint: %w", t.Call, err)
			}
		}
		id, err := db.apply(ctx, tx, t)
		switch {
		case err == nil:
			if rows != nil {
				rows = append(rows, rowOf(id, t))
			}
		case claims && errors.Is(err, parking.ErrSlotTaken):
			refused[i] = fmt.Errorf("record %s: %w", t.Call, err)
			if _, err := tx.StmtContext(ctx, db.stmts.rollbackTo).ExecContext(ctx); err != nil {
				return nil, fmt.Errorf("record %s: roll back: %w", t.Call, err)
			}
		default:
			return nil, fmt.Errorf("record %s: %w", t.Call, err)
		}
		if claims {
			if _, err := tx.StmtContext(ctx, db.stmts.release).ExecContext(ctx); err != nil {
				return nil, fmt.Errorf("record %s: release: %w", t.Call, err)
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("record %d transitions: commit: %w", len(ts), err)
	}
	db.tellCommitted(rows)
	return refused, nil
}

// A transition's writes, in order: the call's occupancy (cleared, then
// set if it holds a slot), its history row, its park session, and its
// webhook deliveries. SQLite runs them one by one (apply); PostgreSQL sends
// a whole batch's in one round trip (record_postgres.go). Both take them
// from the functions below, so the two cannot differ in what they write.

// write is one statement of a transition's writes.
type write struct {
	stmt *sql.Stmt // prepared on the writer (SQLite runs it)
	sql  string    // its text, in SQLite's dialect (PostgreSQL's batch sends it)
	args []any
	what string // for errors: "clear occupancy", ...
}

// occupancyWrites lists the writes of t's occupancy. claim is the index
// of the one that claims a slot (-1 if none): a key violation there means
// another call holds the slot.
func (db *DB) occupancyWrites(t parking.Transition) (ws []write, claim int) {
	// Clear the call's row first: that frees it (Occupancy == nil) or lets it
	// move to another slot. The rollback undoes this if the insert fails.
	ws = append(ws, write{db.stmts.delOccupancy, sqlDeleteOccupancy, []any{string(t.Call)}, "clear occupancy"})
	o := t.Occupancy
	if o == nil {
		return ws, -1
	}
	ws = append(ws, write{db.stmts.insOccupancy, sqlInsertOccupancy, []any{
		o.Lot, o.Slot, string(o.Call), o.Caller.Number, o.Caller.Name, o.Parker,
		formatTime(o.ParkedAt), formatTime(o.Deadline), o.ParkerDomain, o.Attempts, o.Dialog, o.Domain},
		fmt.Sprintf("set occupancy %s/%d", o.Lot, o.Slot)})
	return ws, 1
}

// slotTaken is the error of a claim refused by the occupancy's keys.
func slotTaken(t parking.Transition) error {
	// The call's own row is gone, so the only key left to collide is
	// (domain, lot, slot): another call holds the slot.
	return fmt.Errorf("slot %s/%d: %w", t.Occupancy.Lot, t.Occupancy.Slot, parking.ErrSlotTaken)
}

// historyArgs are the arguments of sqlInsertHistory for t.
func historyArgs(t parking.Transition) []any {
	return []any{formatTime(t.At), t.Lot, t.Slot, string(t.Call), t.Caller.Number, t.Caller.Name, t.Parker,
		string(t.Event), t.Reason, t.Retriever, t.Wait.Milliseconds(), t.Domain}
}

// followWrites lists the writes that follow t's history row, whose id is
// id, on node: its session's and its webhook deliveries'.
func (db *DB) followWrites(t parking.Transition, id int64, node string) ([]write, error) {
	ws := db.sessionWrites(t, id)
	// Webhooks: the outbox rows go in with the history row (webhook.go).
	out, err := db.outboxWrites(t, id, node)
	if err != nil {
		return nil, err
	}
	return append(ws, out...), nil
}

// apply writes t inside tx, statement by statement. It returns the history
// row's ID.
func (db *DB) apply(ctx context.Context, tx *txn, t parking.Transition) (int64, error) {
	ws, claim := db.occupancyWrites(t)
	for i, w := range ws {
		_, err := tx.StmtContext(ctx, w.stmt).ExecContext(ctx, w.args...)
		if i == claim && db.eng.isUnique(err) {
			return 0, slotTaken(t)
		}
		if err != nil {
			return 0, fmt.Errorf("%s: %w", w.what, err)
		}
	}
	id, err := db.eng.stmtInsertID(ctx, tx.StmtContext(ctx, db.stmts.insertHistory), historyArgs(t)...)
	if err != nil {
		return 0, fmt.Errorf("append history: %w", err)
	}
	node := db.Node
	if tx.node != "" {
		node = tx.node
	}
	ws, err = db.followWrites(t, id, node)
	if err != nil {
		return 0, err
	}
	for _, w := range ws {
		if _, err := tx.StmtContext(ctx, w.stmt).ExecContext(ctx, w.args...); err != nil {
			return 0, fmt.Errorf("%s: %w", w.what, err)
		}
	}
	return id, nil
}

// validate checks what the schema cannot: that t is complete and its times
// fit the stored format.
func validate(t parking.Transition) error {
	switch {
	case !t.Event.Valid():
		return fmt.Errorf("%w: unknown event %q", ErrInvalid, t.Event)
	case t.Call == "":
		return fmt.Errorf("%w: %s without a call", ErrInvalid, t.Event)
	case !validTime(t.At):
		return fmt.Errorf("%w: %s at %v: time zero or out of range", ErrInvalid, t.Event, t.At)
	case t.Slot < 0:
		return fmt.Errorf("%w: %s in slot %d", ErrInvalid, t.Event, t.Slot)
	case t.Wait < 0:
		return fmt.Errorf("%w: %s with negative wait %v", ErrInvalid, t.Event, t.Wait)
	}
	if o := t.Occupancy; o != nil {
		switch {
		case o.Call != t.Call:
			return fmt.Errorf("%w: %s occupancy names call %q", ErrInvalid, t.Event, o.Call)
		case o.Domain != t.Domain:
			return fmt.Errorf("%w: %s in domain %q, its occupancy in %q", ErrInvalid, t.Event, t.Domain, o.Domain)
		case o.Lot == "" || o.Slot <= 0:
			return fmt.Errorf("%w: %s occupancy in slot %q/%d", ErrInvalid, t.Event, o.Lot, o.Slot)
		case !validTime(o.ParkedAt) || !validTime(o.Deadline):
			return fmt.Errorf("%w: %s occupancy parked at %v, deadline %v: time zero or out of range",
				ErrInvalid, t.Event, o.ParkedAt, o.Deadline)
		case o.Attempts < 0:
			return fmt.Errorf("%w: %s occupancy with %d recall attempts", ErrInvalid, t.Event, o.Attempts)
		}
	}
	return nil
}

// Occupied returns every occupied slot ordered by domain, lot and slot, with the
// parker's domain, the recall attempts so far and the call's SIP dialog. Times are in UTC.
func (db *DB) Occupied(ctx context.Context) (_ []parking.Occupant, rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return nil, fmt.Errorf("occupied: %w", errNotOpen)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+occupantColumns+`
	FROM occupancy WHERE node = ? ORDER BY domain, lot, slot`, db.Node)
	if err != nil {
		return nil, fmt.Errorf("occupied: %w", err)
	}
	occ, err := scanOccupants(rows)
	if err != nil {
		return nil, fmt.Errorf("occupied: %w", err)
	}
	return occ, nil
}

// scanOccupants reads every row of occupantColumns rows holds, and closes
// it.
func scanOccupants(rows *sql.Rows) ([]parking.Occupant, error) {
	defer rows.Close()
	var occ []parking.Occupant
	for rows.Next() {
		o, err := scanOccupant(rows)
		if err != nil {
			return nil, err
		}
		occ = append(occ, o)
	}
	return occ, rows.Err()
}

// occupantColumns are the occupancy's columns scanOccupant reads, in its
// order; a query may add its own after them.
const occupantColumns = `lot, slot, call_uuid, caller_number, caller_name, parker, parked_at, deadline,
	parker_domain, recall_attempts, dialog, domain`

// scanOccupant reads a row of occupantColumns, then into extra the
// columns a query added after them.
func scanOccupant(rows *sql.Rows, extra ...any) (parking.Occupant, error) {
	var o parking.Occupant
	var parkedAt, deadline string
	dest := append([]any{&o.Lot, &o.Slot, &o.Call, &o.Caller.Number, &o.Caller.Name, &o.Parker, &parkedAt, &deadline,
		&o.ParkerDomain, &o.Attempts, &o.Dialog, &o.Domain}, extra...)
	if err := rows.Scan(dest...); err != nil {
		return o, err
	}
	var err error
	if o.ParkedAt, err = parseTime(parkedAt); err != nil {
		return o, fmt.Errorf("%s/%d: parked_at: %w", o.Lot, o.Slot, err)
	}
	if o.Deadline, err = parseTime(deadline); err != nil {
		return o, fmt.Errorf("%s/%d: deadline: %w", o.Lot, o.Slot, err)
	}
	return o, nil
}
