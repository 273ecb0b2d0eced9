package store

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/stdlib"

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
	ByDomain    ReportBy = "domain"    // the lot's domain ("" for lots without one)
	ByNode      ReportBy = "node"      // the FreeSWITCH node the call was on ("" without nodes)
)

// Valid reports whether b is one of the known groupings.
func (b ReportBy) Valid() bool {
	switch b {
	case ByLot, ByParker, ByRetriever, ByHour, ByDay, ByDomain, ByNode:
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
	// Domains, if not nil, counts only the sessions of lots of these
	// domains ("" for lots without one); nil counts every domain's.
	Domains []string
}

// ReportRow holds the figures of one group of sessions. Waits are those of
// the picked-up sessions (retrieved or recalled): from parked to the pickup.
type ReportRow struct {
	Group string

	Parked    int // sessions parked in the window
	Retrieved int // picked up with the retrieve code
	Recalled  int // the parker answered a recall
	Fallback  int // sent to the lot's fallback destination
	Abandoned int // the caller hung up, or a person hung up on them from the board (hungup)
	Lost      int // vanished while parkd was not watching
	Open      int // still parked when the report was made

	// BeforeRecall counts the sessions retrieved before their first recall.
	BeforeRecall int
	// RecallAttempts sums the recall attempts of the recalled sessions.
	RecallAttempts int

	// WaitMedian, WaitP90 and WaitMax are nearest-rank percentiles (see
	// rankIndex) of the pickup waits; all zero when PickedUp() is 0.
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
	// Outside counts the window's wrong PINs and lockouts of outside
	// pick-up per lot (of Query.Domains), whatever the grouping: they
	// belong to no park session.
	Outside []PINRow
}

// rankIndex is the 0-based index of the nearest-rank p-th percentile
// (0 < p <= 100) of n > 0 values in ascending order: the value at 1-based
// rank ceil(p/100 * n). So the median (p=50) of an even count is the lower
// of the two middle values, and p=100 is the maximum.
func rankIndex(n, p int) int {
	rank := (p*n + 99) / 100 // ceil(p*n/100) in integers
	return min(rank, n) - 1
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// sorted, which must be in ascending order, at the rank rankIndex gives;
// 0 for no values. It is parkd's one definition of a percentile: the
// report's selection-based figures are tested against it, and the bench
// reports its latencies with it.
func Percentile(sorted []time.Duration, p int) time.Duration {
	n := len(sorted)
	if n == 0 || p <= 0 {
		return 0
	}
	return sorted[rankIndex(n, p)]
}

// waitPercentiles returns the nearest-rank percentiles p = 50, 90 and 100
// of ws (all zero for no waits), found by selection, in linear time on
// average, instead of by sorting ws. It reorders ws.
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
// (one for lot, parker and retriever; usually one or two for hour and day).
// Each scan hands its sessions over in one row, as JSON arrays (see
// sqlReport); Go groups them, computing the local hour or day itself, and
// finds the percentiles of each group's waits by selection. A missing or
// reversed window, or an unknown grouping, fails with ErrInvalid.
func (db *DB) Report(ctx context.Context, q ReportQuery) (_ Report, rerr error) {
	defer db.damaged(&rerr)
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
	for _, seg := range segments(q) {
		if err := db.aggregate(ctx, q, seg, acc); err != nil {
			return Report{}, fmt.Errorf("report: %w", err)
		}
	}

	out := Report{Query: q}
	total := &groupAcc{}
	for key, g := range acc {
		total.merge(g)
		out.Groups = append(out.Groups, g.row(key))
	}
	out.Total = total.row("")
	slices.SortFunc(out.Groups, func(a, b ReportRow) int { return strings.Compare(a.Group, b.Group) })
	pins, err := db.pinRows(ctx, q.From, q.To, q.Domains)
	if err != nil {
		return Report{}, fmt.Errorf("report: outside pick-up: %w", err)
	}
	out.Outside = pins
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

// sqlReport hands a segment's sessions to Go in one row, read in one range
// scan of the covering index sessions_parked_at: four JSON arrays, one
// element per session, of the grouping column (reportQuery fills in %s),
// the outcome, the recall attempts and the wait. json_group_array keeps NULLs, so the arrays
// line up, and escapes any text, so a lot or a parker can hold anything.
// There is no GROUP BY on purpose: SQLite groups by sorting every session
// into a temp B-tree, which was two thirds of the time of a year's report
// by lot; Go groups them in a map instead. A 'replaced' session is the
// stay of an attended transfer's consult call, not a parked call: it is
// left out (the caller it handed its slot to has a session of its own).
const sqlReport = `SELECT json_group_array(%s), json_group_array(outcome),
	json_group_array(recall_attempts), json_group_array(wait_ms)
	FROM sessions INDEXED BY sessions_parked_at
	WHERE parked_at >= ?1 AND parked_at < ?2 AND outcome IS NOT 'replaced'
	AND (?3 IS NULL OR domain IN (SELECT value FROM json_each(?3)))`

// reportQuery returns the query of sqlReport for grouping by. Hour and
// day read parked_at and compute the local clock in Go (see clockGroups).
func (e *engine) reportQuery(by ReportBy) string {
	return fmt.Sprintf(sqlReport, reportColumn(by))
}

// reportColumn is the column a report groups by.
func reportColumn(by ReportBy) string {
	col := "lot"
	switch by {
	case ByParker:
		col = "parker"
	case ByDomain:
		col = "domain"
	case ByNode:
		col = "node"
	case ByRetriever:
		col = "retriever"
	case ByHour, ByDay:
		col = "parked_at"
	}
	return col
}

// aggregate adds the sessions of seg, grouped by by, to acc.
func (db *DB) aggregate(ctx context.Context, q ReportQuery, seg segment, acc map[string]*groupAcc) error {
	by := q.By
	var domains any // NULL: every domain
	if q.Domains != nil {
		domains = domainsJSON(q.Domains)
	}
	if db.Driver == Postgres {
		return db.aggregateRows(ctx, q, seg, domains, acc)
	}
	var cols [4]string
	if err := db.r.QueryRowContext(ctx, db.eng.reportQuery(by), formatTime(seg.from), formatTime(seg.to), domains).
		Scan(&cols[0], &cols[1], &cols[2], &cols[3]); err != nil {
		return err
	}
	var arrs [4]jsonArray
	for i, c := range cols {
		var err error
		if arrs[i], err = newJSONArray(c); err != nil {
			return fmt.Errorf("column %d: %w", i+1, err)
		}
	}
	keys, outcomes, attempts, waits := &arrs[0], &arrs[1], &arrs[2], &arrs[3]
	clock := clockGroups{by: by, offset: seg.offset}
	var last string
	var g *groupAcc
	for n := 1; keys.more(); n++ {
		key, err := keys.str()
		if err == nil && (by == ByHour || by == ByDay) {
			key, err = clock.group(key)
		}
		if err != nil {
			return fmt.Errorf("session %d: group: %w", n, err)
		}
		outcome, err := outcomes.str()
		if err != nil {
			return fmt.Errorf("session %d: outcome: %w", n, err)
		}
		nAttempts, _, err := attempts.int()
		if err != nil {
			return fmt.Errorf("session %d: recall attempts: %w", n, err)
		}
		wait, hasWait, err := waits.int()
		if err != nil {
			return fmt.Errorf("session %d: wait: %w", n, err)
		}
		if g == nil || key != last {
			if g = acc[key]; g == nil {
				g = &groupAcc{}
				acc[strings.Clone(key)] = g
			}
			last = key
		}
		g.add(parking.Event(outcome), int(nAttempts), time.Duration(wait)*time.Millisecond, hasWait)
	}
	if outcomes.more() || attempts.more() || waits.more() {
		return fmt.Errorf("more outcomes, attempts or waits than groups")
	}
	return nil
}

// sqlReportRows is the report's query on PostgreSQL: there, building
// JSON arrays costs the server more than handing the sessions over as
// rows (730 against 340 ms for a year's 370,000 sessions, psql timing),
// so it sends rows, which aggregateRows groups exactly as aggregate
// groups the arrays' elements.
const sqlReportRows = `SELECT %s, outcome, recall_attempts, wait_ms FROM sessions
	WHERE parked_at >= ?1 AND parked_at < ?2 AND outcome IS DISTINCT FROM 'replaced'
	AND (?3::text IS NULL OR domain IN (SELECT json_array_elements_text(?3::json)))`

// aggregateRows is aggregate for PostgreSQL, reading sqlReportRows with
// pgx itself: database/sql's conversions of 370,000 rows cost twice the
// query (a year's report by lot took 800 ms that way, against 160-370 ms
// for the rows read raw).
func (db *DB) aggregateRows(ctx context.Context, q ReportQuery, seg segment, domains any, acc map[string]*groupAcc) error {
	conn, err := db.r.db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		by := q.By
		rows, err := pc.Query(ctx, db.eng.rebind(fmt.Sprintf(sqlReportRows, reportColumn(by))),
			formatTime(seg.from), formatTime(seg.to), domains)
		if err != nil {
			return err
		}
		defer rows.Close()
		fds := rows.FieldDescriptions()
		clock := clockGroups{by: by, offset: seg.offset}
		var last string
		var g *groupAcc
		for n := 1; rows.Next(); n++ {
			raw := rows.RawValues()
			if len(raw) != 4 || len(fds) != 4 {
				return fmt.Errorf("session %d: %d columns", n, len(raw))
			}
			if g == nil || string(raw[0]) != last {
				key := string(raw[0])
				last = key
				if by == ByHour || by == ByDay {
					if key, err = clock.group(key); err != nil {
						return fmt.Errorf("session %d: group: %w", n, err)
					}
				}
				if g = acc[key]; g == nil {
					g = &groupAcc{}
					acc[key] = g
				}
			}
			attempts, _, err := rawInt(fds[2].Format, raw[2])
			if err != nil {
				return fmt.Errorf("session %d: recall attempts: %w", n, err)
			}
			wait, hasWait, err := rawInt(fds[3].Format, raw[3])
			if err != nil {
				return fmt.Errorf("session %d: wait: %w", n, err)
			}
			g.add(eventOf(raw[1]), int(attempts), time.Duration(wait)*time.Millisecond, hasWait)
		}
		return rows.Err()
	})
}

// rawInt reads an integer PostgreSQL sent in format (0: text, 1: binary,
// big-endian); ok is false for NULL (b nil).
func rawInt(format int16, b []byte) (n int64, ok bool, err error) {
	if b == nil {
		return 0, false, nil
	}
	if format == 0 {
		n, err = strconv.ParseInt(string(b), 10, 64)
		return n, err == nil, err
	}
	switch len(b) {
	case 2:
		return int64(int16(binary.BigEndian.Uint16(b))), true, nil
	case 4:
		return int64(int32(binary.BigEndian.Uint32(b))), true, nil
	case 8:
		return int64(binary.BigEndian.Uint64(b)), true, nil
	}
	return 0, false, fmt.Errorf("binary integer of %d bytes", len(b))
}

// eventOf is the event b names, without copying it (a session's outcome:
// a few names over and over).
func eventOf(b []byte) parking.Event {
	for _, e := range []parking.Event{parking.EventRetrieved, parking.EventRecalled, parking.EventAbandoned,
		parking.EventFallback, parking.EventLost, parking.EventHungup, parking.EventReplaced} {
		if string(b) == string(e) {
			return e
		}
	}
	return parking.Event(b)
}

// clockGroups names the hour or day of the local clock at stored times, at
// a fixed UTC offset, as strftime('%H') and strftime('%Y-%m-%d') would.
type clockGroups struct {
	by     ReportBy // ByHour or ByDay
	offset int      // seconds east of UTC

	// The UTC date of the last time named and its local day, kept for the
	// next time: the scan reads the times in order, so the date seldom
	// changes.
	date  string    // as stored: "2006-01-02"
	utc   time.Time // date, parsed
	shift int       // days from date to day
	day   string    // the local day, "2006-01-02"
}

// hourNames are the ByHour groups.
var hourNames = func() (h [24]string) {
	for i := range h {
		h[i] = fmt.Sprintf("%02d", i)
	}
	return h
}()

// group returns the hour ("15") or the day ("2006-01-02") of the local
// clock at ts, a time stored in timeLayout. The milliseconds cannot change
// the hour or the day: offsets are whole seconds.
func (c *clockGroups) group(ts string) (string, error) {
	if len(ts) != len(timeLayout) || ts[10] != 'T' || ts[13] != ':' || ts[16] != ':' {
		return "", fmt.Errorf("stored time %q: not in the form %s", ts, timeLayout)
	}
	h, okH := twoDigits(ts[11:13], 24)
	m, okM := twoDigits(ts[14:16], 60)
	sec, okS := twoDigits(ts[17:19], 60)
	if !okH || !okM || !okS {
		return "", fmt.Errorf("stored time %q: not in the form %s", ts, timeLayout)
	}
	if date := ts[:10]; date != c.date {
		utc, err := time.Parse(time.DateOnly, date)
		if err != nil {
			return "", fmt.Errorf("stored time %q: %w", ts, err)
		}
		c.date, c.utc, c.shift, c.day = date, utc, 0, date
	}
	const day = 24 * 3600
	local := h*3600 + m*60 + sec + c.offset // seconds from the UTC date's midnight
	shift := local / day                    // days from the UTC date to the local one, rounded down
	if local < 0 {
		shift = (local - day + 1) / day
	}
	if c.by == ByHour {
		return hourNames[(local-shift*day)/3600], nil
	}
	if shift != c.shift {
		c.shift, c.day = shift, c.utc.AddDate(0, 0, shift).Format(time.DateOnly)
	}
	return c.day, nil
}

// twoDigits parses the two decimal digits of s, a value below limit.
func twoDigits(s string, limit int) (int, bool) {
	if s[0] < '0' || s[0] > '9' || s[1] < '0' || s[1] > '9' {
		return 0, false
	}
	n := int(s[0]-'0')*10 + int(s[1]-'0')
	return n, n < limit
}

// jsonArray reads, element by element, a JSON array of strings, integers
// and nulls in the compact form json_group_array writes.
type jsonArray struct {
	s   string // the elements left, each followed by ',' but the last
	buf []byte // for unescaping strings
}

// newJSONArray starts reading the array a.
func newJSONArray(a string) (jsonArray, error) {
	if len(a) < 2 || a[0] != '[' || a[len(a)-1] != ']' {
		return jsonArray{}, fmt.Errorf("not a JSON array: %.20q", a)
	}
	return jsonArray{s: a[1 : len(a)-1]}, nil
}

// more reports whether elements are left.
func (a *jsonArray) more() bool { return a.s != "" }

// next returns the next element as written: a string with its quotes and
// escapes, a number or null.
func (a *jsonArray) next() (string, error) {
	s, end := a.s, 0 // the element is s[:end]
	switch {
	case s == "":
		return "", fmt.Errorf("no JSON array element left")
	case s[0] == '"':
		// A byte loop: the strings are short, and only a quote or a
		// backslash can end them or hide a quote.
		for end = 1; end < len(s) && s[end] != '"'; end++ {
			if s[end] == '\\' {
				end++
			}
		}
		if end >= len(s) {
			return "", fmt.Errorf("unterminated JSON string: %.20q", s)
		}
		end++
	default:
		if end = strings.IndexByte(s, ','); end < 0 {
			end = len(s)
		}
	}
	elem, rest := s[:end], s[end:]
	switch {
	case rest == "":
	case rest[0] == ',' && len(rest) > 1:
		rest = rest[1:]
	default:
		return "", fmt.Errorf("bad JSON array element: %.20q", s)
	}
	a.s = rest
	return elem, nil
}

// str returns the next element, a string or null (then "").
func (a *jsonArray) str() (string, error) {
	e, err := a.next()
	switch {
	case err != nil:
		return "", err
	case e == "null":
		return "", nil
	case len(e) < 2 || e[0] != '"':
		return "", fmt.Errorf("not a JSON string: %.20q", e)
	}
	e = e[1 : len(e)-1]
	if strings.IndexByte(e, '\\') < 0 {
		return e, nil
	}
	if a.buf, err = unescapeJSON(a.buf[:0], e); err != nil {
		return "", err
	}
	return string(a.buf), nil
}

// int returns the next element, an integer or null (then 0 and false).
func (a *jsonArray) int() (n int64, ok bool, err error) {
	e, err := a.next()
	switch {
	case err != nil:
		return 0, false, err
	case e == "null":
		return 0, false, nil
	}
	if 0 < len(e) && len(e) < 19 { // the common case: up to 18 digits cannot overflow
		for i := 0; i < len(e); i++ {
			if e[i] < '0' || e[i] > '9' {
				n = -1
				break
			}
			n = n*10 + int64(e[i]-'0')
		}
		if n >= 0 {
			return n, true, nil
		}
	}
	if n, err = strconv.ParseInt(e, 10, 64); err != nil {
		return 0, false, err
	}
	return n, true, nil
}

// unescapeJSON appends to b the contents of a JSON string, without its
// quotes. SQLite escapes only quotes, backslashes and control characters
// (as \b, \t, \n, \f, \r or \u00XX) and copies every other byte, valid
// UTF-8 or not, so the result is the text it was given.
func unescapeJSON(b []byte, s string) ([]byte, error) {
	for {
		i := strings.IndexByte(s, '\\')
		if i < 0 {
			return append(b, s...), nil
		}
		b, s = append(b, s[:i]...), s[i:]
		if len(s) < 2 {
			return nil, fmt.Errorf("bad JSON escape at the end of %q", s)
		}
		c, n := s[1], 2 // the byte escaped, and the length of its escape
		switch c {
		case '"', '\\', '/':
		case 'b':
			c = '\b'
		case 't':
			c = '\t'
		case 'n':
			c = '\n'
		case 'f':
			c = '\f'
		case 'r':
			c = '\r'
		case 'u':
			if len(s) < 6 {
				return nil, fmt.Errorf("bad JSON escape %q", s)
			}
			r, err := strconv.ParseUint(s[2:6], 16, 16)
			if err != nil {
				return nil, fmt.Errorf("bad JSON escape %q", s[:6])
			}
			if r >= utf8.RuneSelf {
				b, s = utf8.AppendRune(b, rune(r)), s[6:]
				continue
			}
			c, n = byte(r), 6
		default:
			return nil, fmt.Errorf("bad JSON escape %q", s[:2])
		}
		b, s = append(b, c), s[n:]
	}
}

// groupAcc accumulates one group's figures.
type groupAcc struct {
	r     ReportRow
	waits []time.Duration
}

// add counts one session with the given outcome, recall attempts and, if
// it has one, wait.
func (g *groupAcc) add(outcome parking.Event, attempts int, wait time.Duration, hasWait bool) {
	r := &g.r
	r.Parked++
	switch outcome {
	case parking.EventRetrieved:
		r.Retrieved++
		if attempts == 0 {
			r.BeforeRecall++
		}
	case parking.EventRecalled:
		r.Recalled++
		r.RecallAttempts += attempts
	case parking.EventFallback:
		r.Fallback++
	case parking.EventAbandoned, parking.EventHungup:
		// A call hung up from the board left the park unanswered like
		// one the caller gave up on: counting it apart would leave the
		// outcomes short of Parked in every existing report layout.
		r.Abandoned++
	case parking.EventLost:
		r.Lost++
	default:
		r.Open++
	}
	if hasWait && (outcome == parking.EventRetrieved || outcome == parking.EventRecalled) {
		g.waits = append(g.waits, wait)
	}
}

// merge adds the sessions of o.
func (g *groupAcc) merge(o *groupAcc) {
	g.r.Parked += o.r.Parked
	g.r.Retrieved += o.r.Retrieved
	g.r.Recalled += o.r.Recalled
	g.r.Fallback += o.r.Fallback
	g.r.Abandoned += o.r.Abandoned
	g.r.Lost += o.r.Lost
	g.r.Open += o.r.Open
	g.r.BeforeRecall += o.r.BeforeRecall
	g.r.RecallAttempts += o.r.RecallAttempts
	g.waits = append(g.waits, o.waits...)
}

// row finishes the group: it takes the percentiles of the waits, which it
// reorders.
func (g *groupAcc) row(key string) ReportRow {
	r := g.r
	r.Group = key
	r.WaitMedian, r.WaitP90, r.WaitMax = waitPercentiles(g.waits)
	return r
}
