package store

import (
	"time"

	"github.com/parkd/parkd/parking"
)

// OnCommit registers f to be told the history rows of every write, after
// the write committed: in ID order, as History would return them (UTC
// times at millisecond precision, whole-millisecond waits). The board's
// live events, the metrics and the webhooks' wake-ups hang off it.
//
// f runs on the writer's goroutine, between one commit and the next
// transaction, so it must not block or call back into db: hand the rows to
// a channel or a buffer and return. Register every f before Open; the list
// is not guarded.
func (db *DB) OnCommit(f func([]HistoryRow)) {
	db.committed = append(db.committed, f)
}

// tellCommitted passes rows to the OnCommit functions.
func (db *DB) tellCommitted(rows []HistoryRow) {
	if len(rows) == 0 {
		return
	}
	if db.Node != "" {
		for i := range rows {
			if rows[i].Node == "" {
				rows[i].Node = db.Node // what the node column defaulted to
			}
		}
	}
	for _, f := range db.committed {
		f(rows)
	}
}

// rowOf is the history row t was written as, with its ID.
func rowOf(id int64, t parking.Transition) HistoryRow {
	return HistoryRow{
		ID:        id,
		At:        t.At.UTC().Truncate(time.Millisecond),
		Event:     t.Event,
		Lot:       t.Lot,
		Domain:    t.Domain,
		Slot:      t.Slot,
		Call:      t.Call,
		Caller:    t.Caller,
		Parker:    t.Parker,
		Retriever: t.Retriever,
		Reason:    t.Reason,
		Wait:      t.Wait.Truncate(time.Millisecond),
	}
}
