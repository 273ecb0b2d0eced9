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
	Lot string
	// Domains, if not nil, selects the rows of lots of these domains only
	// ("" for lots without a domain); an empty, non-nil list selects none.
	Domains []string
	Slot    int // 0: any slot
	Call    parking.CallID
	Since   time.Time // rows at or after Since
	Until   time.Time // rows before Until
	Event   parking.Event
	Limit   int // at most this many rows, the oldest first; 0: no limit

	// Parker selects the rows of calls parked by this party (exact match).
	Parker string
	// Caller selects the rows whose caller number or name contains this
	// text, ignoring ASCII case. Every character matches itself: % and _
	// are not wildcards.
	Caller string
	// Newest makes Limit keep the most recent rows instead of the oldest.
	// They are still returned oldest first.
	Newest bool
	// AfterID selects the rows recorded after the row with this ID (a
	// live-events client resuming from its Last-Event-ID); 0: no bound.
	AfterID int64
}

// HistoryRow is one stored transition. Its fields are those of
// parking.Transition that the history keeps, plus the row's ID, which
// increases with every row appended.
//
// MarshalJSON renders a row as one flat object with these keys, in this
// order: at, event, lot, domain, slot, call, caller_number, caller_name,
// parker, retriever, reason, wait_ms; domain only when it is not "" (a
// single-tenant parkd's rows keep their shape). "at" uses the stored text form
// (2006-01-02T15:04:05.000Z, UTC) and wait_ms is an integer; ID is not
// included.
type HistoryRow struct {
	ID        int64
	At        time.Time // UTC, millisecond precision
	Event     parking.Event
	Lot       string
	Domain    string // the lot's domain; "" for none
	Slot      int
	Call      parking.CallID
	Caller    parking.Caller
	Parker    string
	Retriever string
	Reason    string
	Wait      time.Duration // whole milliseconds
	// Node is the FreeSWITCH node the call was on, when lots are shared by
	// several (nodes.go); "" otherwise. Rows read back from the store
	// carry it; a row handed to OnCommit carries it only when it was
	// written by a node's parkd.
	Node string
}

// historyJSON is HistoryRow's JSON form; see HistoryRow.
type historyJSON struct {
	At           string        `json:"at"`
	Event        parking.Event `json:"event"`
	Lot          string        `json:"lot"`
	Domain       string        `json:"domain,omitempty"`
	Slot         int           `json:"slot"`
	Call         string        `json:"call"`
	CallerNumber string        `json:"caller_number"`
	CallerName   string        `json:"caller_name"`
	Parker       string        `json:"parker"`
	Retriever    string        `json:"retriever"`
	Reason       string        `json:"reason"`
	WaitMS       int64         `json:"wait_ms"`
	Node         string        `json:"node,omitempty"`
}

// MarshalJSON implements json.Marshaler; see HistoryRow for the shape.
func (r HistoryRow) MarshalJSON() ([]byte, error) {
	return json.Marshal(historyJSON{
		At:           formatTime(r.At),
		Event:        r.Event,
		Lot:          r.Lot,
		Domain:       r.Domain,
		Slot:         r.Slot,
		Call:         string(r.Call),
		CallerNumber: r.Caller.Number,
		CallerName:   r.Caller.Name,
		Parker:       r.Parker,
		Retriever:    r.Retriever,
		Reason:       r.Reason,
		WaitMS:       r.Wait.Milliseconds(),
		Node:         r.Node,
	})
}

