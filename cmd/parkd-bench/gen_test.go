package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// Ensure the board scenario holds its calls parked past the probe's window
// and parks the steady load beside them in a lot of its own.
func TestPlanBoard(t *testing.T) {
	c, err := defaultBench("board")
	if err != nil {
		t.Fatal(err)
	}
	c.Calls, c.Duration, c.Rate = 100, 20*time.Second, 10
	lots, calls, err := plan(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(lots) != 2 || lots[0].last-lots[0].first+1 < c.Calls {
		t.Fatalf("lots %+v: want a held lot for %d calls and a main lot", lots, c.Calls)
	}
	_, _, end := boardWindow(c)
	held, steady := 0, 0
	for _, pc := range calls {
		switch pc.lot {
		case "held":
			held++
			if pc.fate != fateAbandon || pc.at+pc.wait <= end {
				t.Fatalf("held call %+v leaves before the probe ends at %v", pc, end)
			}
		case "main":
			steady++
			if pc.fate != fateRetrieve {
				t.Fatalf("steady call %+v is not retrieved", pc)
			}
		}
	}
	if held != 100 || steady != 200 {
		t.Fatalf("%d held and %d steady calls, want 100 and 200", held, steady)
	}
	c.Duration = time.Second
	if _, _, err := plan(c); err == nil {
		t.Fatal("a board run shorter than the probe's window was accepted")
	}
}
