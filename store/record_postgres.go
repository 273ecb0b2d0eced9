package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/parkd/parkd/parking"
)

// On PostgreSQL every statement is a round trip to the server, and a
// transition is four to seven statements: written one by one, a batch of
// transitions spent its time waiting on the network, not in the database.
// So PostgreSQL's writer sends a batch's statements in one pipeline (pgx's
// Batch): the history rows' ids are taken from their sequence first, so
// that no statement waits for an earlier one's answer, then every
// transition's writes (the same as SQLite's, from occupancyWrites and
// followWrites) go out together, each transition that claims a slot inside
// a savepoint of its own. A claim the occupancy's keys refuse aborts the
// rest of the pipeline: its savepoint is rolled back, the transition
// reported refused (parking.ErrSlotTaken), and the transitions after it
// are sent again. A refused transition leaves a gap in the history's ids;
// ids still rise in the order of the transitions.

// sqlInsertHistoryID is sqlInsertHistory with the id given.
const sqlInsertHistoryID = `INSERT INTO history
	(id, at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms, domain)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`

// recordPipelined writes ts in one transaction, as RecordAll does, through
// the writer's connection. refused must have len(ts) entries; those
// already set (invalid transitions) are skipped. It returns the history
// rows written, for OnCommit.
func (db *DB) recordPipelined(ctx context.Context, ts []parking.Transition, refused []error) ([]HistoryRow, error) {
	var todo []int // the transitions to write, by index
	for i := range ts {
		if refused[i] == nil {
			todo = append(todo, i)
		}
	}
	if len(todo) == 0 {
		return nil, nil
	}
	conn, err := db.w.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	var rows []HistoryRow
	err = conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return fmt.Errorf("begin: %w", err)
		}
		defer tx.Rollback(ctx)
		if db.w.fence != 0 {
			if _, err := tx.Exec(ctx, sqlFence, db.w.fence); err != nil {
				return fmt.Errorf("fence: %w", fenceError(err))
			}
		}

		ids := make(map[int]int64, len(todo))
		idRows, err := tx.Query(ctx, `SELECT nextval(pg_get_serial_sequence('history', 'id')) FROM generate_series(1, $1)`, len(todo))
		if err != nil {
			return fmt.Errorf("history ids: %w", err)
		}
		for k := 0; idRows.Next(); k++ {
			var id int64
			if err := idRows.Scan(&id); err != nil || k >= len(todo) {
				idRows.Close()
				return fmt.Errorf("history ids: %v", err)
			}
			ids[todo[k]] = id
		}
		idRows.Close()
		if err := idRows.Err(); err != nil {
			return fmt.Errorf("history ids: %w", err)
		}
		if len(ids) != len(todo) {
			return fmt.Errorf("history ids: %d for %d transitions", len(ids), len(todo))
		}

		for len(todo) > 0 {
			done, err := db.sendWrites(ctx, tx, ts, todo, ids, refused)
			for _, i := range todo[:done] {
				if refused[i] == nil && len(db.committed) > 0 {
					rows = append(rows, rowOf(ids[i], ts[i]))
				}
			}
			if err != nil {
				return err
			}
			todo = todo[done:]
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("commit: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return rows, nil
}

// pipelined is what a pipeline sent for one statement.
type pipelined struct {
	ti    int    // the transition's index in ts
	what  string // for errors
	claim bool   // the slot claim
}

// sendWrites sends the writes of ts[todo...] in one pipeline and reads the
// answers. It returns how many of todo it has dealt with: all of them, or
// up to and including one whose claim was refused (rolled back to its
// savepoint and set in refused), after which the rest must be sent again.
// Any other error ends the write.
func (db *DB) sendWrites(ctx context.Context, tx pgx.Tx, ts []parking.Transition, todo []int, ids map[int]int64, refused []error) (int, error) {
	b := &pgx.Batch{}
	var sent []pipelined
	queue := func(ti int, q string, args []any, what string, claim bool) {
		b.Queue(db.eng.rebind(q), args...)
		sent = append(sent, pipelined{ti: ti, what: what, claim: claim})
	}
	for _, i := range todo {
		t := ts[i]
		claims := t.Occupancy != nil
		if claims {
			queue(i, `SAVEPOINT one`, nil, "savepoint", false)
		}
		ws, claim := db.occupancyWrites(t)
		for j, w := range ws {
			queue(i, w.sql, w.args, w.what, j == claim)
		}
		queue(i, sqlInsertHistoryID, append([]any{ids[i]}, historyArgs(t)...), "append history", false)
		follow, err := db.followWrites(t, ids[i], db.Node)
		if err != nil {
			return 0, err
		}
		for _, w := range follow {
			queue(i, w.sql, w.args, w.what, false)
		}
		if claims {
			queue(i, `RELEASE SAVEPOINT one`, nil, "release", false)
		}
	}
	// Errors name the call when the batch has several (Record names its
	// own).
	name := func(t parking.Transition) string {
		if len(todo) > 1 {
			return string(t.Call) + ": "
		}
		return ""
	}
	br := tx.SendBatch(ctx, b)
	for _, p := range sent {
		_, err := br.Exec()
		if err == nil {
			continue
		}
		br.Close() // the server skipped the rest: the transaction is aborted
		t := ts[p.ti]
		if !p.claim || !db.eng.isUnique(err) {
			return 0, fmt.Errorf("%s%s: %w", name(t), p.what, err)
		}
		refused[p.ti] = fmt.Errorf("record %s: %w", t.Call, slotTaken(t))
		// Undo the refused transition alone; the ones before it stay.
		if _, err := tx.Exec(ctx, `ROLLBACK TO SAVEPOINT one`); err != nil {
			return 0, fmt.Errorf("%sroll back: %w", name(t), err)
		}
		if _, err := tx.Exec(ctx, `RELEASE SAVEPOINT one`); err != nil {
			return 0, fmt.Errorf("%srelease: %w", name(t), err)
		}
		n := 0
		for todo[n] != p.ti {
			n++
		}
		return n + 1, nil
	}
	if err := br.Close(); err != nil {
		return 0, err
	}
	return len(todo), nil
}
