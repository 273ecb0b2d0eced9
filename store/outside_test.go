package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// TestOutsideLockoutSurvivesRestart drives the domain's lockout rules over
// a real database file, closes it (a parkd restart) and reopens it: the
// counts and the locks are still there.
func TestOutsideLockoutSurvivesRestart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		loc := b.newLoc(t)
		now := t0
		clock := func() time.Time { return now }
		r := parking.DefaultLockout()

		db := loc.New()
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		g := parking.Guard{Store: db, Now: clock}
		for i := range 4 {
			now = now.Add(time.Minute)
			if v, err := g.Failed(ctx, r, "", "main", "+15550100"); err != nil || v != (parking.Verdict{}) {
				t.Fatalf("failure %d: %+v, %v", i+1, v, err)
			}
		}
		if err := db.Close(); err != nil { // restart
			t.Fatal(err)
		}

		db = b.openAt(t, loc)
		g.Store = db
		now = now.Add(time.Minute)
		v, err := g.Failed(ctx, r, "", "main", "+15550100")
		if err != nil || !v.NumberLocked || v.LotLocked {
			t.Fatalf("fifth failure after a restart: %+v, %v; want the number locked", v, err)
		}
		for _, c := range []struct {
			lot, number string
			want        bool
		}{{"main", "+15550100", true}, {"main", "+15550199", false}, {"other", "+15550100", false}} {
			if got, err := g.Locked(ctx, "", c.lot, c.number); err != nil || got != c.want {
				t.Errorf("Locked(%s, %s) = %v, %v; want %v", c.lot, c.number, got, err, c.want)
			}
		}
		now = now.Add(r.NumberLock + time.Millisecond)
		if got, _ := g.Locked(ctx, "", "main", "+15550100"); got {
			t.Error("still locked after the lock's end")
		}
	})
}

func TestOutsideLotLockAndClear(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)
		now := t0
		g := parking.Guard{Store: db, Now: func() time.Time { return now }}
		r := parking.DefaultLockout()
		var last parking.Verdict
		for i := range 20 {
			now = now.Add(2 * time.Minute)
			v, err := g.Failed(ctx, r, "", "main", "+1555"+string(rune('a'+i)))
			if err != nil {
				t.Fatal(err)
			}
			last = v
		}
		if !last.LotLocked {
			t.Fatalf("20 failures in 40 minutes: %+v, want the lot locked", last)
		}
		if got, _ := g.Locked(ctx, "", "main", "+15559999"); !got {
			t.Fatal("a number that never failed is not refused by a lot lock")
		}
		if n, err := db.ClearOutside(ctx, "", "main", ""); err != nil || n != 1 {
			t.Fatalf("ClearOutside = %d, %v; want 1 lock lifted", n, err)
		}
		if got, _ := g.Locked(ctx, "", "main", "+15559999"); got {
			t.Fatal("still locked after ClearOutside")
		}
		now = now.Add(time.Minute)
		if v, _ := g.Failed(ctx, r, "", "main", "+1555a"); v != (parking.Verdict{}) {
			t.Fatalf("after ClearOutside the counts start again: %+v", v)
		}
	})
}

// The history takes the new events of outside pick-up.
func TestOutsideHistoryEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		for _, e := range []parking.Event{parking.EventPINFailed, parking.EventPINLocked} {
			MustRecord(t, db, parking.Transition{At: t0, Event: e, Lot: "main", Call: "outside-call",
				Caller: parking.Caller{Number: "+15550100"}, Reason: "wrong PIN"})
		}
		hist, err := db.History(context.Background(), store.HistoryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 2 || hist[0].Event != parking.EventPINFailed || hist[1].Event != parking.EventPINLocked {
			t.Fatalf("history %+v", hist)
		}
		MustRecord(t, db, parking.Transition{At: t0.Add(time.Second), Event: parking.EventPINFailed, Lot: "lobby", Call: "outside-2"})
		MustRecord(t, db, parking.Transition{At: t0.Add(time.Hour), Event: parking.EventPINFailed, Lot: "main", Call: "outside-3"})
		rows, err := db.PINReport(context.Background(), t0, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := []store.PINRow{{Lot: "lobby", Failed: 1}, {Lot: "main", Failed: 1, Locked: 1}}
		if len(rows) != 2 || rows[0] != want[0] || rows[1] != want[1] {
			t.Fatalf("PINReport = %+v, want %+v", rows, want)
		}
	})
}

