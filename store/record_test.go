package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Ensure a park sets occupancy and appends history, and a retrieve clears
// occupancy and appends history, with every field round-tripping in UTC at
// millisecond precision.
func TestDB_Record(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)

		park := Parked("call-1", "default", 202, t0)
		park.Parker = "1001 <sip:1001@pbx>"
		park.Occupancy.ParkerDomain = "pbx.example.com"
		park.Occupancy.Attempts = 2 // as when a restart reloads a call mid-recall
		MustRecord(t, db, park)

		occ, err := db.Occupied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		wantAt := time.Date(2025, 3, 4, 9, 11, 12, 345_000_000, time.UTC)
		want := parking.Occupant{
			Lot: "default", Slot: 202, Call: "call-1",
			Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}, Parker: "1001",
			ParkedAt: wantAt, Deadline: wantAt.Add(2 * time.Minute),
			ParkerDomain: "pbx.example.com", Attempts: 2,
		}
		if got, want := len(occ), 1; got != want {
			t.Fatalf("occupied=%d, want %d", got, want)
		}
		if got := occ[0]; got != want {
			t.Fatalf("occupant=%+v, want %+v", got, want)
		}
		if got, want := occ[0].ParkedAt.Location(), time.UTC; got != want {
			t.Fatalf("location=%v, want %v", got, want)
		}

		MustRecord(t, db, Retrieved("call-1", "default", 202, t0, 42*time.Second+500*time.Millisecond+700*time.Microsecond))
		occ, err = db.Occupied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(occ), 0; got != want {
			t.Fatalf("occupied after retrieve=%v, want %d rows", occ, want)
		}

		rows, err := db.History(ctx, store.HistoryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		wantRows := []store.HistoryRow{
			{
				ID: 1, At: wantAt, Event: parking.EventParked, Lot: "default", Slot: 202, Call: "call-1",
				Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}, Parker: "1001 <sip:1001@pbx>",
				Reason: "directed",
			},
			{
				ID: 2, At: time.Date(2025, 3, 4, 9, 11, 54, 846_000_000, time.UTC), Event: parking.EventRetrieved,
				Lot: "default", Slot: 202, Call: "call-1",
				Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}, Parker: "1001",
				Retriever: "1202", Reason: "retrieve code", Wait: 42500 * time.Millisecond,
			},
		}
		if got, want := len(rows), len(wantRows); got != want {
			t.Fatalf("history=%d rows, want %d", got, want)
		}
		for i := range rows {
			if got, want := rows[i], wantRows[i]; got != want {
				t.Fatalf("row %d=%+v\nwant   %+v", i, got, want)
			}
		}
	})
}

// Ensure a slot that holds another call is refused with ErrSlotTaken and
// nothing is written; and that the same call may re-record its slot or move.
func TestDB_Record_Occupancy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()

		t.Run("ErrSlotTaken", func(t *testing.T) {
			db := b.open(t)
			MustRecord(t, db, Parked("call-1", "default", 1, t0))
			MustRecord(t, db, Parked("call-2", "default", 2, t0))

			// call-2 tries to move onto call-1's slot: its own row must survive.
			err := db.Record(ctx, Parked("call-2", "default", 1, t0.Add(time.Second)))
			if !errors.Is(err, parking.ErrSlotTaken) {
				t.Fatalf("err=%v, want %v", err, parking.ErrSlotTaken)
			}
			if got, want := HistoryLen(t, db), 2; got != want {
				t.Fatalf("history=%d, want %d", got, want)
			}
			wantOccupied(t, db, "[default/1=call-1 default/2=call-2]")
		})

		t.Run("SameSlot", func(t *testing.T) {
			// A recall re-records the call in its slot with a new deadline.
			db := b.open(t)
			MustRecord(t, db, Parked("call-1", "default", 1, t0))
			recall := Parked("call-1", "default", 1, t0.Add(2*time.Minute))
			recall.Event = parking.EventRecall
			recall.Occupancy.ParkedAt = t0
			recall.Occupancy.Deadline = t0.Add(5 * time.Minute)
			MustRecord(t, db, recall)
			occ, err := db.Occupied(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(occ), 1; got != want {
				t.Fatalf("occupied=%d, want %d", got, want)
			}
			if got, want := occ[0].Deadline, t0.Add(5*time.Minute).Truncate(time.Millisecond); !got.Equal(want) {
				t.Fatalf("deadline=%v, want %v", got, want)
			}
		})

		t.Run("Move", func(t *testing.T) {
			db := b.open(t)
			MustRecord(t, db, Parked("call-1", "default", 1, t0))
			MustRecord(t, db, Parked("call-1", "overflow", 7, t0.Add(time.Second)))
			wantOccupied(t, db, "[overflow/7=call-1]")
		})

		t.Run("NilOccupancyWithoutRow", func(t *testing.T) {
			// A rejected park holds no slot; recording it deletes nothing.
			db := b.open(t)
			MustRecord(t, db, Parked("call-1", "default", 1, t0))
			MustRecord(t, db, parking.Transition{
				At: t0, Event: parking.EventRejected, Lot: "default", Call: "call-2", Reason: "lot full",
			})
			wantOccupied(t, db, "[default/1=call-1]")
		})
	})
}

