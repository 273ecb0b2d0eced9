package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"time"

	"github.com/parkd/parkd/parking"
)

// ReportBy names how Report groups park sessions.
type ReportBy string

// The groupings Report knows.
const (
	ByLot       ReportBy = "lot"       // the lot the call was parked in
	ByParker    ReportBy = "parker"    // who parked it ("" when unknown)
	ByRetriever ReportBy = "retriever" // who picked it up ("" when nobody did)
	ByHour      ReportBy = "hour"      // hour of day it was parked, "00" to "23", in the query's Location
	ByDay       ReportBy = "day"       // date it was parked, "2006-01-02", in the query's Location
)

// Valid reports whether b is one of the known groupings.
func (b ReportBy) Valid() bool {
	switch b {
	case ByLot, ByParker, ByRetriever, ByHour, ByDay:
		return true
	}
	return false
}

// ReportQuery selects and groups the sessions a report covers.
type ReportQuery struct {
	// From and To bound the report: a session belongs to it if the call was
	// parked at or after From and before To, whenever it ended. Both are
	// required.
	From, To time.Time
	// By groups the sessions; "" means ByLot.
	By ReportBy
	// Location is where ByHour and ByDay read the clock; nil means UTC.
	Location *time.Location
}

// ReportRow holds the figures of one group of sessions. Waits are those of
// the picked-up sessions (retrieved or recalled): from parked to the pickup.
type ReportRow struct {
	Group string

	Parked    int // sessions parked in the window
	Retrieved int // picked up with the retrieve code
	Recalled  int // the parker answered a recall
	Fallback  int // sent to the lot's fallback destination
	Abandoned int // the caller hung up
	Lost      int // vanished while parkd was not watching
	Open      int // still parked when the report was made

	// BeforeRecall counts the sessions retrieved before their first recall.
	BeforeRecall int
	// RecallAttempts sums the recall attempts of the recalled sessions.
	RecallAttempts int

	// WaitMedian, WaitP90 and WaitMax are nearest-rank percentiles (see
	// Percentile) of the pickup waits; all zero when PickedUp() is 0.
	WaitMedian, WaitP90, WaitMax time.Duration
}

// PickedUp is the number of sessions retrieved or recalled: the number of
// waits the percentiles are taken over.
func (r ReportRow) PickedUp() int { return r.Retrieved + r.Recalled }

// AbandonRate is Abandoned/Parked, or 0 for an empty row.
func (r ReportRow) AbandonRate() float64 { return ratio(r.Abandoned, r.Parked) }

// BeforeRecallShare is BeforeRecall/Parked: the share of parked calls picked
// up before their first recall. Calls still parked count as not picked up.
func (r ReportRow) BeforeRecallShare() float64 { return ratio(r.BeforeRecall, r.Parked) }

// AttemptsPerRecalled is RecallAttempts/Recalled; ok is false when no
// session was recalled.
func (r ReportRow) AttemptsPerRecalled() (v float64, ok bool) {
	if r.Recalled == 0 {
		return 0, false
	}
	return ratio(r.RecallAttempts, r.Recalled), true
}