// History returns the history rows f selects, ordered by ID (the order they
// were recorded). Since and Until compare at millisecond precision. An
// unknown f.Event or a negative f.Limit or f.Slot fails with ErrInvalid.
func (db *DB) History(ctx context.Context, f HistoryFilter) ([]HistoryRow, error) {
	var out []HistoryRow
	err := db.EachHistory(ctx, f, func(r HistoryRow) error {
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// EachHistory calls fn for each history row f selects, in the order History
// returns them, without holding them all in memory (for exports). It stops
// at fn's first error and returns it.
func (db *DB) EachHistory(ctx context.Context, f HistoryFilter, fn func(HistoryRow) error) (rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return fmt.Errorf("history: %w", errNotOpen)
	}
	query, args, err := historyQuery(f, db.eng)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return fmt.Errorf("history: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var r HistoryRow
		var at string
		var waitMS int64
		if err := rows.Scan(&r.ID, &at, &r.Event, &r.Lot, &r.Slot, &r.Call, &r.Caller.Number, &r.Caller.Name,
			&r.Parker, &r.Retriever, &r.Reason, &waitMS, &r.Domain, &r.Node); err != nil {
			return fmt.Errorf("history: %w", err)
		}
		if r.At, err = parseTime(at); err != nil {
			return fmt.Errorf("history row %d: %w", r.ID, err)
		}
		r.Wait = time.Duration(waitMS) * time.Millisecond
		if err := fn(r); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	return nil
}

// historyQuery builds the SELECT for f.
func historyQuery(f HistoryFilter, eng *engine) (string, []any, error) {
	if f.Event != "" && !f.Event.Valid() {
		return "", nil, fmt.Errorf("%w: unknown event %q", ErrInvalid, f.Event)
	}
	where, args, err := f.where(eng)
	if err != nil {
		return "", nil, err
	}
	query := `SELECT id, at, event, lot, slot, call_uuid, caller_number, caller_name, parker, retriever, reason, wait_ms, domain, node FROM history` + where
	query, args = orderLimit(query, args, f)
	return query, args, nil
}

// where returns the WHERE clause (with a leading space, or "") and its
// arguments for f, over a table with the history's column names, in eng's
// dialect. User input only ever reaches the query as an argument.
func (f HistoryFilter) where(eng *engine) (string, []any, error) {
	switch {
	case f.Slot < 0:
		return "", nil, fmt.Errorf("%w: slot %d", ErrInvalid, f.Slot)
	case f.Limit < 0:
		return "", nil, fmt.Errorf("%w: limit %d", ErrInvalid, f.Limit)
	case f.AfterID < 0:
		return "", nil, fmt.Errorf("%w: after id %d", ErrInvalid, f.AfterID)
	}
	var where []string
	var args []any
	add := func(cond string, a ...any) {
		where = append(where, cond)
		for _, v := range a {
			if s, ok := v.(string); ok {
				v = eng.text(s) // what a text the engine changed was stored as
			}
			args = append(args, v)
		}
	}
	if f.Lot != "" {
		add("lot = ?", f.Lot)
	}
	if f.Domains != nil {
		add(eng.domainIn("?"), domainsJSON(f.Domains))
	}
	if f.Slot != 0 {
		add("slot = ?", f.Slot)
	}
	if f.Call != "" {
		add("call_uuid = ?", string(f.Call))
	}
	if f.Parker != "" {
		add("parker = ?", f.Parker)
	}
	if f.Caller != "" {
		pat := "%" + escapeLike(f.Caller) + "%"
		like := eng.likeCaseless()
		add(`(caller_number `+like+` ? ESCAPE '\' OR caller_name `+like+` ? ESCAPE '\')`, pat, pat)
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
	if f.AfterID != 0 {
		add("id > ?", f.AfterID)
	}
	if len(where) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(where, " AND "), args, nil
}

// domainsJSON is ds as a JSON array of strings, one query argument for
// json_each however many domains there are.
func domainsJSON(ds []string) string {
	if ds == nil {
		ds = []string{}
	}
	b, _ := json.Marshal(ds) // strings always marshal
	return string(b)
}

// escapeLike escapes LIKE's wildcards in s, for ESCAPE '\'.
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// orderLimit appends ORDER BY id and f's limit to query: the oldest
// f.Limit rows, or with f.Newest the most recent ones, still oldest first.
func orderLimit(query string, args []any, f HistoryFilter) (string, []any) {
	switch {
	case f.Limit > 0 && f.Newest:
		return "SELECT * FROM (" + query + " ORDER BY id DESC LIMIT ?) AS newest ORDER BY id", append(args, f.Limit)
	case f.Limit > 0:
		return query + " ORDER BY id LIMIT ?", append(args, f.Limit)
	}
	return query + " ORDER BY id", args
}
