package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkd/parkd/cli"
	"github.com/parkd/parkd/store"
)

// Ensure the demo runs to the end and leaves the history it narrates.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo takes about twenty seconds")
	}
	db := filepath.Join(t.TempDir(), "demo.db")
	var out, errb bytes.Buffer
	if err := runDemo(context.Background(), []string{"--db", db}, &out, &errb); err != nil {
		t.Fatalf("demo: %v\n%s\n%s", err, &out, &errb)
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
	// Bob's call, last, tells the whole recall story: the receptionist
	// misses the first recall and answers the second.
	// Then the attended transfer: reception's consult call is parked and
	// replaced by Carl's, whom Dr. Smith retrieves.
	want := "parked retrieved parked parked abandoned retrieved parked recall recall_failed recall recalled " +
		"parked replaced parked retrieved"
	if strings.Join(got, " ") != want {
		t.Fatalf("demo history %v, want %s", got, want)
	}
	if err := runDemo(context.Background(), []string{"--db", db}, &out, &errb); cli.ExitCode(err, &errb) != 1 {
		t.Fatalf("a second demo on the same file: %v, want exit 1 (never overwrite a database)", err)
	}
}
