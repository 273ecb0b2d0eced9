package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// dbFlags are -c and --db of the commands that open parkd's database.
type dbFlags struct{ cfg, db *string }

func addDBFlags(fs *flag.FlagSet) dbFlags {
	return dbFlags{
		cfg: fs.String("c", "", "configuration `FILE` (for store.path)"),
		db:  fs.String("db", "", "SQLite `PATH` (overrides store.path)"),
	}
}

// path is the database's path: --db, else -c's store.path.
func (f dbFlags) path() (string, error) {
	if *f.db != "" {
		return *f.db, nil
	}
	c, err := LoadConfig(*f.cfg)
	if err != nil {
		return "", err
	}
	return c.Store.Path, nil
}

// openForReading opens the store the way the CLI reads it while the daemon
// runs: read-only, never creating or migrating the file.
func (f dbFlags) openForReading() (*store.DB, error) {
	path, err := f.path()
	if err != nil {
		return nil, err
	}
	return store.OpenReadOnly(path)
}

func runSlots(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("slots", "Show the calls parked now, with their next recall and notes.", stderr)
	dbf := addDBFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per parked call")
	watch := fs.Bool("watch", false, "redraw every --every until interrupted")
	every := fs.Duration("every", time.Second, "redraw `INTERVAL` for --watch")
	if err := Parse(fs, args); err != nil {
		return err
	}
	if *every <= 0 {
		return fmt.Errorf("%w: slots: --every must be positive", ErrUsage)
	}
	d, err := dbf.openForReading()
	if err != nil {
		return err
	}
	defer d.Close()
	draw := func(clear bool) error {
		parked, err := d.Parked(ctx)
		if err != nil {
			return err
		}
		var buf bytes.Buffer
		if clear {
			buf.WriteString("\x1b[H\x1b[2J") // home, clear screen
		}
		if err := printParked(&buf, parked, time.Now(), *asJSON); err != nil {
			return err
		}
		_, err = stdout.Write(buf.Bytes())
		return err
	}
	if !*watch {
		return draw(false)
	}
	return watchSlots(ctx, *every, draw)
}

