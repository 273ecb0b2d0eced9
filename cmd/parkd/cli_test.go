package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/fsconf"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// cli runs parkd with args and returns its exit code and output.
func cli(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = exitCode(run(context.Background(), args, &out, &errb), &errb)
	return code, out.String(), errb.String()
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Ensure exit codes: 0 ok and --help, 1 failure, 2 usage.
func TestCLI_ExitCodes(t *testing.T) {
	good := writeFile(t, "good.toml", "[[lot]]\nname = \"main\"\nslots = \"201-220\"\n")
	bad := writeFile(t, "bad.toml", "[[lot]]\nname = \"main\"\nslots = \"220-201\"\n")
	for _, tc := range []struct {
		args []string
		code int
		out  string // in stdout or stderr
	}{
		{args: nil, code: 2, out: "no command"},
		{args: []string{"frobnicate"}, code: 2, out: "unknown command"},
		{args: []string{"serve", "--bogus"}, code: 2, out: "bogus"},
		{args: []string{"check", "extra"}, code: 2, out: "unexpected argument"},
		{args: []string{"slots", "--help"}, code: 0, out: "Usage: parkd slots"},
		{args: []string{"check", "-c", good}, code: 0, out: "OK: 1 lot(s)"},
		{args: []string{"check", "-c", bad}, code: 1, out: "lot[0].slots"},
		{args: []string{"check", "-c", filepath.Join(t.TempDir(), "missing.toml")}, code: 1, out: "missing.toml"},
		{args: []string{"check"}, code: 0, out: "built-in defaults"},
		{args: []string{"version"}, code: 0, out: "parkd "},
		{args: []string{"fsconf", "-c", good}, code: 0, out: `data="127.0.0.1:8084 async full"`},
		{args: []string{"slots", "--db", filepath.Join(t.TempDir(), "none.db")}, code: 1, out: "none.db"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := cli(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out+errOut, tc.out) {
				t.Fatalf("output lacks %q\nstdout: %s\nstderr: %s", tc.out, out, errOut)
			}
		})
	}
}

// Ensure the password in a config never reaches the output, even when the
// file is broken around it.
func TestCLI_PasswordNotPrinted(t *testing.T) {
	p := writeFile(t, "pw.toml", "[esl]\npassword = \"s3cret-Pw\"\nlisten = \"nope\"\n")
	_, out, errOut := cli(t, "check", "-c", p)
	if strings.Contains(out+errOut, "s3cret-Pw") {
		t.Fatalf("password printed: %s%s", out, errOut)
	}
}

// Ensure the tone parkd plays and the one the dialplan fallback plays are
// the same, so a caller hears one sound for "no".
func TestErrorToneMatchesDialplan(t *testing.T) {
	if esl.ErrorTone != fsconf.ErrorTone {
		t.Fatalf("esl.ErrorTone=%q, fsconf.ErrorTone=%q", esl.ErrorTone, fsconf.ErrorTone)
	}
}

// Ensure slots and history read a database (read-only) and print the
// documented shapes.
func TestCLI_SlotsHistory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	at := time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond)
	occ := parking.Occupant{Lot: "main", Slot: 202, Call: "c1", Caller: parking.Caller{Name: "Jane Roe", Number: "5550100"},
		Parker: "1000", ParkedAt: at, Deadline: at.Add(2 * time.Minute)}
	for _, tr := range []parking.Transition{
		{At: at, Event: parking.EventParked, Lot: "main", Slot: 202, Call: "c1", Caller: occ.Caller, Parker: "1000", Occupancy: &occ},
		{At: at, Event: parking.EventRejected, Lot: "main", Slot: 202, Call: "c2", Reason: "slot occupied"},
	} {
		if err := db.Record(context.Background(), tr); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()

	code, out, errOut := cli(t, "slots", "--db", path)
	if code != 0 || !strings.Contains(out, "Jane Roe <5550100>") || !strings.Contains(out, "1000") || !strings.Contains(out, "202") {
		t.Fatalf("slots: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = cli(t, "history", "--db", path, "--json")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 {
		t.Fatalf("history --json: exit %d, %d lines:\n%s", code, len(lines), out)
	}
	var row map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &row); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"at", "event", "lot", "slot", "call", "caller_number", "caller_name", "parker", "retriever", "reason", "wait_ms"} {
		if _, ok := row[k]; !ok {
			t.Errorf("history JSON lacks %q: %s", k, lines[0])
		}
	}
	code, out, _ = cli(t, "history", "--db", path)
	if code != 0 || !strings.Contains(out, "rejected") || !strings.Contains(out, "slot occupied") {
		t.Fatalf("history: exit %d\n%s", code, out)
	}
}

// Ensure the demo runs to the end and leaves the history it narrates.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about six seconds")
	}
	db := filepath.Join(t.TempDir(), "demo.db")
	code, out, errOut := cli(t, "demo", "--db", db)
	if code != 0 {
		t.Fatalf("demo exit %d\n%s\n%s", code, out, errOut)
	}
	d, err := store.OpenReadOnly(db)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	rows, err := d.History(context.Background(), store.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, string(r.Event))
	}
	want := "parked retrieved parked parked abandoned retrieved"
	if strings.Join(got, " ") != want {
		t.Fatalf("demo history %v, want %s", got, want)
	}
	if code, _, _ := cli(t, "demo", "--db", db); code != 1 {
		t.Fatalf("a second demo on the same file: exit %d, want 1 (never overwrite a database)", code)
	}
}
