package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

func runHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("history", "Show the park history and the notes, oldest first.", stderr)
	dbf := addDBFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	asCSV := fs.Bool("csv", false, "print CSV")
	lot := fs.String("lot", "", "only this `LOT`")
	dom := addDomainFlag(fs)
	slot := fs.Int("slot", 0, "only this `SLOT`")
	parker := fs.String("parker", "", "only calls parked by `WHO`")
	caller := fs.String("caller", "", "only callers whose number or name contains `TEXT` (ignoring case; % and _ are no wildcards)")
	call := fs.String("call", "", "only this call `UUID`")
	event := fs.String("event", "", "only this `EVENT` (parked, retrieved, recall, ..., or note)")
	limit := fs.Int("limit", 0, "only the most recent `N` rows (still printed oldest first)")
	win := addTimeFlags(fs, "since", "until", "", "", "history",
		"time `ZONE` of the times shown, and of --since and --until dates without an offset: Local, UTC, Europe/Paris, ...")
	if err := Parse(fs, args); err != nil {
		return err
	}
	if *asJSON && *asCSV {
		return Usagef(fs, "--json and --csv exclude each other")
	}
	if *slot < 0 || *limit < 0 {
		return Usagef(fs, "--slot and --limit must not be negative")
	}
	if *event != "" && *event != "note" && !parking.Event(*event).Valid() {
		return Usagef(fs, "--event %q: want one of %v or note", *event, parking.Events)
	}
	since, until, loc, err := win.window(fs, time.Now())
	if err != nil {
		return err
	}
	d, err := dbf.openForReading()
	if err != nil {
		return err
	}
	defer d.Close()
	f := store.HistoryFilter{
		Lot: *lot, Domains: dom.domains(), Slot: *slot, Call: parking.CallID(*call), Parker: *parker, Caller: *caller,
		Since: since, Until: until, Limit: *limit, Newest: true,
	}
	entries, err := readEntries(ctx, d, f, *event)
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return printEntriesJSON(stdout, entries)
	case *asCSV:
		return writeEntriesCSV(stdout, entries)
	}
	return printEntries(stdout, entries, loc)
}

// entry is one line of the history as the CLI shows it: a history row, or
// a note (Event "note", text in Note).
type entry struct {
	store.HistoryRow
	Note string
}

func (e entry) isNote() bool { return e.Event == "note" }

// noteEntry makes a note into a history line: the call's details as the
// note recorded them, the text in Note.
func noteEntry(n store.Note) entry {
	return entry{HistoryRow: store.HistoryRow{
		At: n.At, Event: "note", Lot: n.Lot, Domain: n.Domain, Slot: n.Slot, Call: n.Call, Caller: n.Caller, Parker: n.Parker,
	}, Note: n.Text}
}

// readEntries reads the history rows and notes f selects (event "" for
// both, "note" for notes only, else that event only), merged by time; with
// f.Limit, the most recent f.Limit of them.
func readEntries(ctx context.Context, d *store.DB, f store.HistoryFilter, event string) ([]entry, error) {
	var notes []store.Note
	if event == "" || event == "note" {
		var err error
		if notes, err = d.Notes(ctx, f); err != nil {
			return nil, err
		}
	}
	var out []entry
	row, rest := withNotes(notes, func(e entry) error {
		out = append(out, e)
		return nil
	})
	if event != "note" {
		hf := f
		hf.Event = parking.Event(event)
		if err := d.EachHistory(ctx, hf, row); err != nil {
			return nil, err
		}
	}
	if err := rest(); err != nil {
		return nil, err
	}
	if f.Limit > 0 && len(out) > f.Limit {
		out = out[len(out)-f.Limit:]
	}
	return out, nil
}

// withNotes merges notes (oldest first) into a stream of history rows by
// time: row passes fn the notes written before the row, then the row;
// rest passes fn the notes left after the last row. A note written at the
// same millisecond as a row comes after it. Both stop at fn's first error.
func withNotes(notes []store.Note, fn func(entry) error) (row func(store.HistoryRow) error, rest func() error) {
	// emit passes fn the leading notes whose time due accepts.
	emit := func(due func(time.Time) bool) error {
		for len(notes) > 0 && due(notes[0].At) {
			if err := fn(noteEntry(notes[0])); err != nil {
				return err
			}
			notes = notes[1:]
		}
		return nil
	}
	row = func(r store.HistoryRow) error {
		if err := emit(r.At.After); err != nil {
			return err
		}
		return fn(entry{HistoryRow: r})
	}
	rest = func() error { return emit(func(time.Time) bool { return true }) }
	return row, rest
}

// printEntriesJSON writes one JSON object per line: the history row shape
// (see store.HistoryRow), and for notes event "note" with the text in
// "note".
func printEntriesJSON(w io.Writer, entries []entry) error {
	enc := json.NewEncoder(w)
	for _, e := range entries {
		if !e.isNote() {
			if err := enc.Encode(e.HistoryRow); err != nil {
				return err
			}
			continue
		}
		m := map[string]any{
			"at": e.At.UTC().Format(timeFormat), "event": "note", "lot": e.Lot, "slot": e.Slot, "call": e.Call,
			"caller_number": e.Caller.Number, "caller_name": e.Caller.Name, "parker": e.Parker, "note": e.Note,
		}
		if e.Domain != "" {
			m["domain"] = e.Domain
		}
		if err := enc.Encode(m); err != nil {
			return err
		}
	}
	return nil
}

// PrintHistory writes history rows as history's table, with times in the
// local zone.
func PrintHistory(w io.Writer, rows []store.HistoryRow) error {
	entries := make([]entry, len(rows))
	for i, r := range rows {
		entries[i] = entry{HistoryRow: r}
	}
	return printEntries(w, entries, time.Local)
}

// printEntries writes history rows and notes as a table, times in loc. A
// note shows its text quoted (and so escaped) in the REASON column. A
// DOMAIN column comes before LOT when an entry is of a domain's lot, and a
// NODE column before both when lots are shared by several nodes.
func printEntries(w io.Writer, entries []entry, loc *time.Location) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "No history yet.")
		return err
	}
	domains := slices.ContainsFunc(entries, func(e entry) bool { return e.Domain != "" })
	nodes := slices.ContainsFunc(entries, func(e entry) bool { return e.Node != "" })
	lotCol := func(r entry) string {
		col := tableText(r.Lot)
		if domains {
			col = dash(tableText(r.Domain)) + "\t" + col
		}
		if nodes {
			col = dash(tableText(r.Node)) + "\t" + col
		}
		return col
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	head := "LOT"
	if domains {
		head = "DOMAIN\t" + head
	}
	if nodes {
		head = "NODE\t" + head
	}
	fmt.Fprintln(tw, "AT\tEVENT\t"+head+"\tSLOT\tCALLER\tPARKER\tRETRIEVER\tWAITED\tREASON")
	for _, r := range entries {
		slot := "-"
		if r.Slot != 0 {
			slot = fmt.Sprint(r.Slot)
		}
		waited := "-"
		if r.Wait > 0 {
			waited = r.Wait.String()
		}
		reason := dash(r.Reason)
		if r.isNote() {
			reason = strconv.Quote(r.Note)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.In(loc).Format(tableTime),
			r.Event, lotCol(r), slot, callerText(r.Caller), orUnknown(r.Parker), dash(r.Retriever), waited, reason)
	}
	return tw.Flush()
}
