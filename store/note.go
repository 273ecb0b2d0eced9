package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parkd/parkd/parking"
)

// MaxNoteLen is the longest note, in characters.
const MaxNoteLen = 500

// Note is a line of text attached to a parked call: who the caller is, what
// they need. Notes live in their own table, never in the append-only
// history; they carry the call's slot, caller and parker as they were when
// the note was written.
type Note struct {
	ID     int64
	At     time.Time // UTC, millisecond precision
	Call   parking.CallID
	Lot    string
	Domain string // the lot's domain; "" for none
	Slot   int
	Caller parking.Caller
	Parker string
	Text   string
}

// CleanNote trims text and checks it is a valid note: 1 to MaxNoteLen
// characters of UTF-8 with no control characters (line breaks and tabs
// included). It returns the trimmed text or an error wrapping ErrInvalid.
func CleanNote(text string) (string, error) {
	text = strings.TrimSpace(text)
	switch n := utf8.RuneCountInString(text); {
	case !utf8.ValidString(text):
		return "", fmt.Errorf("%w: note is not valid UTF-8", ErrInvalid)
	case n == 0:
		return "", fmt.Errorf("%w: note is empty", ErrInvalid)
	case n > MaxNoteLen:
		return "", fmt.Errorf("%w: note has %d characters, at most %d allowed", ErrInvalid, n, MaxNoteLen)
	case strings.ContainsFunc(text, unicode.IsControl):
		return "", fmt.Errorf("%w: note contains a control character (line break, tab, ...)", ErrInvalid)
	}
	return text, nil
}

// AddNote attaches text (see CleanNote) to the call parked in lot/slot of
// domain ("" for a lot without one), at
// time at, and returns the stored note. The slot is looked up and the note
// written in one write transaction, so the note names the call that held the
// slot at that moment. If the slot is empty it fails with an error wrapping
// parking.ErrSlotEmpty ("slot main/202 is empty").
//
// It is safe to call from another process while the daemon runs: SQLite
// serialises the two writers (WAL, busy timeout), PostgreSQL locks the
// slot's row, and the note never touches the history or the occupancy.
func (db *DB) AddNote(ctx context.Context, domain, lot string, slot int, text string, at time.Time) (_ Note, rerr error) {
	defer db.damaged(&rerr)
	text, err := CleanNote(text)
	if err != nil {
		return Note{}, fmt.Errorf("note: %w", err)
	}
	if !validTime(at) {
		return Note{}, fmt.Errorf("note: %w: time %v", ErrInvalid, at)
	}
	if err := db.writable(); err != nil {
		return Note{}, fmt.Errorf("note: %w", err)
	}
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return Note{}, fmt.Errorf("note: begin: %w", err)
	}
	defer tx.Rollback()

	n := Note{At: at.UTC().Truncate(time.Millisecond), Lot: lot, Domain: domain, Slot: slot, Text: text}
	// On PostgreSQL the row is locked to the commit, so that another
	// process cannot free the slot between the look-up and the note.
	err = tx.QueryRowContext(ctx, `SELECT call_uuid, caller_number, caller_name, parker FROM occupancy WHERE domain = ? AND lot = ? AND slot = ?`+db.eng.forShare(),
		domain, lot, slot).Scan(&n.Call, &n.Caller.Number, &n.Caller.Name, &n.Parker)
	if errors.Is(err, sql.ErrNoRows) {
		if domain != "" {
			lot += "@" + domain
		}
		return Note{}, fmt.Errorf("slot %s/%d is empty: %w", lot, slot, parking.ErrSlotEmpty)
	}
	if err != nil {
		return Note{}, fmt.Errorf("note: find slot %s/%d: %w", lot, slot, err)
	}
	var session sql.NullInt64
	err = tx.QueryRowContext(ctx, sqlOpenSession, string(n.Call)).Scan(&session)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Note{}, fmt.Errorf("note: find session: %w", err)
	}
	n.ID, err = db.eng.insertID(ctx, tx, `INSERT INTO notes (at, session_id, call_uuid, lot, slot, caller_number, caller_name, parker, text, domain)
	VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		formatTime(n.At), session, string(n.Call), n.Lot, slot, n.Caller.Number, n.Caller.Name, n.Parker, text, domain)
	if err != nil {
		return Note{}, fmt.Errorf("note: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Note{}, fmt.Errorf("note: commit: %w", err)
	}
	db.tellNoted(n)
	return n, nil
}

// Notes returns the notes f selects, ordered by time of writing. Lot, Domains, Slot,
// Call, Parker, Caller, Since, Until, Limit and Newest filter as they do for
// History; Event is ignored (notes are no history event).
func (db *DB) Notes(ctx context.Context, f HistoryFilter) (_ []Note, rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return nil, fmt.Errorf("notes: %w", errNotOpen)
	}
	f.Event = ""
	where, args, err := f.where(db.eng)
	if err != nil {
		return nil, fmt.Errorf("notes: %w", err)
	}
	query := `SELECT id, at, call_uuid, lot, slot, caller_number, caller_name, parker, text, domain FROM notes` + where
	query, args = orderLimit(query, args, f)
	rows, err := db.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("notes: %w", err)
	}
	defer rows.Close()
	var out []Note
	for rows.Next() {
		var n Note
		var at string
		if err := rows.Scan(&n.ID, &at, &n.Call, &n.Lot, &n.Slot, &n.Caller.Number, &n.Caller.Name, &n.Parker, &n.Text, &n.Domain); err != nil {
			return nil, fmt.Errorf("notes: %w", err)
		}
		if n.At, err = parseTime(at); err != nil {
			return nil, fmt.Errorf("note %d: %w", n.ID, err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("notes: %w", err)
	}
	return out, nil
}
