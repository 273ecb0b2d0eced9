// Package storetest holds the hand-computed park history that the report,
// the park_sessions view and the CLI are tested against, for the tests of
// store and cmd/parkd.
package storetest

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Base is the start of the fixture's report window: 2026-11-02 08:00 UTC.
// The window is [Base(), WindowEnd()).
func Base() time.Time { return time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC) }

// WindowEnd is the end of the fixture's report window, Base()+4h.
func WindowEnd() time.Time { return Base().Add(4 * time.Hour) }

// call describes one fixture call for the builder.
type call struct {
	id     parking.CallID
	lot    string
	slot   int
	parker string
	caller parking.Caller
	at     time.Time
}

// b builds the transitions of fixture calls.
type b struct{ ts []parking.Transition }

func (b *b) occ(c call, attempts int, deadline time.Time) *parking.Occupant {
	return &parking.Occupant{Lot: c.lot, Slot: c.slot, Call: c.id, Caller: c.caller, Parker: c.parker,
		ParkedAt: c.at, Deadline: deadline, Attempts: attempts}
}

func (b *b) add(c call, after time.Duration, e parking.Event, retriever, reason string, occ *parking.Occupant) {
	t := parking.Transition{At: c.at.Add(after), Event: e, Lot: c.lot, Slot: c.slot, Call: c.id, Caller: c.caller,
		Parker: c.parker, Retriever: retriever, Reason: reason, Occupancy: occ}
	if e != parking.EventParked && e != parking.EventRejected {
		t.Wait = after
	}
	b.ts = append(b.ts, t)
}

func (b *b) park(c call) {
	b.add(c, 0, parking.EventParked, "", "directed", b.occ(c, 0, c.at.Add(2*time.Minute)))
}

// recall adds the n-th recall at after, and unless answered its failure 30 s
// later.
func (b *b) recall(c call, n int, after time.Duration, fails bool) {
	b.add(c, after, parking.EventRecall, "", fmt.Sprintf("attempt %d", n), b.occ(c, n, c.at.Add(after)))
	if fails {
		b.add(c, after+30*time.Second, parking.EventRecallFailed, "", "NO_ANSWER", b.occ(c, n, c.at.Add(after+60*time.Second)))
	}
}

func (b *b) end(c call, after time.Duration, e parking.Event, retriever string) {
	b.add(c, after, e, retriever, "", nil)
}

