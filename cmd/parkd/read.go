package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// openForReading opens the store the way the CLI reads it while the daemon
// runs: read-only, never creating or migrating the file. --db wins over -c.
func openForReading(cfgPath, dbPath string) (*store.DB, error) {
	if dbPath == "" {
		c, err := loadConfig(cfgPath)
		if err != nil {
			return nil, err
		}
		dbPath = c.Store.Path
	}
	return store.OpenReadOnly(dbPath)
}

func runSlots(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("slots", "Show the calls parked now.", stderr)
	cfg := fs.String("c", "", "configuration `FILE` (for store.path)")
	db := fs.String("db", "", "SQLite `PATH` (overrides store.path)")
	asJSON := fs.Bool("json", false, "print one JSON object per parked call")
	if err := parse(fs, args); err != nil {
		return err
	}
	d, err := openForReading(*cfg, *db)
	if err != nil {
		return err
	}
	defer d.Close()
	occ, err := d.Occupied(ctx)
	if err != nil {
		return err
	}
	return printSlots(stdout, occ, time.Now(), *asJSON)
}

// printSlots writes the occupancy as a table or as JSON lines.
func printSlots(w io.Writer, occ []parking.Occupant, now time.Time, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, o := range occ {
			err := enc.Encode(map[string]any{
				"lot": o.Lot, "slot": o.Slot, "call": o.Call, "caller_number": o.Caller.Number,
				"caller_name": o.Caller.Name, "parker": o.Parker,
				"parked_at": o.ParkedAt.UTC().Format(timeFormat), "waiting_ms": o.Waited(now).Milliseconds(),
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
	if len(occ) == 0 {
		_, err := fmt.Fprintln(w, "No calls parked.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "LOT\tSLOT\tCALLER\tPARKER\tPARKED SINCE\tWAITING")
	for _, o := range occ {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", o.Lot, o.Slot, callerText(o.Caller), orUnknown(o.Parker),
			o.ParkedAt.Local().Format("15:04:05"), o.Waited(now).Round(time.Second))
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
	fs := newFlags("history", "Show the park history, oldest first.", stderr)
	cfg := fs.String("c", "", "configuration `FILE` (for store.path)")
	db := fs.String("db", "", "SQLite `PATH` (overrides store.path)")
	asJSON := fs.Bool("json", false, "print one JSON object per line")
	if err := parse(fs, args); err != nil {
		return err
	}
	d, err := openForReading(*cfg, *db)
	if err != nil {
		return err
	}
	defer d.Close()
	rows, err := d.History(ctx, store.HistoryFilter{})
	if err != nil {
		return err
	}
	return printHistory(stdout, rows, *asJSON)
}

// printHistory writes history rows as a table or as JSON lines.
func printHistory(w io.Writer, rows []store.HistoryRow, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		for _, r := range rows {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		return nil
	}
	if len(rows) == 0 {
		_, err := fmt.Fprintln(w, "No history yet.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tEVENT\tLOT\tSLOT\tCALLER\tPARKER\tRETRIEVER\tWAITED\tREASON")
	for _, r := range rows {
		slot := "-"
		if r.Slot != 0 {
			slot = fmt.Sprint(r.Slot)
		}
		waited := "-"
		if r.Wait > 0 {
			waited = r.Wait.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.At.Local().Format("2006-01-02 15:04:05"),
			r.Event, r.Lot, slot, callerText(r.Caller), orUnknown(r.Parker), dash(r.Retriever), waited, dash(r.Reason))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