// Ensure the transitions of recall on timeout are stored as the Service
// makes them: a recall and a failed recall update the call's row in place
// (same slot, attempts counted, deadline moved), and an answered recall or
// a fallback frees the slot; every step appends one history row.
func TestDB_Record_Recall(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		at := func(d time.Duration) time.Time { return t0.Add(d).UTC().Truncate(time.Millisecond) }

		// check compares the call's occupancy with want (nil: no row), as
		// "slot attempts deadline domain".
		check := func(t *testing.T, db *store.DB, step string, want *parking.Occupant) {
			t.Helper()
			occ, err := db.Occupied(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if want == nil {
				if len(occ) != 0 {
					t.Fatalf("after %s occupied=%+v, want none", step, occ)
				}
				return
			}
			if len(occ) != 1 {
				t.Fatalf("after %s occupied=%+v, want one row", step, occ)
			}
			if got := occ[0]; got != *want {
				t.Fatalf("after %s occupant=%+v\nwant %+v", step, got, *want)
			}
		}
		occupant := func(deadline time.Duration, attempts int) *parking.Occupant {
			return &parking.Occupant{
				Lot: "default", Slot: 701, Call: "call-1",
				Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}, Parker: "1001",
				ParkedAt: at(0), Deadline: at(deadline), ParkerDomain: "pbx.example.com", Attempts: attempts,
			}
		}
		events := func(t *testing.T, db *store.DB) []string {
			t.Helper()
			rows, err := db.History(ctx, store.HistoryFilter{Call: "call-1"})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range rows {
				got = append(got, fmt.Sprintf("%s %s %d %s", r.At.Sub(at(0)), r.Event, r.Slot, r.Reason))
			}
			return got
		}
		parked := func() parking.Transition {
			p := Parked("call-1", "default", 701, t0)
			p.Occupancy.ParkerDomain = "pbx.example.com"
			return p
		}

		t.Run("Recalled", func(t *testing.T) {
			db := b.open(t)
			MustRecord(t, db, parked())
			check(t, db, "parked", occupant(2*time.Minute, 0))
			MustRecord(t, db, Recall("call-1", "default", 701, t0, 1))
			check(t, db, "recall 1", occupant(2*time.Minute, 1))
			MustRecord(t, db, RecallFailed("call-1", "default", 701, t0, 1))
			check(t, db, "recall_failed 1", occupant(3*time.Minute, 1))
			MustRecord(t, db, Recall("call-1", "default", 701, t0, 2))
			check(t, db, "recall 2", occupant(3*time.Minute, 2))
			MustRecord(t, db, parking.Transition{
				At: t0.Add(3*time.Minute + 10*time.Second), Event: parking.EventRecalled, Lot: "default", Slot: 701, Call: "call-1",
				Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}, Parker: "1001", Retriever: "1001",
				Reason: "parker answered", Wait: 3*time.Minute + 10*time.Second,
			})
			check(t, db, "recalled", nil)

			want := []string{
				"0s parked 701 directed",
				"2m0s recall 701 attempt 1",
				"2m30s recall_failed 701 NO_ANSWER",
				"3m0s recall 701 attempt 2",
				"3m10s recalled 701 parker answered",
			}
			if got := events(t, db); !slices.Equal(got, want) {
				t.Fatalf("history=%q\nwant %q", got, want)
			}
			if got, want := HistoryLen(t, db), 5; got != want {
				t.Fatalf("history=%d rows, want %d", got, want)
			}
		})

		t.Run("Fallback", func(t *testing.T) {
			db := b.open(t)
			MustRecord(t, db, parked())
			MustRecord(t, db, Recall("call-1", "default", 701, t0, 1))
			MustRecord(t, db, RecallFailed("call-1", "default", 701, t0, 1))
			check(t, db, "recall_failed 1", occupant(3*time.Minute, 1))
			MustRecord(t, db, parking.Transition{
				At: t0.Add(2*time.Minute + 31*time.Second), Event: parking.EventFallback, Lot: "default", Slot: 701, Call: "call-1",
				Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}, Parker: "1001",
				Reason: "1 recalls failed; sent to 9000 XML default", Wait: 2*time.Minute + 31*time.Second,
			})
			check(t, db, "fallback", nil)
			want := []string{
				"0s parked 701 directed",
				"2m0s recall 701 attempt 1",
				"2m30s recall_failed 701 NO_ANSWER",
				"2m31s fallback 701 1 recalls failed; sent to 9000 XML default",
			}
			if got := events(t, db); !slices.Equal(got, want) {
				t.Fatalf("history=%q\nwant %q", got, want)
			}
		})

		t.Run("OtherCallKeepsItsRow", func(t *testing.T) {
			// Recalling one call never touches another's row.
			db := b.open(t)
			MustRecord(t, db, parked())
			MustRecord(t, db, Parked("call-2", "default", 702, t0))
			MustRecord(t, db, Recall("call-1", "default", 701, t0, 1))
			occ, err := db.Occupied(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fmt.Sprintf("%v %d %d", slotsOf(occ), occ[0].Attempts, occ[1].Attempts), "[default/701=call-1 default/702=call-2] 1 0"; got != want {
				t.Fatalf("occupied=%s, want %s", got, want)
			}
		})
	})
}

