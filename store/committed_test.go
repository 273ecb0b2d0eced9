package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Ensure OnCommit is told every row written, by Record and by RecordAll,
// exactly as History returns it afterwards (IDs included), and never a row
// the store refused; and that AfterID resumes the history after a row.
func TestDB_OnCommit(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.newDB(t)
		var told []store.HistoryRow
		db.OnCommit(func(rows []store.HistoryRow) { told = append(told, rows...) })
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })

		MustRecord(t, db, Parked("call-1", "default", 202, t0))
		clash := Parked("call-2", "default", 202, t0) // the slot is call-1's: refused
		refused, err := db.RecordAll(ctx, []parking.Transition{
			Parked("call-3", "default", 203, t0),
			clash,
			Retrieved("call-1", "default", 202, t0, 1500*time.Microsecond+2*time.Second),
		})
		if err != nil {
			t.Fatal(err)
		}
		if refused[1] == nil {
			t.Fatal("the clashing park was not refused")
		}
		all, err := db.History(ctx, store.HistoryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(all) != 3 {
			t.Fatalf("history has %d rows, want 3", len(all))
		}
		if !reflect.DeepEqual(told, all) {
			t.Fatalf("OnCommit was told\n%+v\nthe history holds\n%+v", told, all)
		}

		after, err := db.History(ctx, store.HistoryFilter{AfterID: all[0].ID})
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(after, all[1:]) {
			t.Fatalf("AfterID %d gave %+v, want %+v", all[0].ID, after, all[1:])
		}
		if _, err := db.History(ctx, store.HistoryFilter{AfterID: -1}); err == nil {
			t.Fatal("a negative AfterID was accepted")
		}
	})
}