// Two tenants' lots of the same name count and lock their wrong PINs
// apart, and the report and the history name each one's domain.
func TestOutsideDomainsApart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)
		now := t0
		g := parking.Guard{Store: db, Now: func() time.Time { return now }}
		r := parking.DefaultLockout()
		var last parking.Verdict
		for range r.NumberFailures {
			now = now.Add(time.Minute)
			v, err := g.Failed(ctx, r, "hospital-a.example", "main", "+15550100")
			if err != nil {
				t.Fatal(err)
			}
			last = v
		}
		if !last.NumberLocked {
			t.Fatalf("after %d failures: %+v, want the number locked", r.NumberFailures, last)
		}
		if got, _ := g.Locked(ctx, "hospital-a.example", "main", "+15550100"); !got {
			t.Fatal("the number is not locked out of hospital-a's lot")
		}
		for _, d := range []string{"hospital-b.example", ""} {
			if got, _ := g.Locked(ctx, d, "main", "+15550100"); got {
				t.Fatalf("hospital-a's lockout locks the lot main of domain %q", d)
			}
			if v, _ := g.Failed(ctx, r, d, "main", "+15550100"); v != (parking.Verdict{}) {
				t.Fatalf("domain %q counts hospital-a's failures: %+v", d, v)
			}
		}
		if n, err := db.ClearOutside(ctx, "hospital-b.example", "main", ""); err != nil || n != 0 {
			t.Fatalf("ClearOutside of hospital-b = %d, %v; want nothing lifted", n, err)
		}
		if got, _ := g.Locked(ctx, "hospital-a.example", "main", "+15550100"); !got {
			t.Fatal("clearing hospital-b lifted hospital-a's lockout")
		}
		if n, err := db.ClearOutside(ctx, "hospital-a.example", "main", "+15550100"); err != nil || n != 1 {
			t.Fatalf("ClearOutside of hospital-a = %d, %v; want 1", n, err)
		}

		for _, d := range []string{"hospital-b.example", "hospital-a.example", "hospital-a.example"} {
			MustRecord(t, db, parking.Transition{At: t0, Event: parking.EventPINFailed, Lot: "main", Domain: d, Call: parking.CallID("outside-" + d)})
		}
		rows, err := db.PINReport(ctx, t0, t0.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		want := []store.PINRow{{Domain: "hospital-a.example", Lot: "main", Failed: 2}, {Domain: "hospital-b.example", Lot: "main", Failed: 1}}
		if len(rows) != 2 || rows[0] != want[0] || rows[1] != want[1] {
			t.Fatalf("PINReport = %+v, want %+v", rows, want)
		}
		// The report (parkd report, GET /api/report) counts them for its
		// domains only, in every output.
		rep, err := db.Report(ctx, store.ReportQuery{From: t0, To: t0.Add(time.Minute), Domains: []string{"hospital-b.example"}})
		if err != nil || len(rep.Outside) != 1 || rep.Outside[0] != want[1] {
			t.Fatalf("hospital-b's report counts %+v, %v; want %+v", rep.Outside, err, want[1])
		}
		js := rep.JSON()
		if len(js.Outside) != 1 || js.Outside[0] != (store.PINRowJSON{Domain: "hospital-b.example", Lot: "main", WrongPINs: 1}) {
			t.Fatalf("report JSON outside_pickup = %+v", js.Outside)
		}
		if rep, err = db.Report(ctx, store.ReportQuery{From: t0, To: t0.Add(time.Minute)}); err != nil || len(rep.Outside) != 2 {
			t.Fatalf("every domain's report counts %+v, %v", rep.Outside, err)
		}
		hist, err := db.History(ctx, store.HistoryFilter{Domains: []string{"hospital-b.example"}})
		if err != nil || len(hist) != 1 || hist[0].Domain != "hospital-b.example" || hist[0].Event != parking.EventPINFailed {
			t.Fatalf("hospital-b's history = %+v, %v; want its one pin_failed", hist, err)
		}
	})
}
