package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// inDomain is t (from Parked or Retrieved) in domain d.
func inDomain(t parking.Transition, d string) parking.Transition {
	t.Domain = d
	if t.Occupancy != nil {
		o := *t.Occupancy
		o.Domain = d
		t.Occupancy = &o
	}
	return t
}

// Ensure two domains hold the same lot and slot at once, each domain's
// rows carry it, and the filters and the report by domain keep them apart.
func TestDB_Tenants(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)
		MustRecord(t, db, inDomain(Parked("ann", "main", 202, t0), "a.example"))
		MustRecord(t, db, inDomain(Parked("bob", "main", 202, t0.Add(time.Second)), "b.example"))
		MustRecord(t, db, Parked("cat", "main", 202, t0.Add(2*time.Second))) // a lot without a domain

		// The same slot of the same lot in the same domain is still refused.
		err := db.Record(ctx, inDomain(Parked("dan", "main", 202, t0.Add(3*time.Second)), "b.example"))
		if !errors.Is(err, parking.ErrSlotTaken) {
			t.Fatalf("second call in b.example/main/202: %v, want ErrSlotTaken", err)
		}
		occ, err := db.Occupied(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, o := range occ {
			got = append(got, o.Domain+"/"+string(o.Call))
		}
		if want := []string{"/cat", "a.example/ann", "b.example/bob"}; !slices.Equal(got, want) {
			t.Fatalf("occupied=%v, want %v", got, want)
		}
		if p, err := db.Parked(ctx); err != nil || len(p) != 3 || p[2].Domain != "b.example" {
			t.Fatalf("parked=%+v, %v", p, err)
		}

		MustRecord(t, db, inDomain(Retrieved("bob", "main", 202, t0.Add(time.Second), 30*time.Second), "b.example"))

		rows, err := db.History(ctx, store.HistoryFilter{Domains: []string{"b.example"}})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0].Call != "bob" || rows[1].Event != parking.EventRetrieved || rows[1].Domain != "b.example" {
			t.Fatalf("b.example's history=%+v", rows)
		}
		if rows, _ := db.History(ctx, store.HistoryFilter{Domains: []string{}}); len(rows) != 0 {
			t.Fatalf("an empty domain list selected %d rows", len(rows))
		}
		if rows, _ := db.History(ctx, store.HistoryFilter{Domains: []string{""}}); len(rows) != 1 || rows[0].Call != "cat" {
			t.Fatalf("rows of lots without a domain: %+v", rows)
		}
		if b, _ := rows[1].MarshalJSON(); !strings.Contains(string(b), `"lot":"main","domain":"b.example","slot":202`) {
			t.Fatalf("JSON %s has no domain after the lot", b)
		}
		if rows, _ := db.History(ctx, store.HistoryFilter{Call: "cat"}); len(rows) != 1 {
			t.Fatal("cat's row")
		} else if b, _ := rows[0].MarshalJSON(); strings.Contains(string(b), "domain") {
			t.Fatalf("a row without a domain grew a domain key: %s", b)
		}

		// Notes name the slot of their own domain.
		n, err := db.AddNote(ctx, "a.example", "main", 202, "wants Dr. A", t0.Add(time.Minute))
		if err != nil || n.Call != "ann" || n.Domain != "a.example" {
			t.Fatalf("note in a.example: %+v, %v", n, err)
		}
		if _, err := db.AddNote(ctx, "b.example", "main", 202, "x", t0.Add(time.Minute)); !errors.Is(err, parking.ErrSlotEmpty) {
			t.Fatalf("note in b.example's empty slot: %v", err)
		}
		if notes, _ := db.Notes(ctx, store.HistoryFilter{Domains: []string{"b.example"}}); len(notes) != 0 {
			t.Fatalf("b.example sees notes %+v", notes)
		}
		if notes, _ := db.Notes(ctx, store.HistoryFilter{Domains: []string{"a.example"}}); len(notes) != 1 || notes[0].Domain != "a.example" {
			t.Fatalf("a.example's notes %+v", notes)
		}

		q := store.ReportQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour), By: store.ByDomain}
		rep, err := db.Report(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var groups []string
		for _, g := range rep.Groups {
			groups = append(groups, g.Group)
		}
		if !slices.Equal(groups, []string{"", "a.example", "b.example"}) || rep.Groups[2].Retrieved != 1 || rep.Groups[1].Open != 1 || rep.Total.Parked != 3 {
			t.Fatalf("report by domain: %+v", rep)
		}
		q.By, q.Domains = store.ByLot, []string{"a.example"}
		if rep, err = db.Report(ctx, q); err != nil {
			t.Fatal(err)
		}
		if len(rep.Groups) != 1 || rep.Total.Parked != 1 || rep.Total.Open != 1 || rep.Total.Retrieved != 0 {
			t.Fatalf("a.example's report by lot: %+v", rep)
		}
		if ss, _ := db.Sessions(ctx, time.Time{}, time.Time{}); len(ss) != 3 || ss[1].Domain != "b.example" {
			t.Fatalf("sessions=%+v", ss)
		}
		bounds := []time.Duration{time.Minute}
		for d, want := range map[string]int{"a.example": 0, "b.example": 1} {
			w, err := db.WaitBuckets(ctx, q.From, q.To, []string{d}, bounds)
			if err != nil || w[0].PickedUp != want {
				t.Fatalf("%s's waits %+v, %v; want %d picked up", d, w, err, want)
			}
		}
	})
}

