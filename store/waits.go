package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/parkd/parkd/parking"
)

// WaitBucket counts the sessions whose wait fell in [Min, Max); Max is 0
// for the last bucket, which has no upper bound.
type WaitBucket struct {
	Min, Max  time.Duration
	PickedUp  int // retrieved or recalled after waiting this long
	Abandoned int // the caller hung up after waiting this long
}

// sqlWaits reads the outcome and wait of the sessions parked in a window
// through the covering index the report uses.
const sqlWaits = `SELECT outcome, wait_ms FROM sessions %s
	WHERE parked_at >= ?1 AND parked_at < ?2 AND wait_ms IS NOT NULL
	AND outcome IN ('retrieved', 'recalled', 'abandoned')
	AND %s`

// waitsQuery is sqlWaits in e's dialect.
func (e *engine) waitsQuery() string {
	indexed := "INDEXED BY sessions_parked_at"
	if e.driver == Postgres {
		indexed = "" // the planner's choice
	}
	return fmt.Sprintf(sqlWaits, indexed, e.domainsOrAll("?3"))
}

// WaitBuckets is the wait distribution of the sessions parked in
// [from, to), as Report selects them: how many callers were picked up, and
// how many hung up, after waits in each bucket. bounds are the buckets'
// upper limits, ascending and positive; the answer has len(bounds)+1
// buckets, the last one open-ended. domains, if not nil, counts only the
// sessions of lots of these domains, as ReportQuery.Domains does. A
// reversed window or bad bounds fail with ErrInvalid.
func (db *DB) WaitBuckets(ctx context.Context, from, to time.Time, domains []string, bounds []time.Duration) (_ []WaitBucket, rerr error) {
	defer db.damaged(&rerr)
	switch {
	case !validTime(from) || !validTime(to):
		return nil, fmt.Errorf("wait buckets: %w: window %v to %v", ErrInvalid, from, to)
	case !from.Before(to):
		return nil, fmt.Errorf("wait buckets: %w: window ends (%v) before it starts (%v)", ErrInvalid, to, from)
	case len(bounds) == 0 || bounds[0] <= 0 || !slices.IsSorted(bounds) || len(slices.Compact(slices.Clone(bounds))) != len(bounds):
		return nil, fmt.Errorf("wait buckets: %w: bounds %v: want positive, ascending, distinct", ErrInvalid, bounds)
	}
	if db.r == nil {
		return nil, fmt.Errorf("wait buckets: %w", errNotOpen)
	}
	out := make([]WaitBucket, len(bounds)+1)
	for i := range out {
		if i > 0 {
			out[i].Min = bounds[i-1]
		}
		if i < len(bounds) {
			out[i].Max = bounds[i]
		}
	}
	var ds any // NULL: every domain
	if domains != nil {
		ds = domainsJSON(domains)
	}
	rows, err := db.r.QueryContext(ctx, db.eng.waitsQuery(), formatTime(from), formatTime(to), ds)
	if err != nil {
		return nil, fmt.Errorf("wait buckets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var outcome string
		var ms int64
		if err := rows.Scan(&outcome, &ms); err != nil {
			return nil, fmt.Errorf("wait buckets: %w", err)
		}
		wait := time.Duration(ms) * time.Millisecond
		i, found := slices.BinarySearch(bounds, wait)
		if found {
			i++ // a wait equal to a bound starts the next bucket
		}
		if parking.Event(outcome) == parking.EventAbandoned {
			out[i].Abandoned++
		} else {
			out[i].PickedUp++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("wait buckets: %w", err)
	}
	return out, nil
}
