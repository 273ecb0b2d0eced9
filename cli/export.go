package cli

import (
	"context"
	"encoding/csv"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/parkd/parkd/store"
)

func runExport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("export", "Write the history and the notes as CSV, oldest first, for archiving (say, before\n"+
		"[store] keep prunes it). Columns: "+csvColumns(), stderr)
	dbf := addDBFlags(fs)
	fs.Bool("csv", true, "CSV output (the only format)")
	dom := addDomainFlag(fs)
	win := addTimeFlags(fs, "since", "until", "", "", "export",
		"time `ZONE` of --since and --until dates without an offset (the CSV's times are UTC): Local, UTC, Europe/Paris, ...")
	if err := Parse(fs, args); err != nil {
		return err
	}
	since, until, _, err := win.window(fs, time.Now())
	if err != nil {
		return err
	}
	d, err := dbf.openForReading()
	if err != nil {
		return err
	}
	defer d.Close()
	f := store.HistoryFilter{Since: since, Until: until, Domains: dom.domains()}
	notes, err := d.Notes(ctx, f)
	if err != nil {
		return err
	}
	cw := csv.NewWriter(stdout)
	if err := cw.Write(csvHeader()); err != nil {
		return err
	}
	// History is streamed: an export of millions of rows never holds them
	// all. Notes are few; they are merged in by time as rows go by.
	row, rest := withNotes(notes, func(e entry) error { return cw.Write(csvRecord(e)) })
	if err := d.EachHistory(ctx, f, row); err != nil {
		return err
	}
	if err := rest(); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// csvHeader is the header of history --csv and export.
func csvHeader() []string {
	return []string{"id", "at", "event", "lot", "slot", "call", "caller_number", "caller_name", "parker",
		"retriever", "reason", "wait_ms", "note", "domain"}
}

// csvColumns describes the CSV columns for --help.
func csvColumns() string {
	return strings.Join(csvHeader(), ", ") + ".\nTimes are UTC; notes have event \"note\" and no id. A text cell that a spreadsheet\n" +
		"would read as a formula (=, +, -, @, tab, CR first) starts with a ' added."
}

// csvRecord renders an entry as a CSV record under csvHeader. Text cells
// go through csvText (no formulas); the id, time, slot and wait are
// parkd's own and written as they are.
func csvRecord(e entry) []string {
	id := ""
	if !e.isNote() {
		id = strconv.FormatInt(e.ID, 10)
	}
	return []string{id, e.At.UTC().Format(timeFormat), string(e.Event), csvText(e.Lot), strconv.Itoa(e.Slot), csvText(string(e.Call)),
		csvText(e.Caller.Number), csvText(e.Caller.Name), csvText(e.Parker), csvText(e.Retriever), csvText(e.Reason),
		strconv.FormatInt(e.Wait.Milliseconds(), 10), csvText(e.Note), csvText(e.Domain)}
}

// writeEntriesCSV writes entries as CSV under csvHeader.
func writeEntriesCSV(w io.Writer, entries []entry) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader()); err != nil {
		return err
	}
	for _, e := range entries {
		if err := cw.Write(csvRecord(e)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}