// Ensure a database at schema version 6, with rows, is migrated to 7: every
// row kept with domain "", the occupancy's key widened to the domain, and
// the views gain a domain column.
func TestDB_Open_MigratesVersion6(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parkd.db")
	if err := store.MigrateTo(path, 6); err != nil {
		t.Fatal(err)
	}
	raw := RawDB(t, path)
	if _, err := raw.Exec(`
		INSERT INTO history (id, at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms) VALUES
		(7, '2025-03-04T09:11:12.345Z', 'main', 701, 'call-1', '+15550100', 'Jane Roe', '1001', 'parked', '', '', 0),
		(8, '2025-03-04T09:12:12.345Z', 'main', 701, 'call-1', '+15550100', 'Jane Roe', '1001', 'retrieved', '', '1202', 60000),
		(9, '2025-03-04T09:13:00.000Z', 'main', 702, 'call-2', '+15550111', 'Al', '1002', 'parked', '', '', 0);
		INSERT INTO sessions (id, call_uuid, lot, slot, caller_number, caller_name, parker, parked_at, recall_attempts, ended_id, ended_at, outcome, retriever, wait_ms) VALUES
		(7, 'call-1', 'main', 701, '+15550100', 'Jane Roe', '1001', '2025-03-04T09:11:12.345Z', 0, 8, '2025-03-04T09:12:12.345Z', 'retrieved', '1202', 60000),
		(9, 'call-2', 'main', 702, '+15550111', 'Al', '1002', '2025-03-04T09:13:00.000Z', 0, NULL, NULL, NULL, '', NULL);
		INSERT INTO notes (at, session_id, call_uuid, lot, slot, caller_number, caller_name, parker, text) VALUES
		('2025-03-04T09:13:30.000Z', 9, 'call-2', 'main', 702, '+15550111', 'Al', '1002', 'wants billing');
		INSERT INTO occupancy VALUES ('main', 702, 'call-2', '+15550111', 'Al', '1002', '2025-03-04T09:13:00.000Z', '2025-03-04T09:15:00.000Z', 'pbx.example.com', 1, 'dlg@pbx')`); err != nil {
		t.Fatal(err)
	}
	before := schemaObjects(t, raw)
	raw.Close()

	db := MustOpenPath(t, path)
	var version int
	if err := db.ReadPool().QueryRow(`SELECT MAX(version) FROM schema_migrations`).Scan(&version); err != nil {
		t.Fatal(err)
	}
	if version != schemaVersion {
		t.Fatalf("schema version=%d, want %d", version, schemaVersion)
	}
	raw = RawDB(t, path)
	if after := schemaObjects(t, raw); !slices.Equal(after, before) {
		t.Fatalf("schema objects after the migration:\n%v\nbefore:\n%v", after, before)
	}
	occ, err := db.Occupied(ctx)
	if err != nil || len(occ) != 1 || occ[0].Call != "call-2" || occ[0].Domain != "" || occ[0].Dialog != "dlg@pbx" ||
		occ[0].Attempts != 1 || occ[0].ParkerDomain != "pbx.example.com" {
		t.Fatalf("occupancy after the migration: %+v, %v", occ, err)
	}
	hist, err := db.History(ctx, store.HistoryFilter{Domains: []string{""}})
	if err != nil || len(hist) != 3 || hist[1].Retriever != "1202" {
		t.Fatalf("history after the migration: %+v, %v", hist, err)
	}
	var n int
	for _, view := range []string{"park_sessions", "park_history", "park_notes"} {
		if err := raw.QueryRow(`SELECT COUNT(*) FROM ` + view + ` WHERE domain = ''`).Scan(&n); err != nil || n == 0 {
			t.Fatalf("%s.domain: %d rows, %v", view, n, err)
		}
	}
	if _, err := raw.Exec(`DELETE FROM history WHERE id = 7`); err == nil {
		t.Fatal("history is no longer append-only")
	}
	// The old single-tenant call's slot is free in a domain: slot 702 of
	// lot main in b.example takes a call beside it.
	at := time.Date(2025, 3, 4, 9, 14, 0, 0, time.UTC)
	MustRecord(t, db, inDomain(Parked("call-3", "main", 702, at), "b.example"))
	if err := db.Record(ctx, Parked("call-4", "main", 702, at)); !errors.Is(err, parking.ErrSlotTaken) {
		t.Fatalf("main/702 without a domain taken twice: %v", err)
	}
	ss, err := db.Sessions(ctx, time.Time{}, time.Time{})
	if err != nil || len(ss) != 3 || ss[1].Note != "wants billing" || ss[2].Domain != "b.example" {
		t.Fatalf("sessions: %+v, %v", ss, err)
	}
}
