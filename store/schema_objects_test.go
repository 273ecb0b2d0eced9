package store_test

import (
	"database/sql"
	"testing"
)

// schemaObjects lists the tables, indexes, triggers and views of raw, as
// "type name", for the migration tests that check a migration keeps them.
// The webhooks' outbox (0006), outside pick-up's tables (0008), the
// standby lease (0009) and the nodes' hop tokens and beats (0010) are left
// out: the tests of older migrations see them appear.
func schemaObjects(t *testing.T, raw *sql.DB) []string {
	t.Helper()
	rows, err := raw.Query(`SELECT type || ' ' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite\_%' ESCAPE '\' AND tbl_name NOT IN ('webhook_outbox', 'outside_failures', 'outside_locks', 'parkd_lease', 'hop_tokens', 'node_beats') ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}
