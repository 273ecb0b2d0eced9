package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Ensure a command-line mistake prints one error line, a "did you mean"
// where a name is close, and one line saying where the help is; never the
// whole usage.
func TestCLI_UsageMessages(t *testing.T) {
	db := filepath.Join(t.TempDir(), "none.db")
	for _, tt := range []struct {
		args   []string
		stderr string
	}{
		{[]string{"histroy"}, `parkd: unknown command "histroy"; did you mean "history"?` + "\n" + `run "parkd help"` + "\n"},
		{[]string{"frobnicate"}, `parkd: unknown command "frobnicate"` + "\n" + `run "parkd help"` + "\n"},
		{[]string{"history", "--lto", "main"}, `parkd: history: unknown flag --lto; did you mean "--lot"?` + "\n" +
			`run "parkd help" (or "parkd history --help")` + "\n"},
		{[]string{"slots", "--jsn"}, `parkd: slots: unknown flag --jsn; did you mean "--json"?` + "\n" +
			`run "parkd help" (or "parkd slots --help")` + "\n"},
		{[]string{"note", "main", "201", "hi", "--bogus"}, "parkd: note: unknown flag --bogus\n" +
			`run "parkd help" (or "parkd note --help")` + "\n"},
		{[]string{"note", "--db", db, "main", "x", "hi"}, `parkd: note: slot "x" is not a slot number` + "\n" +
			`run "parkd help" (or "parkd note --help")` + "\n"},
		{[]string{"report", "--db", db, "--tz", "Mars/Olympus"}, `parkd: report: --tz "Mars/Olympus": unknown time zone` + "\n" +
			`run "parkd help" (or "parkd report --help")` + "\n"},
		{[]string{"check", "extra"}, `parkd: check: unexpected argument "extra"` + "\n" +
			`run "parkd help" (or "parkd check --help")` + "\n"},
		{[]string{"history", "--slot", "x"}, `parkd: history: invalid value "x" for flag -slot: parse error` + "\n" +
			`run "parkd help" (or "parkd history --help")` + "\n"},
	} {
		code, out, errOut := runCLI(t, tt.args...)
		if code != 2 || out != "" || errOut != tt.stderr {
			t.Errorf("%q: exit %d, stdout %q, stderr:\n%s\nwant exit 2 and stderr:\n%s", tt.args, code, out, errOut, tt.stderr)
		}
	}
}

