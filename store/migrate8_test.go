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

// Ensure a database at schema version 7, with rows of two domains, is
// migrated to 8 keeping every history row with its domain (0008 rebuilds
// history to take the outside pick-up's events), its indexes, triggers and
// views, and then takes pin_failed and pin_locked rows, which 7 refused.
func TestDB_Open_MigratesVersion7(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parkd.db")
	if err := store.MigrateTo(path, 7); err != nil {
		t.Fatal(err)
	}
	raw := RawDB(t, path)
	if _, err := raw.Exec(`
		INSERT INTO history (id, at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms, domain) VALUES
		(7, '2025-03-04T09:11:12.345Z', 'main', 701, 'call-1', '+15550100', 'Jane Roe', '1001', 'parked', '', '', 0, 'a.example'),
		(8, '2025-03-04T09:12:12.345Z', 'main', 701, 'call-1', '+15550100', 'Jane Roe', '1001', 'retrieved', '', '1202', 60000, 'a.example'),
		(9, '2025-03-04T09:13:00.000Z', 'main', 701, 'call-2', '+15550111', 'Al', '1002', 'parked', '', '', 0, 'b.example')`); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Exec(`INSERT INTO history (at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms)
		VALUES ('2025-03-04T09:14:00.000Z', 'main', 0, 'out-1', '+15550199', '', '', 'pin_failed', 'wrong PIN', '', 0)`); err == nil ||
		!strings.Contains(err.Error(), "CHECK") {
		t.Fatalf("version 7 took a pin_failed row: %v", err)
	}
	before := schemaObjects(t, raw)
	raw.Close()

	db := MustOpenPath(t, path)
	raw = RawDB(t, path)
	if after := schemaObjects(t, raw); !slices.Equal(after, before) {
		t.Fatalf("schema objects after the migration:\n%v\nbefore:\n%v", after, before)
	}
	hist, err := db.History(ctx, store.HistoryFilter{Domains: []string{"a.example"}})
	if err != nil || len(hist) != 2 || hist[0].ID != 7 || hist[1].Retriever != "1202" || hist[1].Domain != "a.example" {
		t.Fatalf("a.example's history after the migration: %+v, %v", hist, err)
	}
	var n int
	if err := raw.QueryRow(`SELECT COUNT(*) FROM park_history WHERE domain = 'b.example'`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("park_history.domain: %d rows of b.example, %v", n, err)
	}
	if _, err := raw.Exec(`DELETE FROM history WHERE id = 7`); err == nil {
		t.Fatal("history is no longer append-only")
	}
	at := time.Date(2025, 3, 4, 9, 14, 0, 0, time.UTC)
	MustRecord(t, db, parking.Transition{At: at, Event: parking.EventPINFailed, Lot: "main", Domain: "b.example",
		Call: "out-1", Caller: parking.Caller{Number: "+15550199"}, Reason: "wrong PIN"})
	rows, err := db.PINReport(ctx, at, at.Add(time.Second))
	if err != nil || len(rows) != 1 || rows[0] != (store.PINRow{Domain: "b.example", Lot: "main", Failed: 1}) {
		t.Fatalf("PINReport = %+v, %v", rows, err)
	}
}
