package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

func runSlots(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("slots", "Show the calls parked now, with their next recall and notes.\n"+
		"With --watch it shows them again every --every: on a terminal it redraws the screen; piped, it\n"+
		"writes each refresh after the last, under a line with the time of the refresh; with --json it\n"+
		"writes one JSON document per refresh, one per line: {\"at\": ..., \"slots\": [...]}.", stderr)
	dbf := addDBFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per parked call (with --watch, one document per refresh)")
	watch := fs.Bool("watch", false, "show the slots again every --every until interrupted")
	every := fs.Duration("every", time.Second, "refresh `INTERVAL` for --watch")
	tz := fs.String("tz", "Local", "time `ZONE` of the times shown: Local, UTC, Europe/Paris, ...")
	dom := addDomainFlag(fs)
	if err := Parse(fs, args); err != nil {
		return err
	}
	if *every <= 0 {
		return Usagef(fs, "--every must be positive")
	}
	loc, err := loadZone(fs, *tz)
	if err != nil {
		return err
	}
	if *watch {
		return watchParked(ctx, dbf, dom, stdout, *asJSON, *every, loc)
	}
	d, err := dbf.openForReading()
	if err != nil {
		return err
	}
	defer d.Close()
	parked, err := d.Parked(ctx)
	if err != nil {
		return err
	}
	parked = inDomain(parked, dom)
	if *asJSON {
		return printParkedJSON(stdout, parked, time.Now())
	}
	return printParked(stdout, parked, time.Now(), loc)
}

// watchParked shows the parked calls again every interval until ctx ends.
// It opens the database for each refresh: a reader that found no daemon
// reads the file as it was (see store.OpenReadOnly), and must open it
// again to see a daemon that started meanwhile.
func watchParked(ctx context.Context, dbf dbFlags, dom *domainFlag, stdout io.Writer, asJSON bool, every time.Duration, loc *time.Location) error {
	mode := refreshPiped
	switch {
	case asJSON:
		mode = refreshJSON
	case isTerminal(stdout):
		mode = refreshScreen
	}
	return watchSlots(ctx, every, func() error {
		d, err := dbf.openForReading()
		if err != nil {
			return err
		}
		parked, err := d.Parked(ctx)
		d.Close()
		if err != nil {
			return err
		}
		parked = inDomain(parked, dom)
		var buf bytes.Buffer
		if err := writeRefresh(&buf, mode, parked, time.Now(), loc, every); err != nil {
			return err
		}
		_, err = stdout.Write(buf.Bytes())
		return err
	})
}

// inDomain keeps the parked calls of the lots dom keeps.
func inDomain(parked []store.ParkedCall, dom *domainFlag) []store.ParkedCall {
	return slices.DeleteFunc(parked, func(p store.ParkedCall) bool { return !dom.keeps(p.Domain) })
}

// refreshMode is how slots --watch writes each refresh.
type refreshMode int

const (
	refreshScreen refreshMode = iota // a terminal: clear it, then the header and the table
	refreshPiped                     // a file or a pipe: the header and the table, after the last
	refreshJSON                      // --json: one JSON document per line
)

// writeRefresh writes one refresh of slots --watch.
func writeRefresh(w io.Writer, mode refreshMode, parked []store.ParkedCall, now time.Time, loc *time.Location, every time.Duration) error {
	if mode == refreshJSON {
		calls := make([]map[string]any, len(parked))
		for i, p := range parked {
			calls[i] = parkedJSON(p, now)
		}
		return json.NewEncoder(w).Encode(map[string]any{"at": now.UTC().Format(timeFormat), "slots": calls})
	}
	if mode == refreshScreen {
		io.WriteString(w, "\x1b[H\x1b[2J") // cursor home, clear screen
	}
	header := "Parked calls at " + now.In(loc).Format("2006-01-02 15:04:05 MST")
	if mode == refreshScreen {
		header += fmt.Sprintf(" (every %s; Ctrl-C to stop)", every)
	}
	fmt.Fprintf(w, "%s\n\n", header)
	if err := printParked(w, parked, now, loc); err != nil {
		return err
	}
	if mode == refreshPiped {
		_, err := io.WriteString(w, "\n")
		return err
	}
	return nil
}

// isTerminal reports whether w is a terminal (a character device), the
// only place slots --watch clears the screen.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// watchSlots calls draw at once and then every interval until ctx is done,
// which ends it without error (Ctrl-C).
func watchSlots(ctx context.Context, interval time.Duration, draw func() error) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if err := draw(); err != nil {
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

// PrintSlots writes occupants (without notes) as slots' table, with times
// in the local zone.
func PrintSlots(w io.Writer, occ []parking.Occupant, now time.Time) error {
	parked := make([]store.ParkedCall, len(occ))
	for i, o := range occ {
		parked[i] = store.ParkedCall{Occupant: o}
	}
	return printParked(w, parked, now, time.Local)
}

// printParkedJSON writes one JSON object per parked call, text verbatim.
func printParkedJSON(w io.Writer, parked []store.ParkedCall, now time.Time) error {
	enc := json.NewEncoder(w)
	for _, p := range parked {
		if err := enc.Encode(parkedJSON(p, now)); err != nil {
			return err
		}
	}
	return nil
}

func parkedJSON(p store.ParkedCall, now time.Time) map[string]any {
	o := p.Occupant
	m := map[string]any{
		"lot": o.Lot, "slot": o.Slot, "call": o.Call, "caller_number": o.Caller.Number,
		"caller_name": o.Caller.Name, "parker": o.Parker,
		"parked_at": o.ParkedAt.UTC().Format(timeFormat), "waiting_ms": o.Waited(now).Milliseconds(),
		"next_recall_at": o.Deadline.UTC().Format(timeFormat), "recall_attempts": o.Attempts, "note": p.Note,
	}
	if o.Domain != "" {
		m["domain"] = o.Domain // a single-tenant parkd's objects keep their shape
	}
	if p.Node != "" {
		m["node"] = p.Node // likewise a parkd without nodes
	}
	return m
}

// printParked writes the parked calls as a table, times in loc (the same
// format as history's, so one call shows the same instant in both). A
// DOMAIN column comes first when a call is in a domain's lot, after a
// NODE column when lots are shared by several FreeSWITCH nodes.
func printParked(w io.Writer, parked []store.ParkedCall, now time.Time, loc *time.Location) error {
	if len(parked) == 0 {
		_, err := fmt.Fprintln(w, "No calls parked.")
		return err
	}
	domains := slices.ContainsFunc(parked, func(p store.ParkedCall) bool { return p.Domain != "" })
	nodes := slices.ContainsFunc(parked, func(p store.ParkedCall) bool { return p.Node != "" })
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if nodes {
		fmt.Fprint(tw, "NODE\t")
	}
	if domains {
		fmt.Fprint(tw, "DOMAIN\t")
	}
	fmt.Fprintln(tw, "LOT\tSLOT\tCALLER\tPARKER\tPARKED AT\tWAITING\tNEXT RECALL\tRECALLS\tNOTE")
	for _, p := range parked {
		o := p.Occupant
		if nodes {
			fmt.Fprintf(tw, "%s\t", dash(tableText(p.Node)))
		}
		if domains {
			fmt.Fprintf(tw, "%s\t", dash(tableText(o.Domain)))
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\n", tableText(o.Lot), o.Slot, callerText(o.Caller), orUnknown(o.Parker),
			o.ParkedAt.In(loc).Format(tableTime), o.Waited(now).Round(time.Second),
			o.Deadline.In(loc).Format("15:04:05"), o.Attempts, dash(p.Note))
	}
	return tw.Flush()
}
