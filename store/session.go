package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/parkd/parkd/parking"
)

// A park session is one stay of a call in park: from its 'parked' history
// row to the call's next terminal row. The sessions table holds one row per
// session; Record keeps it up to date in the same transaction as the history
// row, and migration 0003 backfilled it from the history with the same rules:
//
//   - 'parked' starts a session unless the call already has an open one (a
//     call that moves keeps its session, lot and slot);
//   - 'recall' adds one recall attempt to the call's open session;
//   - a terminal event (see terminal) closes the call's open session with its
//     time, outcome, wait and retriever (for 'recalled' with no retriever
//     recorded, the parker); 'replaced' (migration 0004) is terminal too,
//     and so is 'hungup' (0005: a person hung the call up from the board;
//     the session's retriever names them);
//   - other events ('moved' and 'extended' among them: the call stays
//     parked, in the session it began with), and events of calls without an open session, change no
//     session.

const (
	// sqlOpenSession finds the call's open session, for AddNote.
	sqlOpenSession = `SELECT id FROM sessions WHERE call_uuid = ? AND ended_id IS NULL ORDER BY id DESC LIMIT 1`
	// sqlInsertSession starts the session of a park unless the call has an
	// open one (it moved, and keeps it): one statement, not a lookup and
	// then an insert, on the write path of every park.
	sqlInsertSession = `INSERT INTO sessions (id, call_uuid, lot, slot, caller_number, caller_name, parker, parked_at, domain)
	SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
	WHERE NOT EXISTS (SELECT 1 FROM sessions WHERE call_uuid = ?2 AND ended_id IS NULL)`
	sqlRecallSession = `UPDATE sessions SET recall_attempts = recall_attempts + 1 WHERE call_uuid = ? AND ended_id IS NULL`
	sqlCloseSession  = `UPDATE sessions SET ended_id = ?1, ended_at = ?2, outcome = ?3,
	retriever = CASE WHEN ?3 = 'recalled' AND ?4 = '' THEN parker WHEN ?3 IN ('retrieved', 'recalled', 'hungup') THEN ?4 ELSE '' END,
	wait_ms = ?5
	WHERE call_uuid = ?6 AND ended_id IS NULL`
)

// terminal reports whether e ends a park session.
func terminal(e parking.Event) bool {
	switch e {
	case parking.EventRetrieved, parking.EventRecalled, parking.EventAbandoned, parking.EventFallback, parking.EventLost,
		parking.EventReplaced, parking.EventHungup:
		return true
	}
	return false
}

// sessionWrites lists the writes that keep the sessions table up to date
// for t, whose history row has ID historyID.
func (db *DB) sessionWrites(t parking.Transition, historyID int64) []write {
	switch {
	case t.Event == parking.EventParked:
		return []write{{db.stmts.insertSession, sqlInsertSession, []any{historyID, string(t.Call), t.Lot, t.Slot,
			t.Caller.Number, t.Caller.Name, t.Parker, formatTime(t.At), t.Domain}, "session: open session"}}
	case t.Event == parking.EventRecall:
		return []write{{db.stmts.recallSession, sqlRecallSession, []any{string(t.Call)}, "session: count recall"}}
	case terminal(t.Event):
		return []write{{db.stmts.closeSession, sqlCloseSession, []any{historyID, formatTime(t.At), string(t.Event),
			t.Retriever, t.Wait.Milliseconds(), string(t.Call)}, "session: close session"}}
	}
	return nil
}

// Session is one park session, as the park_sessions view shows it.
type Session struct {
	Call           parking.CallID
	Lot            string
	Domain         string // the lot's domain; "" for none
	Slot           int
	Caller         parking.Caller
	Parker         string
	ParkedAt       time.Time // UTC
	EndedAt        time.Time // zero while parked
	Outcome        parking.Event
	Retriever      string
	Wait           time.Duration // parked to EndedAt; 0 while parked
	RecallAttempts int
	Note           string // the latest note; "" if none
}

// Sessions returns the park sessions parked in [since, until), read from the
// park_sessions view, ordered by parked_at then call. A zero since or until
// leaves that end open.
func (db *DB) Sessions(ctx context.Context, since, until time.Time) (_ []Session, rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return nil, fmt.Errorf("sessions: %w", errNotOpen)
	}
	lo, hi := "", "9999"
	if !since.IsZero() {
		lo = formatTime(since)
	}
	if !until.IsZero() {
		hi = formatTime(until)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT call, lot, slot, caller_number, caller_name, parker, parked_at,
	ended_at, outcome, retriever, wait_ms, recall_attempts, note, domain
	FROM park_sessions WHERE parked_at >= ? AND parked_at < ? ORDER BY parked_at, call`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		var s Session
		var parkedAt string
		var endedAt, outcome, note sql.NullString
		var wait sql.NullInt64
		if err := rows.Scan(&s.Call, &s.Lot, &s.Slot, &s.Caller.Number, &s.Caller.Name, &s.Parker, &parkedAt,
			&endedAt, &outcome, &s.Retriever, &wait, &s.RecallAttempts, &note, &s.Domain); err != nil {
			return nil, fmt.Errorf("sessions: %w", err)
		}
		if s.ParkedAt, err = parseTime(parkedAt); err != nil {
			return nil, fmt.Errorf("sessions: %w", err)
		}
		if endedAt.Valid {
			if s.EndedAt, err = parseTime(endedAt.String); err != nil {
				return nil, fmt.Errorf("sessions: %w", err)
			}
		}
		s.Outcome = parking.Event(outcome.String)
		s.Wait = time.Duration(wait.Int64) * time.Millisecond
		s.Note = note.String
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	return out, nil
}
