package cli

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parkd/parkd/store"
)

func runReport(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("report", "Report parked calls, outcomes and waits per lot, parker, retriever, hour, day, domain or node.\n"+
		"A call counts in the window it was parked in, with the outcome it had later.", stderr)
	dbf := addDBFlags(fs)
	win := addTimeFlags(fs, "from", "to", "24h", "now", "report window",
		"time `ZONE` of --from and --to dates without an offset, of --by hour and day, and of the window shown: Local, UTC, Europe/Paris, ...")
	by := fs.String("by", "lot", "group by `WHAT`: lot, parker, retriever, hour (of day), day, domain or node")
	dom := addDomainFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON")
	asCSV := fs.Bool("csv", false, "print CSV")
	if err := Parse(fs, args); err != nil {
		return err
	}
	if *asJSON && *asCSV {
		return Usagef(fs, "--json and --csv exclude each other")
	}
	if !store.ReportBy(*by).Valid() {
		return Usagef(fs, "--by %q: want lot, parker, retriever, hour, day, domain or node", *by)
	}
	from, to, loc, err := win.window(fs, time.Now())
	if err != nil {
		return err
	}
	d, err := dbf.openForReading()
	if err != nil {
		return err
	}
	defer d.Close()
	rep, err := d.Report(ctx, store.ReportQuery{From: from, To: to, By: store.ReportBy(*by), Location: loc, Domains: dom.domains()})
	if err != nil {
		return err
	}
	switch {
	case *asJSON:
		return printReportJSON(stdout, rep)
	case *asCSV:
		return printReportCSV(stdout, rep)
	}
	if err := printReportTable(stdout, rep); err != nil {
		return err
	}
	for _, r := range rep.Outside {
		lot := tableText(r.Lot)
		if r.Domain != "" {
			lot += " (" + tableText(r.Domain) + ")"
		}
		if _, err := fmt.Fprintf(stdout, "outside pick-up %s: %d wrong PIN(s), %d lockout(s)\n", lot, r.Failed, r.Locked); err != nil {
			return err
		}
	}
	return nil
}

// reportHeader names the CSV columns after the group.
func reportHeader() []string {
	return []string{"parked", "retrieved", "recalled", "fallback", "abandoned", "lost", "open",
		"abandon_rate", "wait_median_ms", "wait_p90_ms", "wait_max_ms", "attempts_per_recalled", "before_recall"}
}

// reportCells renders the figures of a row. For people (table) rates are
// percentages and waits exact durations (45.5s, 3m10s); for machines (CSV)
// rates are fractions and waits milliseconds. Undefined figures are "-".
func reportCells(r store.ReportRow, forPeople bool) []string {
	rate := func(v float64) string {
		if forPeople {
			return strconv.FormatFloat(v*100, 'f', 1, 64) + "%"
		}
		return strconv.FormatFloat(v, 'f', 4, 64)
	}
	wait := func(d time.Duration) string {
		switch {
		case r.PickedUp() == 0:
			return "-"
		case forPeople:
			return d.String()
		}
		return strconv.FormatInt(d.Milliseconds(), 10)
	}
	attempts := "-"
	if v, ok := r.AttemptsPerRecalled(); ok {
		attempts = strconv.FormatFloat(v, 'f', 2, 64)
	}
	return []string{
		strconv.Itoa(r.Parked), strconv.Itoa(r.Retrieved), strconv.Itoa(r.Recalled), strconv.Itoa(r.Fallback),
		strconv.Itoa(r.Abandoned), strconv.Itoa(r.Lost), strconv.Itoa(r.Open),
		rate(r.AbandonRate()), wait(r.WaitMedian), wait(r.WaitP90), wait(r.WaitMax), attempts, rate(r.BeforeRecallShare()),
	}
}

func printReportTable(w io.Writer, rep store.Report) error {
	q := rep.Query
	fmt.Fprintf(w, "Calls parked from %s to %s (%s), by %s\n\n",
		q.From.In(q.Location).Format("2006-01-02 15:04"), q.To.In(q.Location).Format("2006-01-02 15:04"), q.Location, q.By)
	if rep.Total.Parked == 0 {
		_, err := fmt.Fprintln(w, "No calls parked in this window.")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, strings.ToUpper(string(q.By))+"\tPARKED\tRETRIEVED\tRECALLED\tFALLBACK\tABANDONED\tLOST\tOPEN\tABANDON\tWAIT MED\tP90\tMAX\tATTEMPTS/RECALLED\tBEFORE RECALL\t")
	line := func(name string, r store.ReportRow) {
		fmt.Fprintln(tw, name+"\t"+strings.Join(reportCells(r, true), "\t")+"\t")
	}
	for _, g := range rep.Groups {
		line(dash(g.Group), g)
	}
	line("TOTAL", rep.Total)
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintln(w, "\nA call counts in the window it was parked in. Waits: parked to pickup (retrieved or recalled),\n"+
		"nearest-rank median and 90th percentile. OPEN: still parked. BEFORE RECALL: retrieved before the first recall.")
	return err
}

func printReportCSV(w io.Writer, rep store.Report) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(append([]string{string(rep.Query.By)}, reportHeader()...)); err != nil {
		return err
	}
	for _, g := range rep.Groups {
		if err := cw.Write(append([]string{csvText(g.Group)}, reportCells(g, false)...)); err != nil {
			return err
		}
	}
	if err := cw.Write(append([]string{"TOTAL"}, reportCells(rep.Total, false)...)); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

func printReportJSON(w io.Writer, rep store.Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(rep.JSON())
}
