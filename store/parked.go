package store

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/parkd/parkd/parking"
)

// ParkedCall is an occupied slot as the slots command shows it: the
// occupant (with its next recall deadline and recall attempts so far) and
// the latest note of its park session.
type ParkedCall struct {
	parking.Occupant
	Note string // "" if none
	// Node is the FreeSWITCH node holding the call when lots are shared
	// by several (nodes.go); "" otherwise.
	Node string
}

// Parked returns every occupied slot ordered by domain, lot and slot, like Occupied,
// with the latest note written for each call since it was parked.
func (db *DB) Parked(ctx context.Context) (_ []ParkedCall, rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return nil, fmt.Errorf("parked: %w", errNotOpen)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT `+occupantColumns+`,
	(SELECT n.text FROM notes n
		WHERE n.call_uuid = o.call_uuid
		AND n.session_id IS NOT DISTINCT FROM (SELECT s.id FROM sessions s WHERE s.call_uuid = o.call_uuid AND s.ended_id IS NULL ORDER BY s.id DESC LIMIT 1)
		ORDER BY n.id DESC LIMIT 1), o.node
	FROM occupancy o ORDER BY o.domain, o.lot, o.slot`)
	if err != nil {
		return nil, fmt.Errorf("parked: %w", err)
	}
	defer rows.Close()
	var out []ParkedCall
	for rows.Next() {
		var p ParkedCall
		var note sql.NullString
		if p.Occupant, err = scanOccupant(rows, &note, &p.Node); err != nil {
			return nil, fmt.Errorf("parked: %w", err)
		}
		p.Note = note.String
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("parked: %w", err)
	}
	return out, nil
}