// slotsOf renders occupants as lot/slot=call.
func slotsOf(occ []parking.Occupant) []string {
	var s []string
	for _, o := range occ {
		s = append(s, fmt.Sprintf("%s/%d=%s", o.Lot, o.Slot, o.Call))
	}
	return s
}

// wantOccupied fails the test unless db's occupied slots, as slotsOf
// renders them, are want.
func wantOccupied(t *testing.T, db *store.DB, want string) {
	t.Helper()
	occ, err := db.Occupied(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(slotsOf(occ)); got != want {
		t.Fatalf("occupied=%s, want %s", got, want)
	}
}

// Ensure incomplete transitions are refused with ErrInvalid before anything
// is written.
func TestDB_Record_ErrInvalid(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		for name, mutate := range map[string]func(*parking.Transition){
			"UnknownEvent":     func(tr *parking.Transition) { tr.Event = "teleported" },
			"NoCall":           func(tr *parking.Transition) { tr.Call = ""; tr.Occupancy.Call = "" },
			"ZeroAt":           func(tr *parking.Transition) { tr.At = time.Time{} },
			"NegativeWait":     func(tr *parking.Transition) { tr.Wait = -time.Second },
			"OtherCall":        func(tr *parking.Transition) { tr.Occupancy.Call = "call-2" },
			"NoSlot":           func(tr *parking.Transition) { tr.Occupancy.Slot = 0 },
			"NoLot":            func(tr *parking.Transition) { tr.Occupancy.Lot = "" },
			"ZeroDeadline":     func(tr *parking.Transition) { tr.Occupancy.Deadline = time.Time{} },
			"YearOutOfFormat":  func(tr *parking.Transition) { tr.At = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
			"NegativeAttempts": func(tr *parking.Transition) { tr.Occupancy.Attempts = -1 },
		} {
			t.Run(name, func(t *testing.T) {
				tr := Parked("call-1", "default", 1, t0)
				mutate(&tr)
				if err := db.Record(context.Background(), tr); !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("err=%v, want %v", err, store.ErrInvalid)
				}
				if got, want := HistoryLen(t, db), 0; got != want {
					t.Fatalf("history=%d, want %d", got, want)
				}
			})
		}
	})
}

// Ensure Record on a closed DB fails instead of panicking.
func TestDB_Record_Closed(t *testing.T) {
	for _, db := range []*store.DB{store.NewDB(filepath.Join(t.TempDir(), "parkd.db")), store.NewPostgres("host=/nonexistent")} {
		if err := db.Record(context.Background(), Parked("call-1", "default", 1, t0)); err == nil {
			t.Fatal("Record before Open succeeded")
		}
		if _, err := db.Occupied(context.Background()); err == nil {
			t.Fatal("Occupied before Open succeeded")
		}
	}
}

