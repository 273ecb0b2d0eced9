package store

import (
	"container/heap"
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/parkd/parkd/parking"
)

// GenOptions describes a synthetic history for load tests and benchmarks.
type GenOptions struct {
	// Rows is the exact number of history rows to write.
	Rows int
	// Seed makes the history reproducible: the same options give the same
	// rows.
	Seed uint64
	// End is when the last session starts; zero means now. Span is how far
	// back the first one starts; zero means 365 days.
	End  time.Time
	Span time.Duration
}

// GenResult says what Generate wrote.
type GenResult struct {
	Rows     int // history rows
	Sessions int // park sessions (all of them ended)
}

// genLot is a lot of the synthetic hospital.
type genLot struct {
	name        string
	first, size int
}

// genRow is one history row waiting to be written.
type genRow struct {
	at        time.Time
	seq       int64 // tie-break: the order rows were planned
	event     parking.Event
	sess      *genSession // nil for rejected rows
	retriever string
	reason    string
	wait      time.Duration
	lot       string
	slot      int
	call      string
	caller    parking.Caller
	parker    string
}

// genSession is one session being generated.
type genSession struct {
	id       int64
	parkedAt time.Time
	attempts int
}

// Generate appends a synthetic but realistic history of Rows rows to an
// empty database, with its sessions, in one transaction of batched inserts
// (about ten seconds per million rows on a 2-vCPU VM). Sessions start
// evenly over [End-Span, End] with a random jitter, in three lots; about
// 55% are retrieved before any
// recall, 10% abandoned, the rest recalled up to three times and then
// recalled, retrieved, abandoned or sent to the fallback; 1% are lost, and
// about 3% of rows are refused parks. Every session ends, so nobody is left
// in a slot. It refuses a database that already has history.
func (db *DB) Generate(ctx context.Context, o GenOptions) (GenResult, error) {
	if o.Rows <= 0 {
		return GenResult{}, fmt.Errorf("generate: %w: rows %d", ErrInvalid, o.Rows)
	}
	if o.End.IsZero() {
		o.End = time.Now()
	}
	if o.Span <= 0 {
		o.Span = 365 * 24 * time.Hour
	}
	if db.w == nil {
		return GenResult{}, fmt.Errorf("generate: %w", errNotOpen)
	}
	// A large page cache keeps the index rebuilds in memory. The writer
	// pool has one connection, so the pragma lands on it; it is restored
	// before Generate returns.
	if _, err := db.w.ExecContext(ctx, `PRAGMA cache_size = -262144; PRAGMA temp_store = MEMORY`); err != nil {
		return GenResult{}, fmt.Errorf("generate: %w", err)
	}
	defer db.w.ExecContext(context.WithoutCancel(ctx), `PRAGMA cache_size = -2000; PRAGMA temp_store = DEFAULT`)
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return GenResult{}, fmt.Errorf("generate: begin: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM history`).Scan(&n); err != nil {
		return GenResult{}, fmt.Errorf("generate: %w", err)
	}
	if n > 0 {
		return GenResult{}, fmt.Errorf("generate: %w: the database already has %d history rows", ErrInvalid, n)
	}

	// Secondary indexes are dropped while the rows go in and rebuilt after
	// (a sort instead of a million random B-tree inserts), in the same
	// transaction, from their own stored definitions.
	indexes, err := dropIndexes(ctx, tx)
	if err != nil {
		return GenResult{}, fmt.Errorf("generate: %w", err)
	}
	g := &generator{
		rng:  rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15)),
		hist: newBatcher(tx, "history", "at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms", 11),
		sess: newBatcher(tx, "sessions", "id, call_uuid, lot, slot, caller_number, caller_name, parker, parked_at, recall_attempts, ended_id, ended_at, outcome, retriever, wait_ms", 14),
	}
	res, err := g.run(ctx, o)
	if err != nil {
		return GenResult{}, fmt.Errorf("generate: %w", err)
	}
	for _, ddl := range indexes {
		if _, err := tx.ExecContext(ctx, ddl); err != nil {
			return GenResult{}, fmt.Errorf("generate: rebuild index: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return GenResult{}, fmt.Errorf("generate: commit: %w", err)
	}
	return res, nil
}

// dropIndexes drops the secondary indexes of history and sessions and
// returns the statements that recreate them.
func dropIndexes(ctx context.Context, tx *sql.Tx) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name, sql FROM sqlite_master
	WHERE type = 'index' AND tbl_name IN ('history', 'sessions') AND sql IS NOT NULL ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	var names, ddls []string
	for rows.Next() {
		var name, ddl string
		if err := rows.Scan(&name, &ddl); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list indexes: %w", err)
		}
		names, ddls = append(names, name), append(ddls, ddl)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list indexes: %w", err)
	}
	for _, name := range names {
		// Names come from sqlite_master, not from input; quoted all the same.
		if _, err := tx.ExecContext(ctx, `DROP INDEX "`+strings.ReplaceAll(name, `"`, `""`)+`"`); err != nil {
			return nil, fmt.Errorf("drop index %s: %w", name, err)
		}
	}
	return ddls, nil
}

