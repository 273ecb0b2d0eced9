package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkd/parkd/cli"
)

// Ensure gen-history makes a database that parkd report reads, and never
// writes over an existing file.
func TestGenHistory(t *testing.T) {
	gen := filepath.Join(t.TempDir(), "gen.db")
	var out, errb bytes.Buffer
	err := runGenHistory(context.Background(), []string{"--db", gen, "--rows", "3000", "--seed", "5", "--days", "30", "--end", "2026-11-01"}, &out, &errb)
	if err != nil || !strings.Contains(out.String(), "3000 history rows") {
		t.Fatalf("gen-history: %v\n%s%s", err, &out, &errb)
	}
	out.Reset()
	err = cli.Run(context.Background(), []string{"report", "--db", gen, "--from", "2026-09-01", "--to", "2026-11-02", "--json"}, &out, &errb)
	if err != nil || !strings.Contains(out.String(), `"parked": 1`) {
		t.Fatalf("report on generated db: %v\n%s", err, &out)
	}
	err = runGenHistory(context.Background(), []string{"--db", gen, "--rows", "10"}, &out, &errb)
	if cli.ExitCode(err, &errb) != 1 {
		t.Fatalf("gen-history over an existing file: %v, want exit 1", err)
	}
}
