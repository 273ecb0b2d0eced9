package store_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Ensure a database parkd left at schema version 4, with rows, is migrated
// to version 5 by Open keeping every row, index, trigger and view, and then
// takes 'moved', 'extended' and 'hungup' rows, which version 4 refused.
func TestDB_Open_MigratesVersion4(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parkd.db")
	if err := store.MigrateTo(path, 4); err != nil {
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
		('2025-03-04T09:11:30.000Z', 7, 'call-1', 'main', 701, '+15550100', 'Jane Roe', '1001', 'wants billing');
		INSERT INTO occupancy VALUES ('main', 702, 'call-2', '+15550111', 'Al', '1002', '2025-03-04T09:13:00.000Z', '2025-03-04T09:15:00.000Z', 'pbx.example.com', 0, 'dlg@pbx')`); err != nil {
		t.Fatal(err)
	}
	for _, ev := range []string{"moved", "extended", "hungup"} {
		if _, err := raw.Exec(`INSERT INTO history (at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms)
		VALUES ('2025-03-04T09:14:00.000Z', 'main', 702, 'call-2', '', '', '', ?, '', '', 0)`, ev); err == nil ||
			!strings.Contains(err.Error(), "CHECK") {
			t.Fatalf("version 4 took a %q row: %v", ev, err)
		}
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
	hist, err := db.History(ctx, store.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, h := range hist {
		ids = append(ids, h.ID)
	}
	if !slices.Equal(ids, []int64{7, 8, 9}) || hist[1].Retriever != "1202" {
		t.Fatalf("history after the migration: %+v", hist)
	}
	ss, err := db.Sessions(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Outcome != parking.EventRetrieved || ss[0].Note != "wants billing" || ss[1].Outcome != "" {
		t.Fatalf("sessions after the migration: %+v", ss)
	}
	if occ, err := db.Occupied(ctx); err != nil || len(occ) != 1 || occ[0].Dialog != "dlg@pbx" {
		t.Fatalf("occupancy after the migration: %+v, %v", occ, err)
	}
	if _, err := raw.Exec(`DELETE FROM history WHERE id = 7`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("delete of a history row: %v", err)
	}

	// call-2 moves, is extended, and is hung up from the board: the stay
	// goes on through the first two and ends with the third.
	parkedAt := time.Date(2025, 3, 4, 9, 13, 0, 0, time.UTC)
	occ := parking.Occupant{Lot: "main", Slot: 705, Call: "call-2", Caller: parking.Caller{Name: "Al", Number: "+15550111"},
		Parker: "1002", ParkedAt: parkedAt, Deadline: parkedAt.Add(2 * time.Minute)}
	base := parking.Transition{Lot: "main", Slot: 705, Call: "call-2", Caller: occ.Caller, Parker: "1002", Retriever: "web:desk"}
	moved := base
	moved.At, moved.Event, moved.Reason, moved.Occupancy = parkedAt.Add(10*time.Second), parking.EventMoved, "from main/702", &occ
	MustRecord(t, db, moved)
	ext := base
	occ2 := occ
	occ2.Deadline = occ.Deadline.Add(time.Minute)
	ext.At, ext.Event, ext.Reason, ext.Occupancy = parkedAt.Add(20*time.Second), parking.EventExtended, "recall at ...", &occ2
	MustRecord(t, db, ext)
	if o, _ := db.Occupied(ctx); len(o) != 1 || o[0].Slot != 705 || !o[0].Deadline.Equal(occ2.Deadline) {
		t.Fatalf("occupancy after moved and extended: %+v", o)
	}
	if ss, _ = db.Sessions(ctx, time.Time{}, time.Time{}); ss[1].Outcome != "" {
		t.Fatalf("moved or extended ended the session: %+v", ss[1])
	}
	hung := base
	hung.At, hung.Event, hung.Wait = parkedAt.Add(time.Minute), parking.EventHungup, time.Minute
	MustRecord(t, db, hung)
	ss, _ = db.Sessions(ctx, time.Time{}, time.Time{})
	if s := ss[1]; s.Outcome != parking.EventHungup || s.Retriever != "web:desk" || s.Wait != time.Minute {
		t.Fatalf("hungup session: %+v", s)
	}
	if o, _ := db.Occupied(ctx); len(o) != 0 {
		t.Fatalf("occupancy after hungup: %+v", o)
	}
	// The report counts it with the abandoned; the earlier figures stay.
	rep, err := db.Report(ctx, store.ReportQuery{From: parkedAt.Add(-time.Hour), To: parkedAt.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if tot := rep.Total; tot.Parked != 2 || tot.Retrieved != 1 || tot.Abandoned != 1 || tot.Open != 0 {
		t.Fatalf("report=%+v", tot)
	}
}