// Transitions returns the fixture history in time order. Every figure of
// the expected reports in report_test.go is computed by hand from it:
//
//	call lot       slot parker parked (UTC)   outcome                  wait     attempts retriever
//	a    main      201  1001   07:59:59.999   retrieved (before window)
//	b    main      202  1001   08:00:00.000   retrieved                10.000s  0        1202
//	c    main      203  1001   08:10          recalled                 190s     2        1001
//	h    reception 301  1003   08:30          fallback                 210.1s   2
//	p    reception 306  1004   08:45          retrieved                5s       0        1205
//	i    reception 302  1003   09:00          still parked             -        1
//	d    main      204  1002   09:05          abandoned                40s      0
//	q    reception 307  1004   09:15          retrieved                45.5s    0        1205
//	r    main      202  -      09:30          rejected (no session)
//	g    main      211  1001   10:00          retrieved while recalled 125s     1        1203
//	j    reception 303  1001   10:30          retrieved                60s      0        1202
//	m    main      205  1001   10:40          retrieved                30s      0        1202
//	m    main      206  1202   10:45          abandoned (parked again) 15s      0
//	n    main      207  1001   10:50          retrieved (moved to 208) 60s      0        1204
//	k    reception 304  1003   11:00          lost                     300s     0
//	l    reception 305  1003   11:15          recalled (no retriever)  130s     1        1003
//	e    main      209  1002   11:59:59.999   retrieved after window   20.001s  0        1202
//	f    main      210  1001   12:00:00.000   retrieved (after window) 5s       0        1202
func Transitions() []parking.Transition {
	jane := parking.Caller{Name: "Jane Roe", Number: "+15550100"}
	john := parking.Caller{Name: "John Doe", Number: "+15550111"}
	ana := parking.Caller{Name: "Ana Silva", Number: "+15550122"}
	c := func(id parking.CallID, lot string, slot int, parker string, caller parking.Caller, at time.Duration) call {
		return call{id: id, lot: lot, slot: slot, parker: parker, caller: caller, at: Base().Add(at)}
	}
	var x b
	a := c("call-a", "main", 201, "1001", jane, -time.Millisecond)
	x.park(a)
	x.end(a, 30*time.Second, parking.EventRetrieved, "1202")

	bb := c("call-b", "main", 202, "1001", john, 0)
	x.park(bb)
	x.end(bb, 10*time.Second, parking.EventRetrieved, "1202")

	cc := c("call-c", "main", 203, "1001", ana, 10*time.Minute)
	x.park(cc)
	x.recall(cc, 1, 120*time.Second, true)
	x.recall(cc, 2, 180*time.Second, false)
	x.end(cc, 190*time.Second, parking.EventRecalled, "1001")

	h := c("call-h", "reception", 301, "1003", jane, 30*time.Minute)
	x.park(h)
	x.recall(h, 1, 120*time.Second, true)
	x.recall(h, 2, 180*time.Second, true)
	x.end(h, 210*time.Second+100*time.Millisecond, parking.EventFallback, "")

	p := c("call-p", "reception", 306, "1004", john, 45*time.Minute)
	x.park(p)
	x.end(p, 5*time.Second, parking.EventRetrieved, "1205")

	i := c("call-i", "reception", 302, "1003", ana, 60*time.Minute)
	x.park(i)
	x.recall(i, 1, 120*time.Second, false)

	d := c("call-d", "main", 204, "1002", jane, 65*time.Minute)
	x.park(d)
	x.end(d, 40*time.Second, parking.EventAbandoned, "")

	q := c("call-q", "reception", 307, "1004", john, 75*time.Minute)
	x.park(q)
	x.end(q, 45*time.Second+500*time.Millisecond, parking.EventRetrieved, "1205")

	r := c("call-r", "main", 202, "", parking.Caller{Number: "+15550199"}, 90*time.Minute)
	x.add(r, 0, parking.EventRejected, "", "slot occupied", nil)

	g := c("call-g", "main", 211, "1001", ana, 120*time.Minute)
	x.park(g)
	x.recall(g, 1, 120*time.Second, false)
	x.end(g, 125*time.Second, parking.EventRetrieved, "1203")

	j := c("call-j", "reception", 303, "1001", jane, 150*time.Minute)
	x.park(j)
	x.end(j, 60*time.Second, parking.EventRetrieved, "1202")

	m1 := c("call-m", "main", 205, "1001", john, 160*time.Minute)
	x.park(m1)
	x.end(m1, 30*time.Second, parking.EventRetrieved, "1202")
	m2 := c("call-m", "main", 206, "1202", john, 165*time.Minute)
	x.park(m2)
	x.end(m2, 15*time.Second, parking.EventAbandoned, "")

	n := c("call-n", "main", 207, "1001", ana, 170*time.Minute)
	x.park(n)
	moved := n
	moved.slot = 208
	x.add(moved, 5*time.Second, parking.EventParked, "", "moved", x.occ(moved, 0, n.at.Add(2*time.Minute)))
	x.end(moved, 60*time.Second, parking.EventRetrieved, "1204")

	k := c("call-k", "reception", 304, "1003", jane, 180*time.Minute)
	x.park(k)
	x.end(k, 300*time.Second, parking.EventLost, "")

	l := c("call-l", "reception", 305, "1003", john, 195*time.Minute)
	x.park(l)
	x.recall(l, 1, 120*time.Second, false)
	x.end(l, 130*time.Second, parking.EventRecalled, "") // an older parkd left no retriever

	e := c("call-e", "main", 209, "1002", ana, 240*time.Minute-time.Millisecond)
	x.park(e)
	x.end(e, 20*time.Second+time.Millisecond, parking.EventRetrieved, "1202")

	f := c("call-f", "main", 210, "1001", jane, 240*time.Minute)
	x.park(f)
	x.end(f, 5*time.Second, parking.EventRetrieved, "1202")

	slices.SortStableFunc(x.ts, func(a, b parking.Transition) int { return a.At.Compare(b.At) })
	return x.ts
}

