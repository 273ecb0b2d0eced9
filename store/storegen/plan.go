package storegen

import (
	"container/heap"
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/parkd/parkd/parking"
)

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

// generator plans sessions in order of start and writes their rows in order
// of time, through a heap of rows planned but not yet due.
type generator struct {
	rng     *rand.Rand
	hist    *batcher
	sess    *batcher
	pending rowHeap
	seq     int64
	nextID  int64
	res     Result
}

// genLots are the lots of the synthetic hospital.
func genLots() [3]genLot {
	return [...]genLot{{"main", 701, 20}, {"reception", 201, 20}, {"er", 301, 10}}
}

func (g *generator) run(ctx context.Context, o Options) (Result, error) {
	// Sessions start in proportion to the rows planned so far, so the last
	// one starts near End, with a random jitter of about one session.
	start := o.End.Add(-o.Span).UTC()
	jitter := int64(float64(o.Span)*2.7/float64(o.Rows)) + 1
	at := start.Truncate(time.Millisecond)
	planned := 0
	for planned < o.Rows {
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		next := start.Add(time.Duration(float64(o.Span) * float64(planned) / float64(o.Rows))).
			Add(time.Duration(g.rng.Int64N(jitter))).Truncate(time.Millisecond)
		if next.After(at) {
			at = next
		}
		if err := g.flush(at); err != nil {
			return Result{}, err
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
			return Result{}, err
		}
	}
	if err := g.flush(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		return Result{}, err
	}
	if err := g.hist.close(); err != nil {
		return Result{}, err
	}
	if err := g.sess.close(); err != nil {
		return Result{}, err
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