// generator plans sessions in order of start and writes their rows in order
// of time, through a heap of rows planned but not yet due.
type generator struct {
	rng     *rand.Rand
	hist    *batcher
	sess    *batcher
	pending rowHeap
	seq     int64
	nextID  int64
	res     GenResult
}

// genLots are the lots of the synthetic hospital.
func genLots() [3]genLot {
	return [...]genLot{{"main", 701, 20}, {"reception", 201, 20}, {"er", 301, 10}}
}

func (g *generator) run(ctx context.Context, o GenOptions) (GenResult, error) {
	// Sessions start in proportion to the rows planned so far, so the last
	// one starts near End, with a random jitter of about one session.
	start := o.End.Add(-o.Span).UTC()
	jitter := int64(float64(o.Span)*2.7/float64(o.Rows)) + 1
	at := start.Truncate(time.Millisecond)
	planned := 0
	for planned < o.Rows {
		if err := ctx.Err(); err != nil {
			return GenResult{}, err
		}
		next := start.Add(time.Duration(float64(o.Span) * float64(planned) / float64(o.Rows))).
			Add(time.Duration(g.rng.Int64N(jitter))).Truncate(time.Millisecond)
		if next.After(at) {
			at = next
		}
		if err := g.flush(at); err != nil {
			return GenResult{}, err
		}
		rows := g.plan(at)
		if g.rng.IntN(100) < 3 || planned+len(rows) > o.Rows {
			rows = []*genRow{g.rejected(at)}
		}
		planned += len(rows)
		for _, r := range rows {
			g.push(r)
		}
		// The first row (parked or rejected) is due now.
		if err := g.flush(at); err != nil {
			return GenResult{}, err
		}
	}
	if err := g.flush(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		return GenResult{}, err
	}
	if err := g.hist.close(); err != nil {
		return GenResult{}, err
	}
	if err := g.sess.close(); err != nil {
		return GenResult{}, err
	}
	return g.res, nil
}

func (g *generator) push(r *genRow) {
	g.seq++
	r.seq = g.seq
	heap.Push(&g.pending, r)
}

// flush writes every pending row due at or before t.
func (g *generator) flush(t time.Time) error {
	for len(g.pending) > 0 && !g.pending[0].at.After(t) {
		if err := g.write(heap.Pop(&g.pending).(*genRow)); err != nil {
			return err
		}
	}
	return nil
}

// write appends r to the history and keeps its session, as Record would.
func (g *generator) write(r *genRow) error {
	g.nextID++
	id := g.nextID
	if err := g.hist.add(formatTime(r.at), r.lot, r.slot, r.call, r.caller.Number, r.caller.Name, r.parker,
		string(r.event), r.reason, r.retriever, r.wait.Milliseconds()); err != nil {
		return err
	}
	g.res.Rows++
	s := r.sess
	switch {
	case r.event == parking.EventParked:
		s.id = id
	case r.event == parking.EventRecall:
		s.attempts++
	case terminal(r.event):
		g.res.Sessions++
		return g.sess.add(s.id, r.call, r.lot, r.slot, r.caller.Number, r.caller.Name, r.parker, formatTime(s.parkedAt),
			s.attempts, id, formatTime(r.at), string(r.event), r.retriever, r.wait.Milliseconds())
	}
	return nil
}

