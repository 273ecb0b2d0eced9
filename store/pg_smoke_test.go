package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/parkd/parkd/internal/pgtest"
	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func TestPGSmoke(t *testing.T) {
	ctx := context.Background()
	db := store.NewPostgres(pgtest.DSN(t))
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, tr := range storetest.Transitions() {
		if err := db.Record(ctx, tr); err != nil {
			t.Fatal(err)
		}
	}
	rep, err := db.Report(ctx, store.ReportQuery{From: storetest.Base(), To: storetest.WindowEnd()})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", rep.Total)
	rows, err := db.History(ctx, store.HistoryFilter{Caller: "a", Limit: 3, Newest: true, Domains: []string{""}})
	t.Log(len(rows), err)
	p, err := db.Parked(ctx)
	t.Log(len(p), err)
	_, err = db.Prune(ctx, time.Now())
	t.Log(err)
}