// Ensure concurrent parks into distinct slots all succeed, and concurrent
// parks into one slot let exactly one call win.
func TestDB_Record_Concurrent(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const n = 50
		ctx := context.Background()

		run := func(db *store.DB, slot func(i int) int) []error {
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					errs[i] = db.Record(ctx, Parked(parking.CallID(fmt.Sprintf("call-%d", i)), "default", slot(i), t0))
				})
			}
			wg.Wait()
			return errs
		}

		t.Run("DistinctSlots", func(t *testing.T) {
			db := b.open(t)
			for i, err := range run(db, func(i int) int { return i + 1 }) {
				if err != nil {
					t.Fatalf("park %d: %v", i, err)
				}
			}
			occ, err := db.Occupied(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(occ), n; got != want {
				t.Fatalf("occupied=%d, want %d", got, want)
			}
			for i, o := range occ[1:] {
				if o.Slot <= occ[i].Slot {
					t.Fatalf("occupied not ordered by slot: %v", slotsOf(occ))
				}
			}
			if got, want := HistoryLen(t, db), n; got != want {
				t.Fatalf("history=%d, want %d", got, want)
			}
		})

		t.Run("SameSlot", func(t *testing.T) {
			db := b.open(t)
			var won int
			for i, err := range run(db, func(int) int { return 1 }) {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, parking.ErrSlotTaken):
					t.Fatalf("park %d: err=%v, want nil or %v", i, err, parking.ErrSlotTaken)
				}
			}
			if got, want := won, 1; got != want {
				t.Fatalf("winners=%d, want %d", got, want)
			}
			occ, err := db.Occupied(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := len(occ), 1; got != want {
				t.Fatalf("occupied=%d, want %d", got, want)
			}
			if got, want := HistoryLen(t, db), 1; got != want {
				t.Fatalf("history=%d, want %d", got, want)
			}
		})
	})
}

// Ensure history rows cannot be updated or deleted, even with raw SQL (on
// PostgreSQL, nor truncated).
func TestDB_History_AppendOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		testHistoryAppendOnly(t, b)
	})
}

func testHistoryAppendOnly(t *testing.T, b backend) {
	db := b.open(t)
	MustRecord(t, db, Parked("call-1", "default", 1, t0))

	raw := db.WritePool()
	qs := []string{
		`UPDATE history SET reason = 'edited'`,
		`DELETE FROM history`,
	}
	if b.name == "postgres" {
		qs = append(qs, `TRUNCATE history`)
	}
	for _, q := range qs {
		_, err := raw.Exec(q)
		var se sqlite3.Error
		var pe *pgconn.PgError
		switch {
		case b.name == "sqlite" && errors.As(err, &se) && se.ExtendedCode == sqlite3.ErrConstraintTrigger:
		case b.name == "postgres" && errors.As(err, &pe) && pe.Message == "history is append-only":
		default:
			t.Fatalf("%s: err=%v, want the append-only trigger's error", q, err)
		}
	}
	rows, err := db.History(context.Background(), store.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(rows), 1; got != want {
		t.Fatalf("history=%d, want %d", got, want)
	}
	if got, want := rows[0].Reason, "directed"; got != want {
		t.Fatalf("reason=%q, want %q", got, want)
	}
}

// BenchmarkRecord measures park+retrieve pairs: two transactions, each one
// history row and an occupancy change.
func BenchmarkRecord(b *testing.B) {
	benchEachBackend(b, benchmarkRecord)
}

func benchmarkRecord(b *testing.B, be backend) {
	db := be.open(b)
	ctx := context.Background()
	var i int
	for b.Loop() {
		call := parking.CallID(fmt.Sprintf("call-%d", i))
		slot := i%100 + 1
		at := t0.Add(time.Duration(i) * time.Second)
		if err := db.Record(ctx, Parked(call, "default", slot, at)); err != nil {
			b.Fatal(err)
		}
		if err := db.Record(ctx, Retrieved(call, "default", slot, at, 1500*time.Millisecond)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(2*i)/b.Elapsed().Seconds(), "rows/s")
}

// Ensure a write whose context has already ended is not begun (and nothing
// of it is written), while one begun with a live context completes even if
// that context then ends: writes run without their caller's cancellation.
func TestDB_Record_Context(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		done, cancel := context.WithCancel(context.Background())
		cancel()
		if err := db.Record(done, Parked("call-1", "default", 1, t0)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Record with an ended context: %v, want context.Canceled", err)
		}
		if _, err := db.RecordAll(done, []parking.Transition{Parked("call-1", "default", 1, t0)}); !errors.Is(err, context.Canceled) {
			t.Fatalf("RecordAll with an ended context: %v, want context.Canceled", err)
		}
		if occ, err := db.Occupied(context.Background()); err != nil || len(occ) != 0 {
			t.Fatalf("occupied after refused writes: %v, %v", occ, err)
		}
		// A context that ends during the write: 200 transitions, cancelled
		// the moment RecordAll has checked it, so the write itself runs under
		// an ended context. All are written or none (the transaction); with
		// the write detached from the context, all.
		ctx := endsOnCheck(context.Background())
		ts := make([]parking.Transition, 200)
		for i := range ts {
			ts[i] = Parked(parking.CallID(fmt.Sprintf("c-%d", i)), "default", i+1, t0)
		}
		if _, err := db.RecordAll(ctx, ts); err != nil {
			t.Fatalf("RecordAll cut short: %v", err)
		}
		if occ, _ := db.Occupied(context.Background()); len(occ) != len(ts) {
			t.Fatalf("%d occupied, want %d", len(occ), len(ts))
		}
	})
}