// watchSlots calls draw at once and then every interval until ctx is done,
// which ends it without error (Ctrl-C).
func watchSlots(ctx context.Context, interval time.Duration, draw func(clear bool) error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := draw(true); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// printSlots writes occupants (without notes) as printParked's table.
func PrintSlots(w io.Writer, occ []parking.Occupant, now time.Time) error {
	parked := make([]store.ParkedCall, len(occ))
	for i, o := range occ {
		parked[i] = store.ParkedCall{Occupant: o}
	}
	return printParked(w, parked, now, false)
}

// printParked writes the parked calls as a table or as JSON lines. Times in
// the table are local.
func printParked(w io.Writer, parked []store.ParkedCall, now time.Time, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, p := range parked {
			o := p.Occupant
			err := enc.Encode(map[string]any{
				"lot": o.Lot, "slot": o.Slot, "call": o.Call, "caller_number": o.Caller.Number,
				"caller_name": o.Caller.Name, "parker": o.Parker,
				"parked_at": o.ParkedAt.UTC().Format(timeFormat), "waiting_ms": o.Waited(now).Milliseconds(),
				"next_recall_at": o.Deadline.UTC().Format(timeFormat), "recall_attempts": o.Attempts, "note": p.Note,
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	if len(parked) == 0 {
		_, err := fmt.Fprintln(w, "No calls parked.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOT\tSLOT\tCALLER\tPARKER\tPARKED AT\tWAITING\tNEXT RECALL\tRECALLS\tNOTE")
	for _, p := range parked {
		o := p.Occupant
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", o.Lot, o.Slot, callerText(o.Caller), orUnknown(o.Parker),
			o.ParkedAt.Local().Format("15:04:05"), o.Waited(now).Round(time.Second),
			o.Deadline.Local().Format("15:04:05"), o.Attempts, dash(p.Note))
	}
	return tw.Flush()
}

const timeFormat = "2006-01-02T15:04:05.000Z"

func callerText(c parking.Caller) string {
	switch {
	case c.Name != "" && c.Number != "":
		return fmt.Sprintf("%s <%s>", c.Name, c.Number)
	case c.Number != "":
		return c.Number
	case c.Name != "":
		return c.Name
	}
	return "unknown"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

func runHistory(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("history", "Show the park history and the notes, oldest first.", stderr)
	dbf := addDBFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	asCSV := fs.Bool("csv", false, "print CSV")
	lot := fs.String("lot", "", "only this `LOT`")
	slot := fs.Int("slot", 0, "only this `SLOT`")
	parker := fs.String("parker", "", "only calls parked by `WHO`")
	caller := fs.String("caller", "", "only callers whose number or name contains `TEXT`")
	call := fs.String("call", "", "only this call `UUID`")
	event := fs.String("event", "", "only this `EVENT` (parked, retrieved, recall, ..., or note)")
	limit := fs.Int("limit", 0, "only the most recent `N` rows (still printed oldest first)")
	win := addTimeFlags(fs, "since", "until", "", "", "history")
	if err := Parse(fs, args); err != nil {
		return err
	}
	if *asJSON && *asCSV {
		return fmt.Errorf("%w: history: --json and --csv exclude each other", ErrUsage)
	}
	if *slot < 0 || *limit < 0 {
		return fmt.Errorf("%w: history: --slot and --limit must not be negative", ErrUsage)
	}
	if *event != "" && *event != "note" && !parking.Event(*event).Valid() {
		return fmt.Errorf("%w: history: --event %q: want one of %v or note", ErrUsage, *event, parking.Events)
	}
	since, until, _, err := win.window(time.Now())
	if err != nil {
		return err
	}
	d, err := dbf.openForReading()
	if err != nil {
		return err
	}
	defer d.Close()
	f := store.HistoryFilter{
		Lot: *lot, Slot: *slot, Call: parking.CallID(*call), Parker: *parker, Caller: *caller,
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
	return printEntries(stdout, entries)
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
		At: n.At, Event: "note", Lot: n.Lot, Slot: n.Slot, Call: n.Call, Caller: n.Caller, Parker: n.Parker,
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
	row = func(r store.HistoryRow) error {
		for len(notes) > 0 && notes[0].At.Before(r.At) {
			if err := fn(noteEntry(notes[0])); err != nil {
				return err
			}
			notes = notes[1:]
		}
		return fn(entry{HistoryRow: r})
	}
	rest = func() error {
		for len(notes) > 0 {
			if err := fn(noteEntry(notes[0])); err != nil {
				return err
			}
			notes = notes[1:]
		}
		return nil
	}
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
		err := enc.Encode(map[string]any{
			"at": e.At.UTC().Format(timeFormat), "event": "note", "lot": e.Lot, "slot": e.Slot, "call": e.Call,
			"caller_number": e.Caller.Number, "caller_name": e.Caller.Name, "parker": e.Parker, "note": e.Note,
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// PrintHistory writes history rows as printEntries' table.
func PrintHistory(w io.Writer, rows []store.HistoryRow) error {
	entries := make([]entry, len(rows))
	for i, r := range rows {
		entries[i] = entry{HistoryRow: r}
	}
	return printEntries(w, entries)
}

// printEntries writes history rows and notes as a table. A note shows its
// text in quotes in the REASON column.
func printEntries(w io.Writer, entries []entry) error {
	if len(entries) == 0 {
		_, err := fmt.Fprintln(w, "No history yet.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tEVENT\tLOT\tSLOT\tCALLER\tPARKER\tRETRIEVER\tWAITED\tREASON")
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.Local().Format("2006-01-02 15:04:05"),
			r.Event, r.Lot, slot, callerText(r.Caller), orUnknown(r.Parker), dash(r.Retriever), waited, reason)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