// plan returns the rows of one session parked at at, in time order.
func (g *generator) plan(at time.Time) []*genRow {
	rng := g.rng
	lots := genLots()
	names := [...]string{"Jane Roe", "John Doe", "Ana Silva", "Li Wei", "Omar Haddad", "Eva Novak", "", "Priya Nair"}
	lot := lots[rng.IntN(len(lots))]
	base := genRow{
		lot: lot.name, slot: lot.first + rng.IntN(lot.size), call: g.uuid(),
		caller: parking.Caller{Name: names[rng.IntN(len(names))], Number: fmt.Sprintf("+1555%07d", rng.IntN(10_000_000))},
		parker: fmt.Sprintf("%d", 1001+rng.IntN(20)),
	}
	s := &genSession{parkedAt: at}
	row := func(d time.Duration, e parking.Event, reason, retriever string) *genRow {
		r := base
		r.at, r.event, r.sess, r.reason, r.retriever = at.Add(d), e, s, reason, retriever
		if e != parking.EventParked {
			r.wait = d
		}
		return &r
	}
	ms := func(lo, hi int) time.Duration { return time.Duration(lo+rng.IntN(hi-lo+1)) * time.Millisecond }
	retriever := func() string { return fmt.Sprintf("%d", 1100+rng.IntN(40)) }

	rows := []*genRow{row(0, parking.EventParked, "directed", "")}
	switch p := rng.IntN(100); {
	case p < 1:
		return append(rows, row(ms(1000, 600_000), parking.EventLost, "channel gone while parkd was not watching", ""))
	case p < 56:
		return append(rows, row(ms(3000, 119_000), parking.EventRetrieved, "", retriever()))
	case p < 66:
		return append(rows, row(ms(2000, 119_000), parking.EventAbandoned, "NORMAL_CLEARING", ""))
	}
	// Timed out: recall every 60 s from 120 s, each ringing up to 30 s.
	for n := 1; n <= 3; n++ {
		start := 120*time.Second + time.Duration(n-1)*60*time.Second
		rows = append(rows, row(start, parking.EventRecall, fmt.Sprintf("attempt %d", n), ""))
		switch p := rng.IntN(100); {
		case p < 50:
			return append(rows, row(start+ms(3000, 25_000), parking.EventRecalled, "", base.parker))
		case p < 60:
			return append(rows, row(start+ms(1000, 29_000), parking.EventRetrieved, "", retriever()))
		case p < 65:
			return append(rows, row(start+ms(1000, 29_000), parking.EventAbandoned, "NORMAL_CLEARING", ""))
		}
		rows = append(rows, row(start+30*time.Second, parking.EventRecallFailed, "NO_ANSWER", ""))
	}
	return append(rows, row(120*time.Second+150*time.Second+100*time.Millisecond, parking.EventFallback, "recall failed 3 times; sent to operator", ""))
}

// rejected returns a refused park at at.
func (g *generator) rejected(at time.Time) *genRow {
	lots := genLots()
	lot := lots[g.rng.IntN(len(lots))]
	return &genRow{
		at: at, event: parking.EventRejected, lot: lot.name, slot: lot.first + g.rng.IntN(lot.size), call: g.uuid(),
		caller: parking.Caller{Number: fmt.Sprintf("+1555%07d", g.rng.IntN(10_000_000))},
		parker: fmt.Sprintf("%d", 1001+g.rng.IntN(20)), reason: "slot occupied",
	}
}

// uuid returns a random version-4-shaped UUID.
func (g *generator) uuid() string {
	a, b := g.rng.Uint64(), g.rng.Uint64()
	return fmt.Sprintf("%08x-%04x-4%03x-a%03x-%012x", a>>32, (a>>16)&0xffff, a&0xfff, b>>52, b&0xffffffffffff)
}

// rowHeap orders pending rows by time, then by planning order.
type rowHeap []*genRow

func (h rowHeap) Len() int { return len(h) }
func (h rowHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h rowHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *rowHeap) Push(x any)   { *h = append(*h, x.(*genRow)) }
func (h *rowHeap) Pop() any {
	old := *h
	r := old[len(old)-1]
	*h = old[:len(old)-1]
	return r
}

// batchRows is how many rows one multi-row INSERT carries.
const batchRows = 256

// batcher inserts rows into a table batchRows at a time.
type batcher struct {
	tx    *sql.Tx
	table string
	cols  string
	ncol  int
	args  []any
	full  *sql.Stmt
}

func newBatcher(tx *sql.Tx, table, cols string, ncol int) *batcher {
	return &batcher{tx: tx, table: table, cols: cols, ncol: ncol}
}

// insertSQL returns an INSERT of rows rows into b's table.
func (b *batcher) insertSQL(rows int) string {
	one := "(" + strings.TrimSuffix(strings.Repeat("?, ", b.ncol), ", ") + ")"
	return "INSERT INTO " + b.table + " (" + b.cols + ") VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", rows), ", ")
}

func (b *batcher) add(vals ...any) error {
	b.args = append(b.args, vals...)
	if len(b.args) < batchRows*b.ncol {
		return nil
	}
	if b.full == nil {
		var err error
		if b.full, err = b.tx.Prepare(b.insertSQL(batchRows)); err != nil {
			return fmt.Errorf("%s: %w", b.table, err)
		}
	}
	if _, err := b.full.Exec(b.args...); err != nil {
		return fmt.Errorf("%s: %w", b.table, err)
	}
	b.args = b.args[:0]
	return nil
}

// close writes the rows left and closes the statements.
func (b *batcher) close() error {
	defer func() {
		if b.full != nil {
			b.full.Close()
		}
	}()
	if len(b.args) == 0 {
		return nil
	}
	if _, err := b.tx.Exec(b.insertSQL(len(b.args)/b.ncol), b.args...); err != nil {
		return fmt.Errorf("%s: %w", b.table, err)
	}
	b.args = b.args[:0]
	return nil
}