// Ensure a call that left while being parked (an abandoned row with no
// parked row before it) is recorded, holds no slot and opens no session,
// so the reports do not count a park that never happened.
func TestDB_Record_AbandonedWhileParking(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)
		MustRecord(t, db, parking.Transition{
			At: t0, Event: parking.EventAbandoned, Lot: "default", Slot: 202, Call: "left",
			Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}, Reason: "caller left before the park completed",
		})
		rows, err := db.History(ctx, store.HistoryFilter{Call: "left"})
		if err != nil || len(rows) != 1 || rows[0].Event != parking.EventAbandoned {
			t.Fatalf("history=%+v, %v; want one abandoned row", rows, err)
		}
		if occ, err := db.Occupied(ctx); err != nil || len(occ) != 0 {
			t.Fatalf("occupied=%v, %v; want none", occ, err)
		}
		if s, err := db.Sessions(ctx, t0.Add(-time.Hour), t0.Add(time.Hour)); err != nil || len(s) != 0 {
			t.Fatalf("sessions=%+v, %v; want none", s, err)
		}
	})
}

// Ensure two stores on one database, as two parkd processes would hold
// it, never put two calls in one slot: of parks racing into the same slot
// from both, exactly one wins and the others fail with ErrSlotTaken; the
// occupancy and the history agree.
func TestDB_Record_ConcurrentWriters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		loc := b.newLoc(t)
		dbs := []*store.DB{b.openAt(t, loc), b.openAt(t, loc)}
		const rounds, n = 5, 20
		for round := range rounds {
			slot := round + 1
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					call := parking.CallID(fmt.Sprintf("call-%d-%d", round, i))
					errs[i] = dbs[i%2].Record(ctx, Parked(call, "default", slot, t0))
				})
			}
			wg.Wait()
			var won int
			for i, err := range errs {
				switch {
				case err == nil:
					won++
				case !errors.Is(err, parking.ErrSlotTaken):
					t.Fatalf("round %d park %d: err=%v, want nil or %v", round, i, err, parking.ErrSlotTaken)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d winners, want 1", round, won)
			}
		}
		occ, err := dbs[1].Occupied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(occ), rounds; got != want {
			t.Fatalf("occupied=%v, want %d slots", slotsOf(occ), want)
		}
		if got, want := HistoryLen(t, dbs[0]), rounds; got != want {
			t.Fatalf("history=%d rows, want %d", got, want)
		}
	})
}

// endsOnCheck returns a context that is cancelled by the first call of its
// Err, which still reports nil: a write that checks its context before it
// starts then runs under a context that has ended, without a race against
// a timer.
func endsOnCheck(parent context.Context) context.Context {
	ctx, cancel := context.WithCancel(parent)
	return &cancelOnCheck{Context: ctx, cancel: cancel}
}

type cancelOnCheck struct {
	context.Context
	cancel  context.CancelFunc
	checked atomic.Bool
}

func (c *cancelOnCheck) Err() error {
	if !c.checked.Swap(true) {
		c.cancel()
		return nil
	}
	return c.Context.Err()
}
