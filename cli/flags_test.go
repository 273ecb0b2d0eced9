package cli

import (
	"errors"
	"flag"
	"io"
	"slices"
	"strings"
	"testing"
)

// Ensure flags are parsed wherever they stand among the arguments, a flag's
// value is never taken for an argument, and "--" ends the flags.
func TestParseFlags_Interleaved(t *testing.T) {
	for _, tt := range []struct {
		args       []string
		db, lot    string
		json       bool
		positional []string
	}{
		{args: []string{"--db", "x.db", "main", "201", "text"}, db: "x.db", positional: []string{"main", "201", "text"}},
		{args: []string{"main", "201", "text", "--db", "x.db"}, db: "x.db", positional: []string{"main", "201", "text"}},
		{args: []string{"main", "--json", "201", "--db=x.db", "text"}, db: "x.db", json: true, positional: []string{"main", "201", "text"}},
		{args: []string{"main", "-db", "-", "201"}, db: "-", positional: []string{"main", "201"}},
		{args: []string{"--lot", "--json", "a"}, lot: "--json", positional: []string{"a"}},
		{args: []string{"main", "--", "--db", "x.db", "-5"}, positional: []string{"main", "--db", "x.db", "-5"}},
		{args: []string{"--json=false", "-", "--db", "a", "--"}, db: "a", positional: []string{"-"}},
	} {
		fs := NewFlags("note", "test", io.Discard)
		db := fs.String("db", "", "")
		lot := fs.String("lot", "", "")
		asJSON := fs.Bool("json", false, "")
		if err := ParseFlags(fs, tt.args); err != nil {
			t.Errorf("%q: %v", tt.args, err)
			continue
		}
		if *db != tt.db || *lot != tt.lot || *asJSON != tt.json || !slices.Equal(fs.Args(), tt.positional) {
			t.Errorf("%q: db=%q lot=%q json=%v args=%q, want %q %q %v %q",
				tt.args, *db, *lot, *asJSON, fs.Args(), tt.db, tt.lot, tt.json, tt.positional)
		}
	}
}

// Ensure an unknown flag is one usage error naming the nearest known flag,
// and that --help prints the usage once and returns flag.ErrHelp.
func TestParseFlags_Errors(t *testing.T) {
	var out strings.Builder
	fs := NewFlags("history", "Show the park history.", &out)
	fs.String("lot", "", "only this `LOT`")
	fs.Bool("json", false, "print JSON")
	err := ParseFlags(fs, []string{"main", "--lto", "x"})
	if !errors.Is(err, ErrUsage) || err.Error() != `history: unknown flag --lto; did you mean "--lot"?` {
		t.Fatalf("err=%v", err)
	}
	if out.Len() != 0 {
		t.Fatalf("a flag error printed %q", out.String())
	}
	if err := ParseFlags(fs, []string{"--zzz"}); err == nil || err.Error() != "history: unknown flag --zzz" {
		t.Fatalf("far from every flag: %v", err)
	}
	if err := ParseFlags(fs, []string{"--lot"}); !errors.Is(err, ErrUsage) || out.Len() != 0 {
		t.Fatalf("missing value: %v, printed %q", err, out.String())
	}
	if err := ParseFlags(fs, []string{"x", "--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("--help: %v", err)
	}
	if strings.Count(out.String(), "Usage: parkd history [flags]") != 1 || !strings.Contains(out.String(), "only this LOT") {
		t.Fatalf("--help printed %q", out.String())
	}
}

// Ensure the suggestions: a typo or a prefix finds the word, a word far
// from all or equally near two finds none.
func TestSuggest(t *testing.T) {
	words := []string{"serve", "slots", "history", "report", "note", "export", "fsconf", "check", "version", "help"}
	for in, want := range map[string]string{
		"histroy": "history", "hist": "history", "slot": "slots", "sevre": "serve", "exprot": "export",
		"Report": "report", "chek": "check", "xyz": "", "": "", "vers": "version", "zzzz": "", "nope": "note",
	} {
		if got := suggest(in, words); got != want {
			t.Errorf("suggest(%q)=%q, want %q", in, got, want)
		}
	}
	if got := suggest("lat", []string{"lot", "let"}); got != "" {
		t.Errorf("a tie suggested %q", got)
	}
}
