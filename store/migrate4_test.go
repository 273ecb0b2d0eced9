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

// replaced is the transition of a consult call parked in lot/slot at
// parkedAt handing its slot to the call of an attended transfer, wait later.
func replaced(call parking.CallID, lot string, slot int, parkedAt time.Time, wait time.Duration) parking.Transition {
	return parking.Transition{
		At: parkedAt.Add(wait), Event: parking.EventReplaced, Lot: lot, Slot: slot, Call: call,
		Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}, Parker: "1001",
		Reason: "attended transfer: replaced by held", Wait: wait,
	}
}

// Ensure a database parkd left at schema version 3, with rows, is migrated
// to version 4 by Open keeping every row, index, trigger and view, and then
// takes 'replaced' rows, which version 3 refused.
func TestDB_Open_MigratesVersion3(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parkd.db")
	if err := store.MigrateTo(path, 3); err != nil {
		t.Fatal(err)
	}
	// Rows as parkd 0003 wrote them: one call parked and retrieved, with
	// a note, and one still parked (occupancy of 10 columns).
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
		INSERT INTO occupancy VALUES ('main', 702, 'call-2', '+15550111', 'Al', '1002', '2025-03-04T09:13:00.000Z', '2025-03-04T09:15:00.000Z', 'pbx.example.com', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO history (at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms)
		VALUES ('2025-03-04T09:14:00.000Z', 'main', 702, 'call-2', '', '', '', 'replaced', '', '', 0)`); err == nil ||
		!strings.Contains(err.Error(), "CHECK") {
		t.Fatalf("version 3 took a 'replaced' row: %v", err)
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
	if !slices.Equal(ids, []int64{7, 8, 9}) || hist[1].Event != parking.EventRetrieved || hist[1].Retriever != "1202" {
		t.Fatalf("history after the migration: %+v", hist)
	}
	ss, err := db.Sessions(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Outcome != parking.EventRetrieved || ss[0].Note != "wants billing" || ss[1].Outcome != "" {
		t.Fatalf("sessions after the migration: %+v", ss)
	}
	occ, err := db.Occupied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(occ) != 1 || occ[0].Call != "call-2" || occ[0].ParkerDomain != "pbx.example.com" || occ[0].Dialog != "" {
		t.Fatalf("occupancy after the migration: %+v", occ)
	}
	// The history is still append-only.
	if _, err := raw.Exec(`UPDATE history SET reason = 'x' WHERE id = 7`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("update of a history row: %v", err)
	}
	if _, err := raw.Exec(`DELETE FROM history WHERE id = 7`); err == nil || !strings.Contains(err.Error(), "append-only") {
		t.Fatalf("delete of a history row: %v", err)
	}

	parkedAt := time.Date(2025, 3, 4, 9, 13, 0, 0, time.UTC)
	r := replaced("call-2", "main", 702, parkedAt, time.Minute)
	r.Parker, r.Caller = "1002", parking.Caller{Name: "Al", Number: "+15550111"}
	MustRecord(t, db, r)
	ss, err = db.Sessions(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if s := ss[1]; s.Outcome != parking.EventReplaced || s.Wait != time.Minute || !s.EndedAt.Equal(parkedAt.Add(time.Minute)) {
		t.Fatalf("replaced session: %+v", s)
	}
	if occ, _ := db.Occupied(ctx); len(occ) != 0 {
		t.Fatalf("occupancy after replaced: %+v", occ)
	}
	var event string
	if err := raw.QueryRow(`SELECT event FROM park_history ORDER BY id DESC LIMIT 1`).Scan(&event); err != nil || event != "replaced" {
		t.Fatalf("park_history's last event=%q, %v", event, err)
	}
}

// Ensure a parked call's SIP dialog is stored and read back, also by a
// parkd that opens the file again.
func TestDB_DialogRoundTrip(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parkd.db")
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	p := Parked("call-1", "main", 701, t0)
	p.Occupancy.Dialog = "a84b4c76e66710@pc33.example.com"
	MustRecord(t, db, p)
	MustRecord(t, db, Parked("call-2", "main", 702, t0))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = MustOpenPath(t, path)
	occ, err := db.Occupied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(occ) != 2 || occ[0].Dialog != "a84b4c76e66710@pc33.example.com" || occ[1].Dialog != "" {
		t.Fatalf("occupied=%+v", occ)
	}
	parked, err := db.Parked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(parked) != 2 || parked[0].Dialog != "a84b4c76e66710@pc33.example.com" {
		t.Fatalf("parked=%+v", parked)
	}
}

// Ensure reports leave out the stays of attended transfers' consult calls
// (replaced), which the history and the sessions still show.
func TestDB_ReportExcludesReplaced(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t)
	at := t0.Add(time.Second)
	MustRecord(t, db, Parked("consult", "main", 701, t0))
	MustRecord(t, db, replaced("consult", "main", 701, t0, time.Second))
	MustRecord(t, db, Parked("held", "main", 701, at))
	MustRecord(t, db, Retrieved("held", "main", 701, at, time.Minute))
	rep, err := db.Report(ctx, store.ReportQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Parked != 1 || rep.Total.Retrieved != 1 || rep.Total.Open != 0 || len(rep.Groups) != 1 {
		t.Fatalf("report=%+v", rep)
	}
	hist, err := db.History(ctx, store.HistoryFilter{Call: "consult"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[1].Event != parking.EventReplaced {
		t.Fatalf("consult history=%+v", hist)
	}
	ss, err := db.Sessions(ctx, time.Time{}, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Outcome != parking.EventReplaced || ss[1].Outcome != parking.EventRetrieved {
		t.Fatalf("sessions=%+v", ss)
	}
	// Only consult calls in a window: no group at all.
	rep, err = db.Report(ctx, store.ReportQuery{From: t0, To: t0.Add(time.Millisecond)})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Total.Parked != 0 || len(rep.Groups) != 0 {
		t.Fatalf("report of consult calls only=%+v", rep)
	}
}
