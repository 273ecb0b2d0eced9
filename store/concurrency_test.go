package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storetest"
)

// Ensure reports never wait for the daemon's writes and the daemon's writes
// never wait for reports: a read-only report runs while another connection
// holds the write lock mid-transaction, and Record commits while a report's
// read is open. (Blocking would take the 5 s busy timeout and then fail.)
func TestDB_Report_WhileWriting(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		daemon := b.openFixture(t)
		ro, err := daemon.Location().OpenReadOnly()
		if err != nil {
			t.Fatal(err)
		}
		defer ro.Close()
		q := store.ReportQuery{From: storetest.Base(), To: storetest.WindowEnd()}

		t.Run("ReportDuringWrite", func(t *testing.T) {
			conn, err := daemon.WritePool().Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A write transaction left open, with an uncommitted session.
			begin := `BEGIN IMMEDIATE` // SQLite's write lock, as the daemon's writes take it
			if b.name == "postgres" {
				begin = `BEGIN`
			}
			if _, err := conn.ExecContext(ctx, begin); err != nil {
				t.Fatal(err)
			}
			defer conn.ExecContext(ctx, `ROLLBACK`)
			if _, err := conn.ExecContext(ctx, `INSERT INTO sessions (id, call_uuid, lot, slot, caller_number, caller_name, parker, parked_at)
			VALUES (999999, 'call-x', 'main', 299, '', '', '', '2026-11-02T08:30:00.000Z')`); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			rep, err := ro.Report(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if elapsed := time.Since(start); elapsed > time.Second {
				t.Fatalf("report took %v while a write was open", elapsed)
			}
			if got, want := rep.Total.Parked, 15; got != want {
				t.Fatalf("parked=%d, want %d: the report saw an uncommitted write", got, want)
			}
		})

		t.Run("WriteDuringReport", func(t *testing.T) {
			scan := `SELECT id FROM sessions INDEXED BY sessions_parked_at WHERE parked_at >= ?`
			if b.name == "postgres" {
				scan = `SELECT id FROM sessions WHERE parked_at >= $1`
			}
			rows, err := ro.ReadPool().QueryContext(ctx, scan, "")
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			if !rows.Next() { // the read transaction is now open
				t.Fatal("no sessions")
			}
			start := time.Now()
			MustRecord(t, daemon, Parked("call-y", "main", 298, storetest.Base().Add(time.Hour)))
			if elapsed := time.Since(start); elapsed > time.Second {
				t.Fatalf("record took %v while a report read", elapsed)
			}
			rows.Close()
			rep, err := ro.Report(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := rep.Total.Parked, 16; got != want {
				t.Fatalf("parked after the write=%d, want %d", got, want)
			}
		})
	})
}
