package store_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/parkd/parkd/store"
)

// Ensure OnNote is told every note AddNote writes, as AddNote returns it,
// and never a note the store refused.
func TestDB_OnNote(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.newDB(t)
		var told []store.Note
		db.OnNote(func(n store.Note) { told = append(told, n) })
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })

		MustRecord(t, db, Parked("call-1", "default", 202, t0))
		n, err := db.AddNote(ctx, "", "default", 202, "wants Dr. Smith", t0.Add(time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.AddNote(ctx, "", "default", 203, "nobody there", t0.Add(time.Second)); err == nil {
			t.Fatal("a note on an empty slot was accepted")
		}
		if _, err := db.AddNote(ctx, "", "default", 202, "", t0.Add(time.Second)); err == nil {
			t.Fatal("an empty note was accepted")
		}
		if want := []store.Note{n}; !reflect.DeepEqual(told, want) {
			t.Fatalf("OnNote was told %+v, want %+v", told, want)
		}
	})
}
