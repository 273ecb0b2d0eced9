package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storegen"
)

// BenchmarkReport1M measures reports over a generated history of 1,000,000
// rows (about 350,000 sessions over a year), on each backend. The history
// is generated only when the benchmark runs (go test -bench Report1M
// ./store/), which takes a few seconds and is logged; on PostgreSQL it is
// generated into SQLite and copied over with Copy, whose time is logged
// too.
func BenchmarkReport1M(b *testing.B) {
	benchEachBackend(b, benchmarkReport1M)
}

func benchmarkReport1M(b *testing.B, be backend) {
	ctx := context.Background()
	end := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	db := be.open(b)
	start := time.Now()
	be.generate(b, db, storegen.Options{Rows: 1_000_000, Seed: 1, End: end})
	b.Logf("%s: generated 1,000,000 rows in %v", be.name, time.Since(start).Round(time.Millisecond))

	for _, bb := range []struct {
		name string
		q    store.ReportQuery
	}{
		{"Year/ByLot", store.ReportQuery{From: end.AddDate(-1, 0, -1), To: end.Add(time.Hour), By: store.ByLot}},
		{"Year/ByHour", store.ReportQuery{From: end.AddDate(-1, 0, -1), To: end.Add(time.Hour), By: store.ByHour, Location: time.Local}},
		{"30d/ByParker", store.ReportQuery{From: end.AddDate(0, 0, -30), To: end, By: store.ByParker}},
		{"24h/ByLot", store.ReportQuery{From: end.Add(-24 * time.Hour), To: end, By: store.ByLot}},
	} {
		b.Run(bb.name, func(b *testing.B) {
			for b.Loop() {
				rep, err := db.Report(ctx, bb.q)
				if err != nil {
					b.Fatal(err)
				}
				if rep.Total.Parked == 0 {
					b.Fatal("empty report")
				}
			}
		})
	}
}