func ratio(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// Report is the result of (*DB).Report: one row per group, ordered by
// group, and the row of all sessions together.
type Report struct {
	Query  ReportQuery
	Groups []ReportRow
	Total  ReportRow // Group is ""
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order: the value at 1-based rank
// ceil(p/100 * n). So the median (p=50) of an even count is the lower of the
// two middle values, and p=100 is the maximum. It returns 0 for no values.
func Percentile(sorted []time.Duration, p int) time.Duration {
	n := len(sorted)
	if n == 0 || p <= 0 {
		return 0
	}
	return sorted[rankIndex(n, p)]
}

// rankIndex is the 0-based index of the nearest-rank p-th percentile
// (0 < p) of n > 0 sorted values.
func rankIndex(n, p int) int {
	rank := (p*n + 99) / 100 // ceil(p*n/100) in integers
	return min(rank, n) - 1
}

// waitPercentiles returns what Percentile would return for p = 50, 90 and
// 100 of ws sorted, but finds them by selection, in linear time on
// average, instead of sorting ws. It reorders ws.
func waitPercentiles(ws []time.Duration) (median, p90, maxW time.Duration) {
	n := len(ws)
	if n == 0 {
		return 0, 0, 0
	}
	i50, i90 := rankIndex(n, 50), rankIndex(n, 90)
	budget := 2 * bits.Len(uint(n))
	selectNth(ws, i90, budget)
	// Now ws[:i90] holds the values ranked below the 90th percentile, so
	// the median (i50 <= i90) is among them or is ws[i90] itself, and the
	// maximum is in ws[i90:].
	if i50 < i90 {
		selectNth(ws[:i90], i50, budget)
	}
	return ws[i50], ws[i90], slices.Max(ws[i90:])
}

// selectNth reorders s so that s[k] is the value sorting s would put
// there, with no greater value before it and no smaller one after it
// (Hoare's selection, with a median-of-three pivot). After budget
// partitions it sorts what is left instead, so pivots that keep splitting
// badly cost O(n log n) at worst.
func selectNth(s []time.Duration, k, budget int) {
	lo, hi := 0, len(s)-1 // s[k] lies in s[lo:hi+1]
	for ; lo < hi; budget-- {
		if budget == 0 || hi-lo < 12 {
			slices.Sort(s[lo : hi+1])
			return
		}
		a, b, c := s[lo], s[lo+(hi-lo)/2], s[hi]
		pivot := max(min(a, b), min(max(a, b), c)) // median of a, b and c
		i, j := lo, hi
		for i <= j {
			for s[i] < pivot {
				i++
			}
			for s[j] > pivot {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		// s[lo:j+1] <= pivot, s[i:hi+1] >= pivot, and anything between
		// equals the pivot and is in place.
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return
		}
	}
}

// Report computes the figures of the sessions parked in [q.From, q.To),
// grouped by q.By. It reads the sessions table through its covering
// parked_at index: one range scan per UTC offset of q.Location in the window
// (one for lot, parker and retriever; usually one or two for hour and day). A missing or reversed window, or an
// unknown grouping, fails with ErrInvalid.
func (db *DB) Report(ctx context.Context, q ReportQuery) (Report, error) {
	if q.By == "" {
		q.By = ByLot
	}
	if q.Location == nil {
		q.Location = time.UTC
	}
	switch {
	case !q.By.Valid():
		return Report{}, fmt.Errorf("report: %w: unknown grouping %q", ErrInvalid, q.By)
	case !validTime(q.From) || !validTime(q.To):
		return Report{}, fmt.Errorf("report: %w: window %v to %v", ErrInvalid, q.From, q.To)
	case !q.From.Before(q.To):
		return Report{}, fmt.Errorf("report: %w: window ends (%v) before it starts (%v)", ErrInvalid, q.To, q.From)
	}
	if db.r == nil {
		return Report{}, fmt.Errorf("report: %w", errNotOpen)
	}
	acc := map[string]*groupAcc{}
	total := &groupAcc{}
	for _, seg := range segments(q) {
		if err := db.aggregate(ctx, q.By, seg, acc, total); err != nil {
			return Report{}, fmt.Errorf("report: %w", err)
		}
	}

	out := Report{Query: q, Total: total.row("")}
	for key, g := range acc {
		out.Groups = append(out.Groups, g.row(key))
	}
	slices.SortFunc(out.Groups, func(a, b ReportRow) int {
		switch {
		case a.Group < b.Group:
			return -1
		case a.Group > b.Group:
			return 1
		}
		return 0
	})
	return out, nil
}

// segment is a part of a report window in which the report's zone keeps
// one UTC offset.
type segment struct {
	from, to time.Time
	offset   int // seconds east of UTC
}

// segments splits q's window where q.Location changes its UTC offset
// (daylight saving time), so that each part can be grouped by hour or day
// with a fixed offset. Groupings that ignore the clock get one segment.
func segments(q ReportQuery) []segment {
	if q.By != ByHour && q.By != ByDay {
		return []segment{{from: q.From, to: q.To}}
	}
	var out []segment
	for t := q.From; t.Before(q.To); {
		lt := t.In(q.Location)
		_, off := lt.Zone()
		_, end := lt.ZoneBounds()
		if end.IsZero() || !end.Before(q.To) || !end.After(t) {
			end = q.To
		}
		out = append(out, segment{from: t, to: end, offset: off})
		t = end
	}
	return out
}

// Report aggregation queries, one per grouping. SQLite counts the sessions
// per group, outcome and "no recall yet", and collects their waits
// (group_concat of the integers), in one range scan of the covering index
// sessions_parked_at; only a few rows per group cross into Go. For hour and
// day the group is the local clock, computed with the segment's fixed UTC
// offset (the ?3 modifier, such as "+3600 seconds").
const sqlReportTail = `outcome, recall_attempts = 0, COUNT(*), SUM(recall_attempts), COALESCE(group_concat(wait_ms), '')
	FROM sessions INDEXED BY sessions_parked_at
	WHERE parked_at >= ?1 AND parked_at < ?2
	GROUP BY 1, 2, 3`

func reportQuery(by ReportBy) string {
	switch by {
	case ByParker:
		return `SELECT parker, ` + sqlReportTail
	case ByRetriever:
		return `SELECT retriever, ` + sqlReportTail
	case ByHour:
		return `SELECT strftime('%H', parked_at, ?3), ` + sqlReportTail
	case ByDay:
		return `SELECT strftime('%Y-%m-%d', parked_at, ?3), ` + sqlReportTail
	}
	return `SELECT lot, ` + sqlReportTail
}

// aggregate adds the sessions of seg, grouped by by, to acc and total.
func (db *DB) aggregate(ctx context.Context, by ReportBy, seg segment, acc map[string]*groupAcc, total *groupAcc) error {
	args := []any{formatTime(seg.from), formatTime(seg.to)}
	if by == ByHour || by == ByDay {
		args = append(args, fmt.Sprintf("%+d seconds", seg.offset))
	}
	rows, err := db.r.QueryContext(ctx, reportQuery(by), args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var key string
		var outcome sql.NullString
		var first bool
		var n, attempts int
		var waits []byte
		if err := rows.Scan(&key, &outcome, &first, &n, &attempts, &waits); err != nil {
			return err
		}
		var r ReportRow
		var ws []time.Duration
		r.Parked = n
		switch parking.Event(outcome.String) {
		case parking.EventRetrieved:
			r.Retrieved = n
			if first {
				r.BeforeRecall = n
			}
		case parking.EventRecalled:
			r.Recalled, r.RecallAttempts = n, attempts
		case parking.EventFallback:
			r.Fallback = n
		case parking.EventAbandoned:
			r.Abandoned = n
		case parking.EventLost:
			r.Lost = n
		default:
			r.Open = n
		}
		if r.Retrieved > 0 || r.Recalled > 0 {
			if ws, err = parseWaits(waits); err != nil {
				return fmt.Errorf("group %q: %w", key, err)
			}
		}
		g := acc[key]
		if g == nil {
			g = &groupAcc{}
			acc[key] = g
		}
		g.add(r, ws)
		total.add(r, ws)
	}
	return rows.Err()
}

// parseWaits parses group_concat's comma-separated milliseconds.
func parseWaits(b []byte) ([]time.Duration, error) {
	if len(b) == 0 {
		return nil, nil
	}
	out := make([]time.Duration, 0, bytes.Count(b, []byte{','})+1)
	for f := range bytes.SplitSeq(b, []byte{','}) {
		n, err := strconv.ParseInt(string(f), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("wait %q: %w", f, err)
		}
		out = append(out, time.Duration(n)*time.Millisecond)
	}
	return out, nil
}

// groupAcc accumulates one group's figures.
type groupAcc struct {
	r     ReportRow
	waits []time.Duration
}

// add adds the counts of r and the waits ws.
func (g *groupAcc) add(r ReportRow, ws []time.Duration) {
	g.r.Parked += r.Parked
	g.r.Retrieved += r.Retrieved
	g.r.Recalled += r.Recalled
	g.r.Fallback += r.Fallback
	g.r.Abandoned += r.Abandoned
	g.r.Lost += r.Lost
	g.r.Open += r.Open
	g.r.BeforeRecall += r.BeforeRecall
	g.r.RecallAttempts += r.RecallAttempts
	g.waits = append(g.waits, ws...)
}

// row finishes the group: it takes the percentiles of the waits, which it
// reorders.
func (g *groupAcc) row(key string) ReportRow {
	r := g.r
	r.Group = key
	r.WaitMedian, r.WaitP90, r.WaitMax = waitPercentiles(g.waits)
	return r
}