// Ensure each help says what its command does, and only that.
func TestCLI_Help(t *testing.T) {
	code, out, errOut := runCLI(t, "version", "--help")
	if code != 0 || out != "" || errOut != "Usage: parkd version\n\nPrint parkd's version.\n" {
		t.Errorf("version --help: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	_, _, errOut = runCLI(t, "export", "--help")
	if strings.Contains(errOut, "--by") || strings.Contains(errOut, "hour/day") || !strings.Contains(errOut, "Usage: parkd export") {
		t.Errorf("export --help:\n%s", errOut)
	}
	_, _, errOut = runCLI(t, "history", "--help")
	if strings.Contains(errOut, "--by") || !strings.Contains(errOut, "times shown") {
		t.Errorf("history --help:\n%s", errOut)
	}
	code, out, _ = runCLI(t, "help")
	if code != 0 || !strings.Contains(out, "Commands:") || !strings.Contains(out, "history") {
		t.Errorf("help: exit %d\n%s", code, out)
	}
	code, _, errOut = runCLI(t, "help", "note")
	if code != 0 || !strings.Contains(errOut, "Usage: parkd note") {
		t.Errorf("help note: exit %d\n%s", code, errOut)
	}
}

// Ensure flags may follow the arguments of note and history.
func TestCLI_FlagsAfterArguments(t *testing.T) {
	path := fixtureDB(t)
	code, out, errOut := runCLI(t, "note", "reception", "302", "VIP", "--db", path)
	if code != 0 || !strings.Contains(out, "Noted on reception/302") {
		t.Fatalf("note with --db last: exit %d\n%s%s", code, out, errOut)
	}
	// "--" ends the flags: a note may start with a dash.
	code, out, errOut = runCLI(t, "note", "--db", path, "reception", "302", "--", "-- call back")
	if code != 0 || !strings.Contains(out, ": -- call back") {
		t.Fatalf("note after --: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "history", "--event", "note", "--db", path, "--csv")
	if code != 0 || strings.Count(out, "\n") != 3 {
		t.Fatalf("history with flags anywhere: exit %d\n%s%s", code, out, errOut)
	}
	if code, _, errOut := runCLI(t, "history", "--db", path, "stray"); code != 2 || !strings.Contains(errOut, `unexpected argument "stray"`) {
		t.Fatalf("history with an argument: exit %d\n%s", code, errOut)
	}
}

// Ensure --tz changes the times slots and history show, and that both show
// the same instant for the same call.
func TestCLI_TimeZoneShown(t *testing.T) {
	path := fixtureDB(t)
	// call-i was parked at 09:00 UTC, 14:30 in India (+05:30), and is still parked.
	for tz, want := range map[string]string{"UTC": "2026-11-02 09:00:00", "Asia/Kolkata": "2026-11-02 14:30:00"} {
		code, slots, errOut := runCLI(t, "slots", "--db", path, "--tz", tz)
		if code != 0 {
			t.Fatalf("slots --tz %s: exit %d: %s", tz, code, errOut)
		}
		code, history, errOut := runCLI(t, "history", "--db", path, "--tz", tz, "--call", "call-i", "--event", "parked")
		if code != 0 {
			t.Fatalf("history --tz %s: exit %d: %s", tz, code, errOut)
		}
		slotsLine := lineWith(slots, "Ana Silva")
		historyLine := lineWith(history, "parked")
		if !strings.Contains(slotsLine, want) || !strings.Contains(historyLine, want) {
			t.Errorf("--tz %s: want %s in both\nslots:   %s\nhistory: %s", tz, want, slotsLine, historyLine)
		}
	}
}

// lineWith returns the first line of s containing sub.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}

// cancelAfter is a stdout that is not a terminal and ends the command's
// context after n writes: slots --watch writes once per refresh.
type cancelAfter struct {
	bytes.Buffer
	n      int
	cancel context.CancelFunc
}

func (w *cancelAfter) Write(p []byte) (int, error) {
	if w.n--; w.n == 0 {
		w.cancel()
	}
	return w.Buffer.Write(p)
}

// Ensure slots --watch to a pipe writes no escape codes, each refresh under
// a line with its time, and with --json one JSON document per refresh; and
// that it stops without error when its context ends.
func TestCLI_SlotsWatch(t *testing.T) {
	path := fixtureDB(t)
	watch := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		out := &cancelAfter{n: 3, cancel: cancel}
		var errb bytes.Buffer
		args = append([]string{"slots", "--db", path, "--watch", "--every", "1ms"}, args...)
		if err := Run(ctx, args, out, &errb); err != nil {
			t.Fatalf("%q: %v (%s)", args, err, errb.String())
		}
		if strings.Contains(out.String(), "\x1b") {
			t.Fatalf("%q wrote escape codes to a pipe:\n%q", args, out.String())
		}
		return out.String()
	}

	out := watch("--tz", "UTC")
	if got := strings.Count(out, "Parked calls at "); got != 3 || strings.Count(out, "Ana Silva") != 3 {
		t.Fatalf("3 refreshes, want 3 headers and tables:\n%s", out)
	}
	if !strings.HasPrefix(out, "Parked calls at "+time.Now().UTC().Format("2006-01-02")) {
		t.Fatalf("header does not show the refresh's time:\n%s", out)
	}

	lines := strings.Split(strings.TrimSpace(watch("--json")), "\n")
	if len(lines) != 3 {
		t.Fatalf("--json: %d lines, want one document per refresh:\n%s", len(lines), strings.Join(lines, "\n"))
	}
	for _, l := range lines {
		var doc struct {
			At    string           `json:"at"`
			Slots []map[string]any `json:"slots"`
		}
		if err := json.Unmarshal([]byte(l), &doc); err != nil || doc.At == "" || len(doc.Slots) == 0 {
			t.Fatalf("--json refresh %q: %v", l, err)
		}
	}

	// On a terminal the screen is cleared before each refresh.
	var screen bytes.Buffer
	if err := writeRefresh(&screen, refreshScreen, nil, time.Now(), time.UTC, time.Second); err != nil ||
		!strings.HasPrefix(screen.String(), "\x1b[H\x1b[2JParked calls at ") {
		t.Fatalf("terminal refresh %q, %v", screen.String(), err)
	}
	if isTerminal(&screen) {
		t.Fatal("a buffer taken for a terminal")
	}

	// watchSlots stops on the context, not on a draw error caused by it.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	draws := 0
	err := watchSlots(ctx, time.Millisecond, func() error { draws++; return nil })
	if err != nil || draws != 1 {
		t.Fatalf("watchSlots after cancel: %v, %d draws, want one draw and nil", err, draws)
	}
}

// hostileDB returns a database holding one parked call whose caller name
// is a spreadsheet formula and whose caller number and note hide a bidi
// override and a zero-width space, as an outside caller can send them.
func hostileDB(t *testing.T, name, number, note string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.db")
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	caller := parking.Caller{Name: name, Number: number}
	occ := parking.Occupant{Lot: "main", Slot: 202, Call: "c1", Caller: caller, Parker: "@1000", ParkedAt: at, Deadline: at.Add(2 * time.Minute)}
	if err := db.Record(context.Background(), parking.Transition{At: at, Event: parking.EventParked, Lot: "main", Slot: 202,
		Call: "c1", Caller: caller, Parker: "@1000", Occupancy: &occ}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if note != "" {
		if code, _, errOut := runCLI(t, "note", "--db", path, "--", "main", "202", note); code != 0 {
			t.Fatalf("note: %s", errOut)
		}
	}
	return path
}

// Ensure every CSV parkd writes neutralises formula-like text cells with a
// leading quote, keeps plain numbers as they are, and that JSON keeps the
// text verbatim.
func TestCLI_CSVFormulas(t *testing.T) {
	formula := `=cmd|' /C calc'!A7`
	path := hostileDB(t, formula, "+15550100", "-2+3")
	for _, args := range [][]string{
		{"export", "--db", path},
		{"history", "--db", path, "--csv"},
	} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errOut)
		}
		for _, want := range []string{`,'=cmd|' /C calc'!A7,`, ",+15550100,", ",'@1000,", ",'-2+3,\n"} {
			if !strings.Contains(out, want) {
				t.Errorf("%q lacks %s:\n%s", args, want, out)
			}
		}
		if strings.Contains(out, ","+formula) || strings.Contains(out, `,"`+formula) {
			t.Errorf("%q wrote the formula as it came:\n%s", args, out)
		}
	}
	code, out, _ := runCLI(t, "report", "--db", path, "--by", "parker", "--from", "2026-11-01", "--to", "2026-11-03", "--csv")
	if code != 0 || !strings.Contains(out, "\n'@1000,1,") {
		t.Errorf("report --csv by parker:\n%s", out)
	}
	code, out, _ = runCLI(t, "history", "--db", path, "--json", "--event", "parked")
	var row map[string]any
	if err := json.Unmarshal([]byte(out), &row); code != 0 || err != nil || row["caller_name"] != formula || row["parker"] != "@1000" {
		t.Errorf("history --json changed the text: %v\n%s", err, out)
	}

	for in, want := range map[string]string{
		"=1+1": "'=1+1", "+1": "+1", "-1.5": "-1.5", "+-1": "'+-1", "-": "'-", "@": "'@", "\tx": "'\tx", "\rx": "'\rx",
		"1+1": "1+1", "": "", "Jane": "Jane", "+": "'+", "-1.": "'-1.", "+44 20": "'+44 20",
	} {
		if got := csvText(in); got != want {
			t.Errorf("csvText(%q)=%q, want %q", in, got, want)
		}
	}
}

// Ensure the tables show bidi overrides, zero-width and control characters
// in caller names and notes as visible escapes, while the database and
// JSON keep them.
func TestCLI_TablesShowHiddenCharacters(t *testing.T) {
	name := "Jane \u202eeoR\u202c"
	path := hostileDB(t, name, "555\u200b0100", "call \u2066back\u2069")
	want := []string{`Jane \u202eeoR\u202c`, `555\u200b0100`}
	for _, args := range [][]string{
		{"slots", "--db", path},
		{"history", "--db", path},
	} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%q: exit %d: %s", args, code, errOut)
		}
		for _, w := range append(want, `call \u2066back\u2069`) {
			if !strings.Contains(out, w) {
				t.Errorf("%q lacks %s:\n%s", args, w, out)
			}
		}
		if strings.ContainsAny(out, "\u202e\u202c\u200b\u2066\u2069") {
			t.Errorf("%q shows a hidden character:\n%q", args, out)
		}
	}
	code, out, _ := runCLI(t, "report", "--db", path, "--by", "lot", "--from", "2026-11-01", "--to", "2026-11-03")
	if code != 0 || strings.ContainsAny(out, "\u202e") {
		t.Errorf("report:\n%s", out)
	}
	code, out, _ = runCLI(t, "slots", "--db", path, "--json")
	var row map[string]any
	if err := json.Unmarshal([]byte(out), &row); code != 0 || err != nil || row["caller_name"] != name || row["note"] != "call \u2066back\u2069" {
		t.Errorf("slots --json changed the text: %v\n%s", err, out)
	}

	for in, want := range map[string]string{
		"plain": "plain", "a\tb": `a\u0009b`, "a\x1b[2Jb": `a\u001b[2Jb`, "\u00e9t\u00e9": "\u00e9t\u00e9",
		"x\u2028y": `x\u2028y`, "bad\xffutf8": "bad\uFFFDutf8", "tag\U000E0041": `tag\U000e0041`, "\ufeffbom": `\ufeffbom`,
	} {
		if got := tableText(in); got != want {
			t.Errorf("tableText(%q)=%q, want %q", in, got, want)
		}
	}
}
