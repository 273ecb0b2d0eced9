package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storetest"
)

// cli runs parkd with args and returns its exit code and output.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = ExitCode(Run(context.Background(), args, &out, &errb), &errb)
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
		{args: []string{"check", "--defaults"}, code: 0, out: "built-in defaults"},
		{args: []string{"version"}, code: 0, out: "parkd "},
		{args: []string{"fsconf", "-c", good}, code: 0, out: `data="127.0.0.1:8084 full"`},
		{args: []string{"slots", "--db", filepath.Join(t.TempDir(), "none.db")}, code: 1, out: "none.db"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
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
	_, out, errOut := runCLI(t, "check", "-c", p)
	if strings.Contains(out+errOut, "s3cret-Pw") {
		t.Fatalf("password printed: %s%s", out, errOut)
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

	code, out, errOut := runCLI(t, "slots", "--db", path)
	if code != 0 || !strings.Contains(out, "Jane Roe <5550100>") || !strings.Contains(out, "1000") || !strings.Contains(out, "202") {
		t.Fatalf("slots: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "history", "--db", path, "--json")
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
	code, out, _ = runCLI(t, "history", "--db", path)
	if code != 0 || !strings.Contains(out, "rejected") || !strings.Contains(out, "slot occupied") {
		t.Fatalf("history: exit %d\n%s", code, out)
	}
}

// fixtureDB writes the hand-computed fixture history (see storetest) to a
// new database and returns its path.
func fixtureDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fixture.db")
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	storetest.Record(t, db, storetest.Transitions())
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Ensure report prints the fixture's exact figures as CSV, JSON (null where
// undefined) and a table, groups by hour in the --tz zone, and refuses bad
// flags with exit code 2.
func TestCLI_Report(t *testing.T) {
	path := fixtureDB(t)
	window := []string{"--db", path, "--from", "2026-11-02T08:00", "--to", "2026-11-02T12:00", "--tz", "UTC"}

	code, out, errOut := runCLI(t, append([]string{"report", "--csv"}, window...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := `lot,parked,retrieved,recalled,fallback,abandoned,lost,open,abandon_rate,wait_median_ms,wait_p90_ms,wait_max_ms,attempts_per_recalled,before_recall
main,8,5,1,0,2,0,0,0.2500,30000,190000,190000,2.00,0.5000
reception,7,3,1,1,0,1,1,0.0000,45500,130000,130000,1.00,0.4286
TOTAL,15,8,2,1,2,1,1,0.1333,45500,130000,190000,1.50,0.4667
`
	if out != want {
		t.Fatalf("report --csv:\n%s\nwant:\n%s", out, want)
	}

	code, out, _ = runCLI(t, append([]string{"report", "--json", "--by", "parker"}, window...)...)
	var rep struct {
		By     string                   `json:"by"`
		Groups []map[string]interface{} `json:"groups"`
		Total  map[string]interface{}   `json:"total"`
	}
	if err := json.Unmarshal([]byte(out), &rep); code != 0 || err != nil {
		t.Fatalf("report --json: exit %d, %v\n%s", code, err, out)
	}
	if got, want := len(rep.Groups), 5; got != want {
		t.Fatalf("groups=%d, want %d", got, want)
	}
	last := rep.Groups[4] // 1202: one abandoned call, no pickups
	if last["group"] != "1202" || last["wait_median_ms"] != nil || last["attempts_per_recalled"] != nil || last["abandon_rate"] != 1.0 {
		t.Fatalf("group 1202=%v, want nulls for the undefined figures", last)
	}
	if rep.Total["parked"] != 15.0 || rep.Total["wait_p90_ms"] != 130000.0 || rep.Total["attempts_per_recalled"] != 1.5 {
		t.Fatalf("total=%v", rep.Total)
	}

	code, out, _ = runCLI(t, append([]string{"report"}, window...)...)
	for _, s := range []string{"main", "reception", "TOTAL", "25.0%", "45.5s", "3m10s", "1.50", "46.7%"} {
		if code != 0 || !strings.Contains(out, s) {
			t.Fatalf("report table lacks %q (exit %d):\n%s", s, code, out)
		}
	}

	// The same instants by hour of day in India (+05:30).
	code, out, _ = runCLI(t, "report", "--db", path, "--from", "2026-11-02T13:30", "--to", "2026-11-02T17:30", "--tz", "Asia/Kolkata", "--by", "hour", "--csv")
	var hours []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		f := strings.Split(line, ",")
		hours = append(hours, f[0]+"="+f[1])
	}
	if got, want := strings.Join(hours, " "), "13=2 14=5 15=1 16=6 17=1 TOTAL=15"; code != 0 || got != want {
		t.Fatalf("by hour in Asia/Kolkata: %s, want %s (exit %d)", got, want, code)
	}

	for _, args := range [][]string{
		{"report", "--db", path, "--by", "week"},
		{"report", "--db", path, "--from", "yesterday"},
		{"report", "--db", path, "--tz", "Mars/Olympus"},
		{"report", "--db", path, "--json", "--csv"},
		{"report", "--db", path, "--from", "2026-11-02", "--to", "2026-11-01"},
	} {
		if code, _, errOut := runCLI(t, args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

// Ensure history filters by lot, slot, parker, caller, call, event and time,
// keeps the most recent --limit rows oldest first, and writes CSV.
func TestCLI_HistoryFilters(t *testing.T) {
	path := fixtureDB(t)
	calls := func(args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, append([]string{"history", "--db", path, "--csv"}, args...)...)
		if code != 0 {
			t.Fatalf("history %v: exit %d: %s", args, code, errOut)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if lines[0] != strings.Join(csvHeader(), ",") {
			t.Fatalf("csv header %q", lines[0])
		}
		var got []string
		for _, l := range lines[1:] {
			f := strings.Split(l, ",")
			got = append(got, f[5]+":"+f[2])
		}
		return strings.Join(got, " ")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--lot", "reception", "--event", "recall_failed"}, "call-h:recall_failed call-h:recall_failed"},
		{[]string{"--slot", "306"}, "call-p:parked call-p:retrieved"},
		{[]string{"--parker", "1004", "--event", "parked"}, "call-p:parked call-q:parked"},
		{[]string{"--caller", "0199"}, "call-r:rejected"},
		{[]string{"--caller", "MARY"}, ""},
		{[]string{"--call", "call-m"}, "call-m:parked call-m:retrieved call-m:parked call-m:abandoned"},
		{[]string{"--since", "2026-11-02T11:59", "--until", "2026-11-02T12:00:10", "--tz", "UTC"}, "call-e:parked call-f:parked call-f:retrieved"},
		{[]string{"--lot", "main", "--limit", "2"}, "call-f:retrieved call-e:retrieved"},
	} {
		if got := calls(tt.args...); got != tt.want {
			t.Errorf("history %v: %s\nwant %s", tt.args, got, tt.want)
		}
	}
	if code, _, _ := runCLI(t, "history", "--db", path, "--event", "teleported"); code != 2 {
		t.Errorf("--event teleported: exit %d, want 2", code)
	}
}

// Ensure note attaches text to a parked call while another writer has the
// database open, that slots and history show it, and that bad notes and
// empty slots are refused.
func TestCLI_NoteSlots(t *testing.T) {
	path := fixtureDB(t)
	daemon := store.NewDB(path) // as the running daemon holds it
	if err := daemon.Open(); err != nil {
		t.Fatal(err)
	}
	defer daemon.Close()

	code, out, errOut := runCLI(t, "note", "--db", path, "reception", "302", "Wants Dr. Smith, lab results")
	if code != 0 || !strings.Contains(out, "Noted on reception/302 (Ana Silva <+15550122>)") {
		t.Fatalf("note: exit %d\n%s%s", code, out, errOut)
	}
	code, out, _ = runCLI(t, "slots", "--db", path)
	for _, s := range []string{"NEXT RECALL", "RECALLS", "Wants Dr. Smith, lab results", "Ana Silva <+15550122>", "302"} {
		if code != 0 || !strings.Contains(out, s) {
			t.Fatalf("slots lacks %q:\n%s", s, out)
		}
	}
	code, out, _ = runCLI(t, "slots", "--db", path, "--json")
	var row map[string]any
	if err := json.Unmarshal([]byte(out), &row); code != 0 || err != nil {
		t.Fatalf("slots --json: %v\n%s", err, out)
	}
	if row["note"] != "Wants Dr. Smith, lab results" || row["recall_attempts"] != 1.0 || row["next_recall_at"] != "2026-11-02T09:02:00.000Z" {
		t.Fatalf("slots --json=%v", row)
	}
	code, out, _ = runCLI(t, "history", "--db", path, "--call", "call-i")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); code != 0 || len(lines) != 4 || !strings.Contains(lines[3], `note`) ||
		!strings.Contains(lines[3], `"Wants Dr. Smith, lab results"`) {
		t.Fatalf("history --call call-i:\n%s", out)
	}
	code, out, _ = runCLI(t, "history", "--db", path, "--event", "note", "--json")
	if err := json.Unmarshal([]byte(out), &row); code != 0 || err != nil || row["event"] != "note" || row["call"] != "call-i" {
		t.Fatalf("history --event note --json: %v\n%s", err, out)
	}

	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"main", "202", "hello"}, 1, "slot main/202 is empty"},
		{[]string{"reception", "302", "two\nlines"}, 2, "control character"},
		{[]string{"reception", "302", strings.Repeat("x", 501)}, 2, "at most 500"},
		{[]string{"reception", "302", " "}, 2, "empty"},
		{[]string{"reception", "abc", "hi"}, 2, "not a slot number"},
		{[]string{"reception", "302"}, 2, "want LOT SLOT"},
	} {
		code, out, errOut := runCLI(t, append([]string{"note", "--db", path}, tt.args...)...)
		if code != tt.code || !strings.Contains(out+errOut, tt.out) {
			t.Errorf("note %q: exit %d, want %d with %q\n%s%s", tt.args, code, tt.code, tt.out, out, errOut)
		}
	}
	missing := filepath.Join(t.TempDir(), "none.db")
	if code, _, _ := runCLI(t, "note", "--db", missing, "main", "1", "x"); code != 1 {
		t.Errorf("note on a missing database: exit %d, want 1", code)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("note created %s", missing)
	}
}

// Ensure the commands that open the database find it at -c's store.path,
// and that --db wins over it.
func TestCLI_DBFromConfig(t *testing.T) {
	path := fixtureDB(t)
	cfg := writeFile(t, "parkd.toml", "[store]\npath = "+strconv.Quote(path)+"\n")
	for _, tt := range []struct {
		args []string
		out  string
	}{
		{[]string{"note", "-c", cfg, "reception", "302", "VIP"}, "Noted on reception/302"},
		{[]string{"slots", "-c", cfg}, "VIP"},
		{[]string{"history", "-c", cfg, "--event", "note"}, "VIP"},
		{[]string{"export", "-c", cfg}, ",VIP"},
		{[]string{"report", "-c", cfg, "--from", "2026-11-01", "--to", "2026-11-03", "--tz", "UTC"}, "TOTAL"},
	} {
		if code, out, errOut := runCLI(t, tt.args...); code != 0 || !strings.Contains(out, tt.out) {
			t.Errorf("%v: exit %d, want 0 with %q\n%s%s", tt.args, code, tt.out, out, errOut)
		}
	}
	missing := filepath.Join(t.TempDir(), "none.db")
	if code, _, errOut := runCLI(t, "slots", "-c", cfg, "--db", missing); code != 1 || !strings.Contains(errOut, "none.db") {
		t.Errorf("slots -c with --db: exit %d, want 1 naming --db's file\n%s", code, errOut)
	}
}

// Ensure notes are merged into the history rows by time, a note at the same
// millisecond as a row after it, as history and export show them.
func TestWithNotes(t *testing.T) {
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	var got []string
	row, rest := withNotes([]store.Note{{At: at(0), Text: "n0"}, {At: at(1), Text: "n1"}, {At: at(3), Text: "n3"}, {At: at(9), Text: "n9"}},
		func(e entry) error {
			got = append(got, cmp.Or(e.Note, string(e.Call)))
			return nil
		})
	for _, r := range []store.HistoryRow{{At: at(1), Call: "r1"}, {At: at(2), Call: "r2"}, {At: at(5), Call: "r5"}} {
		if err := row(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := rest(); err != nil {
		t.Fatal(err)
	}
	if want := "n0 r1 n1 r2 n3 r5 n9"; strings.Join(got, " ") != want {
		t.Errorf("merged %v, want %s", got, want)
	}
}

// Ensure export writes every history row and note as CSV, within
// --since/--until.
func TestCLI_Export(t *testing.T) {
	path := fixtureDB(t)
	if code, _, errOut := runCLI(t, "note", "--db", path, "reception", "302", "VIP"); code != 0 {
		t.Fatal(errOut)
	}
	code, out, errOut := runCLI(t, "export", "--db", path, "--csv")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 1+45+1 {
		t.Fatalf("export: exit %d, %d lines, want header + 45 rows + 1 note\n%s", code, len(lines), errOut)
	}
	if !strings.HasPrefix(lines[len(lines)-1], ",") || !strings.HasSuffix(lines[len(lines)-1], ",VIP,") {
		t.Fatalf("last line %q, want the note", lines[len(lines)-1])
	}
	code, out, _ = runCLI(t, "export", "--db", path, "--since", "2026-11-02T11:00", "--until", "2026-11-02T12:00", "--tz", "UTC")
	if got := strings.Count(out, "\n"); code != 0 || got != 1+6 || !strings.Contains(out, "\n37,2026-11-02T11:00:00.000Z,parked,") {
		t.Fatalf("export window: %d lines, want header + rows 37 to 42\n%s", got, out)
	}

}

// Ensure the command-line times parse as documented.
func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, paris)},
		{"2026-11-01T08:00", time.Date(2026, 11, 1, 8, 0, 0, 0, paris)},
		{"2026-11-01 08:00:30", time.Date(2026, 11, 1, 8, 0, 30, 0, paris)},
		{"2026-11-01T08:00:00Z", time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)},
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{"24h", now.Add(-24 * time.Hour)},
		{"1h30m", now.Add(-90 * time.Minute)},
		{"now", now},
	} {
		got, err := ParseWhen(tt.in, now, paris)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("ParseWhen(%q)=%v, %v, want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"yesterday", "-5h", "7w", "2026-13-01", "d"} {
		if _, err := ParseWhen(bad, now, paris); err == nil {
			t.Errorf("ParseWhen(%q): no error", bad)
		}
	}
}
