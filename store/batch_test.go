package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Ensure RecordAll writes a batch in one transaction and refuses only the
// transitions Record would refuse, at their index, keeping the rest.
func TestDB_RecordAll(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		ctx := context.Background()
		invalid := Parked("", "default", 3, t0)
		refused, err := db.RecordAll(ctx, []parking.Transition{
			Parked("a", "default", 1, t0),
			Parked("b", "default", 1, t0), // slot 1 is a's
			Parked("c", "default", 2, t0),
			invalid,
			Retrieved("a", "default", 1, t0, time.Second),
		})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []error{nil, parking.ErrSlotTaken, nil, store.ErrInvalid, nil} {
			if got := refused[i]; (want == nil) != (got == nil) || (want != nil && !errors.Is(got, want)) {
				t.Errorf("refused[%d]=%v, want %v", i, got, want)
			}
		}
		occ, err := db.Occupied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(occ) != 1 || occ[0].Call != "c" {
			t.Fatalf("occupancy=%+v, want only c", occ)
		}
		rows, err := db.History(ctx, store.HistoryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 3 {
			t.Fatalf("%d history rows, want 3 (a parked, c parked, a retrieved)", len(rows))
		}
	})
}

// BenchmarkRecordAll writes park+retrieve pairs in batches of 64, as the
// daemon's journal does under load; compare rows/s with BenchmarkRecord.
func BenchmarkRecordAll(b *testing.B) {
	benchEachBackend(b, benchmarkRecordAll)
}

func benchmarkRecordAll(b *testing.B, be backend) {
	db := be.open(b)
	ctx := context.Background()
	var i int
	batch := make([]parking.Transition, 0, 64)
	for b.Loop() {
		batch = batch[:0]
		for len(batch) < cap(batch) {
			call := parking.CallID(fmt.Sprintf("call-%d", i))
			slot := i%100 + 1
			at := t0.Add(time.Duration(i) * time.Second)
			batch = append(batch, Parked(call, "default", slot, at), Retrieved(call, "default", slot, at, 1500*time.Millisecond))
			i++
		}
		refused, err := db.RecordAll(ctx, batch)
		if err != nil {
			b.Fatal(err)
		}
		for _, r := range refused {
			if r != nil {
				b.Fatal(r)
			}
		}
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "rows/s")
}

// Ensure RecordAll undoes a refused transition whole, as Record does: a
// call that tries to move onto a slot another call holds keeps its own
// slot, and nothing of the move is written.
func TestDB_RecordAll_RefusedMove(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		ctx := context.Background()
		refused, err := db.RecordAll(ctx, []parking.Transition{
			Parked("a", "default", 1, t0),
			Parked("b", "default", 2, t0),
			Parked("b", "default", 1, t0.Add(time.Second)), // slot 1 is a's
		})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(refused[2], parking.ErrSlotTaken) {
			t.Fatalf("refused[2]=%v, want %v", refused[2], parking.ErrSlotTaken)
		}
		wantOccupied(t, db, "[default/1=a default/2=b]")
		if got, want := HistoryLen(t, db), 2; got != want {
			t.Fatalf("history=%d, want %d", got, want)
		}
	})
}

// Ensure a batch in which many transitions are refused, here and there,
// writes every other one, in order: on PostgreSQL each refusal ends a
// pipeline and the rest are sent again.
func TestDB_RecordAll_ManyRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		ctx := context.Background()
		MustRecord(t, db, Parked("holder-1", "default", 1, t0))
		MustRecord(t, db, Parked("holder-3", "default", 3, t0))
		var ts []parking.Transition
		var want []error
		for i := range 12 {
			slot := i%4 + 1 // slots 1 and 3 are held
			ts = append(ts, Parked(parking.CallID(fmt.Sprintf("call-%d", i)), "default", slot, t0.Add(time.Duration(i)*time.Second)))
			if slot == 1 || slot == 3 || i >= 4 {
				want = append(want, parking.ErrSlotTaken) // 2 and 4 are taken by calls 1 and 3 of this batch
			} else {
				want = append(want, nil)
			}
		}
		refused, err := db.RecordAll(ctx, ts)
		if err != nil {
			t.Fatal(err)
		}
		for i := range ts {
			if (want[i] == nil) != (refused[i] == nil) || (want[i] != nil && !errors.Is(refused[i], want[i])) {
				t.Errorf("refused[%d]=%v, want %v", i, refused[i], want[i])
			}
		}
		wantOccupied(t, db, "[default/1=holder-1 default/2=call-1 default/3=holder-3 default/4=call-3]")
		rows, err := db.History(ctx, store.HistoryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var calls []string
		for i, r := range rows {
			calls = append(calls, string(r.Call))
			if i > 0 && r.ID <= rows[i-1].ID {
				t.Fatalf("ids not rising: %+v", rows)
			}
		}
		if got, want := fmt.Sprint(calls), "[holder-1 holder-3 call-1 call-3]"; got != want {
			t.Fatalf("history calls=%s, want %s", got, want)
		}
	})
}