// Record records ts into db in order, or fails the test.
func Record(tb testing.TB, db *store.DB, ts []parking.Transition) {
	tb.Helper()
	for _, t := range ts {
		if err := db.Record(context.Background(), t); err != nil {
			tb.Fatal(err)
		}
	}
}

// Sessions is the fixture's park sessions in the report window, as the
// park_sessions view must show them, ordered by parked_at then call.
func Sessions() []store.Session {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	at := func(d time.Duration) time.Time { return Base().Add(d) }
	jane := parking.Caller{Name: "Jane Roe", Number: "+15550100"}
	john := parking.Caller{Name: "John Doe", Number: "+15550111"}
	ana := parking.Caller{Name: "Ana Silva", Number: "+15550122"}
	s := func(call parking.CallID, lot string, slot int, caller parking.Caller, parker string, parked time.Duration,
		outcome parking.Event, wait time.Duration, attempts int, retriever string) store.Session {
		out := store.Session{Call: call, Lot: lot, Slot: slot, Caller: caller, Parker: parker, ParkedAt: at(parked),
			Outcome: outcome, Wait: wait, RecallAttempts: attempts, Retriever: retriever}
		if outcome != "" {
			out.EndedAt = at(parked + wait)
		}
		return out
	}
	out := []store.Session{
		s("call-b", "main", 202, john, "1001", 0, parking.EventRetrieved, ms(10_000), 0, "1202"),
		s("call-c", "main", 203, ana, "1001", 10*time.Minute, parking.EventRecalled, ms(190_000), 2, "1001"),
		s("call-h", "reception", 301, jane, "1003", 30*time.Minute, parking.EventFallback, ms(210_100), 2, ""),
		s("call-p", "reception", 306, john, "1004", 45*time.Minute, parking.EventRetrieved, ms(5_000), 0, "1205"),
		s("call-i", "reception", 302, ana, "1003", 60*time.Minute, "", 0, 1, ""),
		s("call-d", "main", 204, jane, "1002", 65*time.Minute, parking.EventAbandoned, ms(40_000), 0, ""),
		s("call-q", "reception", 307, john, "1004", 75*time.Minute, parking.EventRetrieved, ms(45_500), 0, "1205"),
		s("call-g", "main", 211, ana, "1001", 120*time.Minute, parking.EventRetrieved, ms(125_000), 1, "1203"),
		s("call-j", "reception", 303, jane, "1001", 150*time.Minute, parking.EventRetrieved, ms(60_000), 0, "1202"),
		s("call-m", "main", 205, john, "1001", 160*time.Minute, parking.EventRetrieved, ms(30_000), 0, "1202"),
		s("call-m", "main", 206, john, "1202", 165*time.Minute, parking.EventAbandoned, ms(15_000), 0, ""),
		s("call-n", "main", 207, ana, "1001", 170*time.Minute, parking.EventRetrieved, ms(60_000), 0, "1204"),
		s("call-k", "reception", 304, jane, "1003", 180*time.Minute, parking.EventLost, ms(300_000), 0, ""),
		s("call-l", "reception", 305, john, "1003", 195*time.Minute, parking.EventRecalled, ms(130_000), 1, "1003"),
		s("call-e", "main", 209, ana, "1002", 240*time.Minute-time.Millisecond, parking.EventRetrieved, ms(20_001), 0, "1202"),
	}
	slices.SortStableFunc(out, func(a, b store.Session) int {
		return cmp.Or(a.ParkedAt.Compare(b.ParkedAt), cmp.Compare(a.Call, b.Call))
	})
	return out
}
