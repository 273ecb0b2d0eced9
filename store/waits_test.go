package store_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storetest"
)

// Ensure the wait distribution over the fixture is the one computed by
// hand from storetest.Transitions: picked-up and abandoned waits fall in
// [min, max) buckets (60 s exactly is in the 60 s to 120 s bucket), calls
// still parked, lost or sent to the fallback are left out, and the buckets
// add up to the report's figures for the same window.
func TestDB_WaitBuckets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.openFixture(t)
		s := time.Second
		bounds := []time.Duration{30 * s, 60 * s, 120 * s, 300 * s}
		got, err := db.WaitBuckets(ctx, storetest.Base(), storetest.WindowEnd(), nil, bounds)
		if err != nil {
			t.Fatal(err)
		}
		want := []store.WaitBucket{
			{Min: 0, Max: 30 * s, PickedUp: 3, Abandoned: 1},      // b 10s, p 5s, e 20.001s; m 15s
			{Min: 30 * s, Max: 60 * s, PickedUp: 2, Abandoned: 1}, // q 45.5s, m 30s; d 40s
			{Min: 60 * s, Max: 120 * s, PickedUp: 2},              // j 60s, n 60s
			{Min: 120 * s, Max: 300 * s, PickedUp: 3},             // c 190s, g 125s, l 130s
			{Min: 300 * s}, // k 300s was lost: not counted
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("WaitBuckets=%+v\nwant %+v", got, want)
		}
		rep, err := db.Report(ctx, store.ReportQuery{From: storetest.Base(), To: storetest.WindowEnd()})
		if err != nil {
			t.Fatal(err)
		}
		var picked, abandoned int
		for _, b := range got {
			picked, abandoned = picked+b.PickedUp, abandoned+b.Abandoned
		}
		if picked != rep.Total.PickedUp() || abandoned != rep.Total.Abandoned {
			t.Fatalf("buckets add up to %d picked up, %d abandoned; the report says %d, %d",
				picked, abandoned, rep.Total.PickedUp(), rep.Total.Abandoned)
		}

		for name, b := range map[string][]time.Duration{
			"none": nil, "zero": {0, s}, "descending": {2 * s, s}, "repeated": {s, s},
		} {
			if _, err := db.WaitBuckets(ctx, storetest.Base(), storetest.WindowEnd(), nil, b); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("bounds %s: err=%v, want ErrInvalid", name, err)
			}
		}
		if _, err := db.WaitBuckets(ctx, storetest.WindowEnd(), storetest.Base(), nil, bounds); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("reversed window: err=%v, want ErrInvalid", err)
		}
	})
}
