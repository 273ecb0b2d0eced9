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

// Ensure parked50k's plan holds its calls parked throughout and puts the
// recalls due evenly at the recall rate once every call is parked: the
// planned deadline (park time plus the lot's timeout) of the i-th recalled
// call is the first deadline plus i/rate, and the first comes after the
// last held call's park.
func TestPlan_Parked50k(t *testing.T) {
	c, err := defaultBench("parked50k")
	if err != nil {
		t.Fatal(err)
	}
	lots, calls, err := plan(c)
	if err != nil {
		t.Fatal(err)
	}
	timeout := map[string]time.Duration{}
	size := map[string]int{}
	for _, l := range lots {
		timeout[l.name], size[l.name] = l.timeout, l.last-l.first+1
	}
	var deadlines []time.Duration
	var lastHold time.Duration
	count := map[fate]int{}
	perLot := map[string]int{}
	for _, pc := range calls {
		count[pc.fate]++
		switch pc.fate {
		case fateHold:
			lastHold = max(lastHold, pc.at)
			perLot[pc.lot]++
		case fateRecall:
			deadlines = append(deadlines, pc.at+timeout[pc.lot])
			perLot[pc.lot]++
		}
	}
	if count[fateHold] != 50_000 || count[fateRecall] != 6_000 {
		t.Fatalf("%d held and %d recalled, want 50,000 and 6,000 (100/s over 60 s)", count[fateHold], count[fateRecall])
	}
	for lot, n := range perLot {
		if n > size[lot] {
			t.Errorf("lot %s: %d calls for %d slots", lot, n, size[lot])
		}
	}
	if deadlines[0] <= lastHold {
		t.Errorf("first recall due at %v, before the last held call parks at %v", deadlines[0], lastHold)
	}
	for i, d := range deadlines {
		want := deadlines[0] + time.Duration(float64(i)/c.RecallRate*float64(time.Second))
		if diff := d - want; diff > time.Millisecond || diff < -time.Millisecond {
			t.Fatalf("recall %d due at %v, want %v: not evenly at %v/s", i, d, want, c.RecallRate)
		}
	}
	for _, l := range lots {
		if l.name != "recall" && l.timeout < deadlines[len(deadlines)-1]+time.Minute {
			t.Errorf("lot %s times out after %v, before the run ends: its calls would be recalled too", l.name, l.timeout)
		}
	}
	// Parks (background ones aside) arrive at the planned rate throughout
	// the fill: no second of it has more than one over.
	perSecond := map[int]int{}
	for _, pc := range calls {
		if pc.fate != fateRetrieve {
			perSecond[int(pc.at/time.Second)]++
		}
	}
	for sec, n := range perSecond {
		if n > int(c.Rate)+1 {
			t.Errorf("second %d of the fill has %d parks, over the rate of %v", sec, n, c.Rate)
		}
	}
}
