package store

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/parkd/parkd/parking"
)

// HistoryFilter selects history rows. Zero fields do not filter; set fields
// must all match.
type HistoryFilter struct {
	Lot   string
	Slot  int // 0: any slot
	Call  parking.CallID
	Since time.Time // rows at or after Since
	Until time.Time // rows before Until
	Event parking.Event
	Limit int // at most this many rows, the oldest first; 0: no limit
}

// HistoryRow is one stored transition. Its fields are those of
// parking.Transition that the history keeps, plus the row's ID, which
// increases with every row appended.
//
// MarshalJSON renders a row as one flat object with these keys, in this
// order: at, event, lot, slot, call, caller_number, caller_name, parker,
// retriever, reason, wait_ms. "at" uses the stored text form
// (2006-01-02T15:04:05.000Z, UTC) and wait_ms is an integer; ID is not
// included.
type HistoryRow struct {
	ID        int64
	At        time.Time // UTC, millisecond precision
	Event     parking.Event
	Lot       string
	Slot      int
	Call      parking.CallID
	Caller    parking.Caller
	Parker    string
	Retriever string
	Reason    string
	Wait      time.Duration // whole milliseconds
}

// historyJSON is HistoryRow's JSON form; see HistoryRow.
type historyJSON struct {
	At           string        `json:"at"`
	Event        parking.Event `json:"event"`
	Lot          string        `json:"lot"`
	Slot         int           `json:"slot"`
	Call         string        `json:"call"`
	CallerNumber string        `json:"caller_number"`
	CallerName   string        `json:"caller_name"`
	Parker       string        `json:"parker"`
	Retriever    string        `json:"retriever"`
	Reason       string        `json:"reason"`
	WaitMS       int64         `json:"wait_ms"`
}

// MarshalJSON implements json.Marshaler; see HistoryRow for the shape.
func (r HistoryRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(historyJSON{
		At:           formatTime(r.At),
		Event:        r.Event,
		Lot:          r.Lot,
		Slot:         r.Slot,
		Call:         string(r.Call),
		CallerNumber: r.Caller.Number,
		CallerName:   r.Caller.Name,
		Parker:       r.Parker,
		Retriever:    r.Retriever,
		Reason:       r.Reason,
		WaitMS:       r.Wait.Milliseconds(),
	})
}

// History returns the history rows f selects, ordered by ID (the order they
// were recorded). Since and Until compare at millisecond precision. An
// unknown f.Event or a negative f.Limit or f.Slot fails with ErrInvalid.
func (db *DB) History(ctx context.Context, f HistoryFilter) ([]HistoryRow, error) {
	if db.r == nil {
		return nil, fmt.Errorf("history: %w", errNotOpen)
	}
	query, args, err := historyQuery(f)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	var out []HistoryRow
	for rows.Next() {
		var r HistoryRow
		var at string
		var waitMS int64
		if err := rows.Scan(&r.ID, &at, &r.Event, &r.Lot, &r.Slot, &r.Call, &r.Caller.Number, &r.Caller.Name,
			&r.Parker, &r.Retriever, &r.Reason, &waitMS); err != nil {
			return nil, fmt.Errorf("history: %w", err)
		}
		if r.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("history row %d: %w", r.ID, err)
		}
		r.Wait = time.Duration(waitMS) * time.Millisecond
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return out, nil
}

// historyQuery builds the SELECT for f.
func historyQuery(f HistoryFilter) (string, []any, error) {
	var where []string
	var args []any
	add := func(cond string, arg any) {
		where = append(where, cond)
		args = append(args, arg)
	}
	switch {
	case f.Event != "" && !f.Event.Valid():
		return "", nil, fmt.Errorf("%w: unknown event %q", ErrInvalid, f.Event)
	case f.Slot < 0:
		return "", nil, fmt.Errorf("%w: slot %d", ErrInvalid, f.Slot)
	case f.Limit < 0:
		return "", nil, fmt.Errorf("%w: limit %d", ErrInvalid, f.Limit)
	}
	if f.Lot != "" {
		add("lot = ?", f.Lot)
	}
	if f.Slot != 0 {
		add("slot = ?", f.Slot)
	}
	if f.Call != "" {
		add("call_uuid = ?", string(f.Call))
	}
	if !f.Since.IsZero() {
		add("at >= ?", formatTime(f.Since))
	}
	if !f.Until.IsZero() {
		add("at < ?", formatTime(f.Until))
	}
	if f.Event != "" {
		add("event = ?", string(f.Event))
	}

	var b strings.Builder
	b.WriteString(`SELECT id, at, event, lot, slot, call_uuid, caller_number, caller_name, parker, retriever, reason, wait_ms FROM history`)
	if len(where) > 0 {
		b.WriteString(" WHERE ")
		b.WriteString(strings.Join(where, " AND "))
	}
	b.WriteString(" ORDER BY id")
	if f.Limit > 0 {
		b.WriteString(" LIMIT ?")
		args = append(args, f.Limit)
	}
	return b.String(), args, nil
}
