package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/parkd/parkd/cli"
	"github.com/parkd/parkd/store"
)

// parkd-bench: a load tool. It starts parkd (as a child process running
// "serve", or with --inproc in this process) or, with -c, drives one already
// running (bench_running.go), through the FreeSWITCH simulator over real
// sockets, and reports what parkd achieved.
// The simulator runs in this process and sees both ends of every call: when
// the call's socket to parkd connected, and when parkd's last command for
// it arrived (uuid_transfer ... endless_playback for a park, uuid_bridge for
// a retrieve). See BENCHMARKS.md.

// benchConfig is one run: a scenario and its knobs.
type benchConfig struct {
	Scenario string
	Duration time.Duration // steady: how long parks arrive; parked10k, parked50k: how long recalls are spread over
	Rate     float64       // parks per second
	Calls    int           // parked10k, burst: calls parked; parked50k: calls held parked throughout
	Wait     time.Duration // mean wait of retrieved and abandoned calls (uniform over 0.5x-1.5x)
	Retrieve float64       // share of calls retrieved; the rest split between
	Abandon  float64       // abandoned (the caller hangs up) and
	Recall   float64       // recalled (nobody retrieves; the parker answers the recall)
	Timeout  time.Duration // steady, burst: the lot's timeout
	Talk     time.Duration // how long a retrieved or recalled call stays bridged
	AnswerIn time.Duration // how long the parker's phone rings before it answers a recall
	BgRate   float64       // parked10k, parked50k: background parks/s (retrieved quickly) while recalls fire
	// RecallRate is parked50k's recalls per second: that many more calls
	// than Calls are parked so that their deadlines come due evenly, at
	// this rate, over Duration, while Calls stay parked.
	RecallRate float64
	// Restart (parked50k): once the load is over, with Calls parked, parkd
	// is killed (SIGKILL; in process: closed) and started again, and the
	// time until it is ready is measured.
	Restart bool
	// RestartProfile, if set, receives the CPU profile of the restart.
	RestartProfile io.Writer
	Lots           int     // parked10k: lots the calls are spread over (staggered timeouts)
	Rows           int     // report1m: history rows
	Postgres       string  // report1m: a PostgreSQL DSN to copy the history into and report from too
	SSE            int     // board: SSE clients connected halfway
	Noise          float64 // ordinary calls/s beside the scenario's, which never reach parkd
	Seed           uint64
	InProc         bool
	Parkd          string // the parkd binary a child-process run starts
	Dir            string
	Running        *runningParkd // -c: the parkd to drive; nil: the bench starts one
}

func defaultBench(name string) (benchConfig, error) {
	c := benchConfig{Scenario: name, Seed: 1, Wait: time.Second, Talk: 100 * time.Millisecond,
		AnswerIn: 100 * time.Millisecond, Timeout: time.Hour, Retrieve: 1}
	switch name {
	case "steady":
		c.Rate, c.Duration = 500, 60*time.Second
		c.Retrieve, c.Abandon, c.Recall = 0.9, 0.05, 0.05
		c.Timeout = 2 * time.Second
	case "parked10k":
		c.Rate, c.Calls, c.Duration, c.Lots, c.BgRate = 500, 10_000, 60*time.Second, 50, 100
		c.Retrieve, c.Recall = 0, 1
	case "burst":
		c.Calls, c.Rate, c.Wait = 2000, 2000, 2*time.Second
	case "report1m":
		c.Rows = 1_000_000
	case "parked50k":
		c.Rate, c.Calls, c.Duration, c.BgRate, c.RecallRate = 250, 50_000, 60*time.Second, 20, 100
		c.Retrieve, c.Recall = 0, 1
	case "board":
		c.Rate, c.Calls, c.Duration, c.SSE = 50, 1000, 60*time.Second, 1000
	default:
		return c, fmt.Errorf("%w: bench: unknown scenario %q (steady, parked10k, parked50k, burst, report1m, board)", cli.ErrUsage, name)
	}
	return c, nil
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("parkd-bench", "Load-test parkd against the built-in FreeSWITCH simulator (see BENCHMARKS.md).\n"+
		"With --print-config it prints the configuration for a parkd you start yourself, here or on\n"+
		"another host; with -c FILE and the same knobs it drives that parkd and leaves it running.", stderr)
	scenario := fs.String("scenario", "steady", "`NAME`: steady, parked10k, parked50k, burst, report1m or board")
	duration := fs.Duration("duration", 0, "steady: how long parks arrive; parked10k, parked50k: how long the recalls are spread over (default per scenario)")
	rate := fs.Float64("rate", 0, "parks per `N` second (default per scenario)")
	calls := fs.Int("calls", 0, "parked10k and burst: `N` calls to park; board, parked50k: calls held parked (default per scenario)")
	recallRate := fs.Float64("recall-rate", 0, "parked50k: `N` recalls per second come due over --duration while --calls stay parked (default 100)")
	restart := fs.Bool("restart", false, "parked50k: at the end, with --calls parked, kill parkd (SIGKILL) and time its start until it is ready")
	noise := fs.Float64("noise", 0, "ordinary calls per `N` second beside the scenario's, placed and hung up in the simulator without reaching parkd (the switch's other traffic)")
	sseClients := fs.Int("sse-clients", 0, "board: `N` SSE clients connected halfway (default 1000)")
	wait := fs.Duration("wait", 0, "mean wait before a retrieve or an abandon (default per scenario)")
	mix := fs.String("mix", "", "steady: `R,A,C` shares retrieved, abandoned, recalled (default 0.9,0.05,0.05)")
	bgRate := fs.Float64("bg-rate", 0, "parked10k, parked50k: background parks per `N` second, retrieved quickly, while the recalls fire (default 100, parked50k 20)")
	rows := fs.Int("rows", 0, "report1m: history `N` rows (default 1000000)")
	postgres := fs.String("postgres", "", "report1m: also copy the history into this empty PostgreSQL database (`DSN`; password in PGPASSWORD)\n"+
		"with parkd migrate's copy, and run the same reports there")
	seed := fs.Uint64("seed", 1, "random `SEED`: the same seed gives the same load")
	inproc := fs.Bool("inproc", false, "run parkd in this process instead of a child process")
	parkdBin := fs.String("parkd", "", "the parkd `BINARY` to start as a child process (default: parkd beside this program, else on $PATH)")
	dir := fs.String("dir", "", "work `DIR` for the database and parkd's log, kept afterwards (default: a temporary one)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write this process's CPU profile to `FILE` (with --inproc: parkd's and the simulator's)")
	profileRestart := fs.Bool("profile-restart", false, "with --restart and --cpuprofile: profile only the restart, from parkd's start until it is ready")
	memProfile := fs.String("memprofile", "", "write this process's allocation profile to `FILE` at the end")
	traceTo := fs.String("trace", "", "write this process's execution trace (runtime/trace) to `FILE`: with --inproc, where parkd's goroutines waited (go tool trace -pprof=sched FILE)")
	cfgPath := fs.String("c", "", "drive the parkd already running with this configuration `FILE` (from --print-config) instead of starting one")
	printConfig := fs.Bool("print-config", false, "print the parkd configuration the scenario and knobs need, and exit")
	simAddr := fs.String("sim-addr", "", "`HOST:PORT` where the simulator listens for parkd's inbound client, [esl] freeswitch (default "+benchSimAddr+"; with -c the config's)")
	listen := fs.String("listen", "", "`HOST:PORT` of parkd's outbound listener, [esl] listen (default "+benchListen+"; with -c the config's)")
	dbPath := fs.String("db", "", "`PATH` of parkd's database, [store] path (default "+benchDB+"; with -c the config's, read here read-only)")
	pid := fs.Int("pid", 0, "with -c: parkd's process `ID` on this host, to measure its memory, threads and CPU")
	connectWait := fs.Duration("connect-wait", defaultConnectWait, "with -c: how long to wait for parkd to connect to the simulator")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	if err := checkBenchModes(fs, *scenario); err != nil {
		return err
	}
	if *profileRestart && (!*restart || *cpuProfile == "") {
		return cli.Usagef(fs, "--profile-restart goes with --restart and --cpuprofile")
	}
	var cpuProfileTo io.Writer
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if *profileRestart {
			cpuProfileTo = f // parkdProc.restart starts and stops it
		} else {
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
			defer pprof.StopCPUProfile()
		}
	}
	if *traceTo != "" {
		f, err := os.Create(*traceTo)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := trace.Start(f); err != nil {
			return err
		}
		defer trace.Stop()
	}
	if *memProfile != "" {
		defer func() {
			if f, err := os.Create(*memProfile); err == nil {
				_ = pprof.Lookup("allocs").WriteTo(f, 0)
				f.Close()
			}
		}()
	}
	c, err := defaultBench(*scenario)
	if err != nil {
		return err
	}
	if *duration > 0 {
		c.Duration = *duration
	}
	if *rate > 0 {
		c.Rate = *rate
	}
	if *calls > 0 {
		c.Calls = *calls
	}
	if *wait > 0 {
		c.Wait = *wait
	}
	if *rows > 0 {
		c.Rows = *rows
	}
	if *postgres != "" {
		if c.Scenario != "report1m" {
			return cli.Usagef(fs, "--postgres goes with --scenario report1m")
		}
		c.Postgres = *postgres
	}
	if *sseClients > 0 {
		c.SSE = *sseClients
	}
	if *recallRate < 0 {
		return cli.Usagef(fs, "--recall-rate must not be negative")
	}
	if *recallRate > 0 {
		c.RecallRate = *recallRate
	}
	c.Restart, c.RestartProfile = *restart, cpuProfileTo
	if *noise < 0 {
		return cli.Usagef(fs, "--noise must not be negative")
	}
	c.Noise = *noise
	if *bgRate < 0 {
		return cli.Usagef(fs, "--bg-rate must not be negative")
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "bg-rate" {
			c.BgRate = *bgRate // 0 too: no background parks
		}
	})
	if *mix != "" {
		var v [3]float64
		f := strings.Split(*mix, ",")
		if len(f) != 3 {
			return fmt.Errorf("%w: bench: --mix %q: want three shares R,A,C", cli.ErrUsage, *mix)
		}
		for i, s := range f {
			if v[i], err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil || v[i] < 0 {
				return fmt.Errorf("%w: bench: --mix %q: %q is not a share", cli.ErrUsage, *mix, s)
			}
		}
		sum := v[0] + v[1] + v[2]
		if sum <= 0 {
			return fmt.Errorf("%w: bench: --mix %q: shares add up to zero", cli.ErrUsage, *mix)
		}
		c.Retrieve, c.Abandon, c.Recall = v[0]/sum, v[1]/sum, v[2]/sum
	}
	c.Seed, c.InProc = *seed, *inproc
	if !c.InProc && *cfgPath == "" && !*printConfig && c.Scenario != "report1m" {
		if c.Parkd, err = findParkd(*parkdBin); err != nil {
			return err
		}
	}
	if *printConfig {
		return printBenchConfig(stdout, c, args, *simAddr, *listen, *dbPath)
	}
	if *cfgPath != "" {
		if c.Running, err = openRunning(*cfgPath, c, *simAddr, *listen, *dbPath, *pid, *connectWait); err != nil {
			return err
		}
	} else if *dir == "" {
		d, err := os.MkdirTemp("", "parkd-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		c.Dir = d
	} else {
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			return err
		}
		c.Dir = *dir
	}

	var res *benchResult
	if c.Scenario == "report1m" {
		res, err = benchReport(ctx, c, stderr)
	} else {
		res, err = benchLoad(ctx, c, stderr)
	}
	if err != nil {
		return err
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(res); err != nil {
			return err
		}
	} else if err := res.printTable(stdout); err != nil {
		return err
	}
	if res.Errors > 0 {
		return fmt.Errorf("bench: %d errors", res.Errors)
	}
	return nil
}

// benchResult is what a run reports. Latencies are in milliseconds.
type benchResult struct {
	Scenario string  `json:"scenario"`
	Mode     string  `json:"mode"` // child (parkd in its own process), inproc, or remote (-c: a parkd the bench did not start)
	Seed     uint64  `json:"seed"`
	CPUs     int     `json:"cpus"`
	Seconds  float64 `json:"seconds"` // wall time of the load

	Parks     int `json:"parks"`
	Retrieves int `json:"retrieves"`
	Recalls   int `json:"recalls"`
	Abandons  int `json:"abandons"`

	ParksPerS     float64 `json:"parks_per_s"`
	RetrievesPerS float64 `json:"retrieves_per_s"`

	ParkP50     float64 `json:"park_p50_ms"`
	ParkP90     float64 `json:"park_p90_ms"`
	ParkP99     float64 `json:"park_p99_ms"`
	ParkMax     float64 `json:"park_max_ms"`
	RetrieveP50 float64 `json:"retrieve_p50_ms"`
	RetrieveP90 float64 `json:"retrieve_p90_ms"`
	RetrieveP99 float64 `json:"retrieve_p99_ms"`
	RetrieveMax float64 `json:"retrieve_max_ms"`
	// parkd's own latency: the above less the simulator's time to answer
	// parkd's commands on the call's socket (see BENCHMARKS.md).
	ParkOwnP50     float64 `json:"park_own_p50_ms"`
	ParkOwnP99     float64 `json:"park_own_p99_ms"`
	RetrieveOwnP50 float64 `json:"retrieve_own_p50_ms"`
	RetrieveOwnP99 float64 `json:"retrieve_own_p99_ms"`
	RecallLateP50  float64 `json:"recall_late_p50_ms"`
	RecallLateP99  float64 `json:"recall_late_p99_ms"`
	RecallLateMax  float64 `json:"recall_late_max_ms"`
	// RecallsPerS is the rate the recalls' originates arrived at, from
	// the first to the last. Lateness and rate count each call's first
	// recall; RecallRetries are the attempts after a failed one, due
	// retry_after after it (a failure is also a history error).
	RecallsPerS   float64 `json:"recalls_per_s,omitempty"`
	RecallRetries int     `json:"recall_retries,omitempty"`
	// LateTakes are calls planned to be retrieved or abandoned before
	// their deadline whose retrieve or hangup came after it, on a machine
	// too busy to keep to the plan: parkd placed the recall first, and its
	// row is expected (BENCHMARKS.md, issue 16).
	LateTakes int `json:"late_takes,omitempty"`

	PeakParked     int     `json:"peak_parked"`
	EndParked      int     `json:"end_parked,omitempty"`   // parked when the load ended (parked50k: the held calls)
	PeakRSSMB      float64 `json:"peak_rss_mb"`            // parkd's VmHWM (inproc: the whole process, simulator included)
	EndRSSMB       float64 `json:"end_rss_mb,omitempty"`   // child: parkd's VmRSS at the end of the load, with the calls still parked then
	PeakThreads    int     `json:"peak_threads,omitempty"` // child: parkd's OS threads
	PeakGoroutines int     `json:"peak_goroutines,omitempty"`
	ParkdCPUS      float64 `json:"parkd_cpu_s"` // child: parkd's user+system CPU; inproc: the whole process
	SimCPUS        float64 `json:"sim_cpu_s"`   // child: this process (simulator and load driver); inproc: 0, shared
	// ParkdCPUPerCallUS is ParkdCPUS over the parks: parkd's CPU per parked
	// call with its retrieve, abandon or recall, start-up included.
	ParkdCPUPerCallUS float64 `json:"parkd_cpu_per_call_us,omitempty"`
	// The same over the load alone, from its first call to the end of its
	// last (parkd's start-up, connection and stop left out), and the
	// simulator's and load driver's (this process's) over the same span:
	// CPU per parked call with its retrieve, abandon or recall. 0 when
	// parkd runs in this process, or elsewhere without --pid.
	ParkdLoadCPUS         float64 `json:"parkd_load_cpu_s,omitempty"`
	ParkdLoadCPUPerCallUS float64 `json:"parkd_load_cpu_per_call_us,omitempty"`
	SimLoadCPUS           float64 `json:"sim_load_cpu_s,omitempty"`
	SimLoadCPUPerCallUS   float64 `json:"sim_load_cpu_per_call_us,omitempty"`
	NoiseCalls            int     `json:"noise_calls,omitempty"` // ordinary calls placed beside the scenario's (--noise)
	NoisePerS             float64 `json:"noise_per_s,omitempty"`

	HistoryRows     int            `json:"history_rows"`
	HistoryRowsPerS float64        `json:"history_rows_per_s"`
	HistoryPeakPerS int            `json:"history_peak_rows_per_s"` // the busiest wall-clock second
	HistoryEvents   map[string]int `json:"history_events"`

	// remote (-c)
	ParkdPID         int      `json:"parkd_pid,omitempty"`          // the --pid measured
	HistoryOtherRows int      `json:"history_other_rows,omitempty"` // rows written during the run for other calls: a previous run's leftovers, closed by parkd
	NotMeasured      []string `json:"not_measured,omitempty"`       // "resources" (no --pid), "history" (database not readable here): their fields are 0

	// report1m
	ReportRows    int                `json:"report_rows,omitempty"`
	ReportGenS    float64            `json:"report_gen_s,omitempty"`
	ReportP50     float64            `json:"report_p50_ms,omitempty"` // the year's report by lot, all rows
	ReportMax     float64            `json:"report_max_ms,omitempty"`
	ReportQueries map[string]float64 `json:"report_queries_p50_ms,omitempty"`
	// PostgreSQL (report1m --postgres): the copy and the same reports.
	PGCopyS               float64            `json:"pg_copy_s,omitempty"`
	PGCopyRowsPerS        float64            `json:"pg_copy_history_rows_per_s,omitempty"`
	PGReportP50           float64            `json:"pg_report_p50_ms,omitempty"`
	PGReportMax           float64            `json:"pg_report_max_ms,omitempty"`
	PGReportQueries       map[string]float64 `json:"pg_report_queries_p50_ms,omitempty"`
	PGReportsSameAsSQLite *bool              `json:"pg_reports_same_as_sqlite,omitempty"`

	// board
	Board *boardFigures `json:"board,omitempty"`

	// parked50k --restart
	Restart *restartFigures `json:"restart,omitempty"`

	Errors      int      `json:"errors"`
	ErrorSample []string `json:"error_sample,omitempty"`
}

func (r *benchResult) printTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := func(k string, f string, a ...any) { fmt.Fprintf(tw, "%s\t"+f+"\n", append([]any{k}, a...)...) }
	p("scenario", "%s (parkd %s, seed %d, %d CPUs)", r.Scenario, r.Mode, r.Seed, r.CPUs)
	if r.Scenario == "report1m" {
		p("history rows", "%d (generated in %.1fs)", r.ReportRows, r.ReportGenS)
		p("report, year by lot", "p50 %.1f ms, max %.1f ms", r.ReportP50, r.ReportMax)
		keys := make([]string, 0, len(r.ReportQueries))
		for k := range r.ReportQueries {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			p("  "+k, "p50 %.1f ms", r.ReportQueries[k])
		}
		if r.PGReportQueries != nil {
			p("PostgreSQL copy", "%.1f s (%.0f history rows/s)", r.PGCopyS, r.PGCopyRowsPerS)
			p("PostgreSQL report, year by lot", "p50 %.1f ms, max %.1f ms", r.PGReportP50, r.PGReportMax)
			for _, k := range keys {
				p("  "+k, "p50 %.1f ms", r.PGReportQueries[k])
			}
			if r.PGReportsSameAsSQLite != nil {
				p("  same figures as SQLite", "%v", *r.PGReportsSameAsSQLite)
			}
		}
	} else {
		p("wall time", "%.1f s", r.Seconds)
		p("parks", "%d (%.0f/s)", r.Parks, r.ParksPerS)
		p("retrieves", "%d (%.0f/s)", r.Retrieves, r.RetrievesPerS)
		p("recalls, abandons", "%d, %d", r.Recalls, r.Abandons)
		if r.NoiseCalls > 0 {
			p("ordinary calls beside", "%d (%.0f/s), never parked", r.NoiseCalls, r.NoisePerS)
		}
		p("park latency", "p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms", r.ParkP50, r.ParkP90, r.ParkP99, r.ParkMax)
		p("retrieve latency", "p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms", r.RetrieveP50, r.RetrieveP90, r.RetrieveP99, r.RetrieveMax)
		p("  parkd's own", "park p50 %.2f  p99 %.2f ms; retrieve p50 %.2f  p99 %.2f ms (less the simulator's time to answer)",
			r.ParkOwnP50, r.ParkOwnP99, r.RetrieveOwnP50, r.RetrieveOwnP99)
		p("recall lateness", "p50 %.2f  p99 %.2f  max %.2f ms", r.RecallLateP50, r.RecallLateP99, r.RecallLateMax)
		if r.RecallsPerS > 0 {
			p("  recalls came due at", "%.0f/s", r.RecallsPerS)
		}
		if r.LateTakes > 0 {
			p("  retrieves or hangups late", "%d came after the call's deadline (the driver fell behind its plan): its recall row is expected", r.LateTakes)
		}
		if r.RecallRetries > 0 {
			p("  recalls retried", "%d (after a failed attempt; not counted in the lateness)", r.RecallRetries)
		}
		p("peak parked", "%d", r.PeakParked)
		switch {
		case r.Mode == "child":
			p("parkd peak RSS", "%.1f MB, %d threads (RSS at the end, %d parked: %.1f MB)", r.PeakRSSMB, r.PeakThreads, r.EndParked, r.EndRSSMB)
			p("CPU", "parkd %.1f s, simulator+driver %.1f s", r.ParkdCPUS, r.SimCPUS)
			p("parkd CPU per parked call", "%.0f µs (with its retrieve, abandon or recall; start-up included)", r.ParkdCPUPerCallUS)
			r.printLoadCPU(p)
		case r.Mode == "remote" && r.notMeasured("resources"):
			p("parkd peak RSS", "not measured (remote parkd; --pid N measures a parkd on this host)")
			p("CPU", "parkd not measured (remote parkd), simulator+driver %.1f s", r.SimCPUS)
		case r.Mode == "remote":
			p("parkd peak RSS", "%.1f MB, %d threads (pid %d, sampled during the run)", r.PeakRSSMB, r.PeakThreads, r.ParkdPID)
			p("CPU", "parkd %.1f s during the run, simulator+driver %.1f s", r.ParkdCPUS, r.SimCPUS)
			r.printLoadCPU(p)
		default:
			p("process peak RSS", "%.1f MB (simulator included), %d goroutines", r.PeakRSSMB, r.PeakGoroutines)
			p("CPU", "%.1f s (parkd and simulator together)", r.ParkdCPUS)
		}
		if r.notMeasured("history") {
			p("history rows", "not measured (remote parkd: its database is not readable here; --db PATH)")
		} else {
			p("history rows", "%d (%.0f/s, busiest second %d)", r.HistoryRows, r.HistoryRowsPerS, r.HistoryPeakPerS)
		}
		if r.Board != nil {
			r.Board.print(p)
		}
		if r.Restart != nil {
			r.Restart.print(p)
		}
		if r.HistoryOtherRows > 0 {
			p("", "and %d rows of other calls (a previous run's leftovers, closed by parkd; not this run's errors)", r.HistoryOtherRows)
		}
	}
	p("errors", "%d", r.Errors)
	for _, e := range r.ErrorSample {
		p("", "%s", e)
	}
	return tw.Flush()
}

// printLoadCPU prints the CPU per call over the load alone.
func (r *benchResult) printLoadCPU(p func(k string, f string, a ...any)) {
	if r.ParkdLoadCPUS > 0 {
		p("  over the load alone", "parkd %.0f µs per call (%.2f s), simulator+driver %.0f µs per call (%.2f s)",
			r.ParkdLoadCPUPerCallUS, r.ParkdLoadCPUS, r.SimLoadCPUPerCallUS, r.SimLoadCPUS)
	}
}

func (r *benchResult) notMeasured(what string) bool { return slices.Contains(r.NotMeasured, what) }

// checkBenchModes refuses flags that do not go together: -c and
// --print-config are for the call scenarios with parkd out of process, and
// their addresses mean nothing without one of them.
func checkBenchModes(fs *flag.FlagSet, scenario string) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	remote := set["c"] || set["print-config"]
	switch {
	case set["c"] && set["print-config"]:
		return fmt.Errorf("%w: bench: --print-config prints the configuration to start parkd with; run with -c afterwards", cli.ErrUsage)
	case remote && scenario == "board":
		return fmt.Errorf("%w: bench: board configures parkd's HTTP server with throwaway credentials; it starts parkd itself", cli.ErrUsage)
	case remote && scenario == "report1m":
		return fmt.Errorf("%w: bench: report1m reads a generated database in this process; -c and --print-config are for the call scenarios", cli.ErrUsage)
	case remote && set["inproc"]:
		return fmt.Errorf("%w: bench: --inproc starts parkd in this process; -c drives one already running", cli.ErrUsage)
	case remote && set["dir"]:
		return fmt.Errorf("%w: bench: --dir holds a database and log of a parkd the bench starts; with -c they are parkd's own", cli.ErrUsage)
	case set["c"] && set["restart"]:
		return fmt.Errorf("%w: bench: --restart kills and starts the parkd the bench started; with -c parkd is yours", cli.ErrUsage)
	case set["restart"] && scenario != "parked50k":
		return fmt.Errorf("%w: bench: --restart goes with --scenario parked50k", cli.ErrUsage)
	case set["recall-rate"] && scenario != "parked50k":
		return fmt.Errorf("%w: bench: --recall-rate goes with --scenario parked50k", cli.ErrUsage)
	}
	for _, name := range []string{"pid", "connect-wait"} {
		if set[name] && !set["c"] {
			return fmt.Errorf("%w: bench: --%s goes with -c", cli.ErrUsage, name)
		}
	}
	for _, name := range []string{"sim-addr", "listen", "db"} {
		if set[name] && !remote {
			return fmt.Errorf("%w: bench: --%s goes with --print-config or -c", cli.ErrUsage, name)
		}
	}
	return nil
}

// ---------------------------------------------------------------------------
// The load scenarios.

type fate int

const (
	fateRetrieve fate = iota
	fateAbandon
	fateRecall
	fateHold // parked until the end of the run, and beyond: parkd is stopped with it parked
)

// plannedCall is one call of the load, fixed by the seed before the run.
type plannedCall struct {
	at   time.Duration // when it reaches the park code, from the start
	lot  string
	fate fate
	wait time.Duration // retrieve, abandon: how long after the park
}

// benchLot is a lot of the bench's configuration.
type benchLot struct {
	name        string
	first, last int
	timeout     time.Duration
}

// plan builds the lots and the calls of c's scenario.
func plan(c benchConfig) ([]benchLot, []plannedCall, error) {
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	jitter := func(mean time.Duration) time.Duration {
		return time.Duration(float64(mean) * (0.5 + rng.Float64()))
	}
	var calls []plannedCall
	var lots []benchLot
	if c.Rate <= 0 {
		return nil, nil, fmt.Errorf("%w: bench: --rate must be positive", cli.ErrUsage)
	}
	switch c.Scenario {
	case "steady":
		n := int(c.Rate * c.Duration.Seconds())
		if n <= 0 {
			return nil, nil, fmt.Errorf("%w: bench: --duration too short", cli.ErrUsage)
		}
		// Slots for everyone parked at once, with room to spare.
		held := c.Rate * (1.5*c.Wait.Seconds() + c.Timeout.Seconds() + 1)
		size := max(100, int(2*held))
		lots = append(lots, benchLot{name: "main", first: 1, last: size, timeout: c.Timeout})
		for i := range n {
			p := plannedCall{at: time.Duration(float64(i) / c.Rate * float64(time.Second)), lot: "main"}
			switch x := rng.Float64(); {
			case x < c.Retrieve:
				p.fate, p.wait = fateRetrieve, jitter(c.Wait)
			case x < c.Retrieve+c.Abandon:
				p.fate, p.wait = fateAbandon, jitter(c.Wait)
			default:
				p.fate = fateRecall
			}
			if p.fate != fateRecall && p.wait >= c.Timeout {
				p.wait = c.Timeout / 2 // retrieved before the recall, as planned
			}
			calls = append(calls, p)
		}
	case "board":
		return planBoard(c, jitter)
	case "burst":
		if c.Calls <= 0 {
			return nil, nil, fmt.Errorf("%w: bench: --calls must be positive", cli.ErrUsage)
		}
		lots = append(lots, benchLot{name: "burst", first: 1, last: c.Calls, timeout: c.Timeout})
		for i := range c.Calls {
			calls = append(calls, plannedCall{
				at: time.Duration(float64(i) / c.Rate * float64(time.Second)), lot: "burst", fate: fateRetrieve, wait: jitter(c.Wait),
			})
		}
	case "parked10k":
		// Call i is parked at i/Rate into lot j = i*Lots/Calls. Lot j's
		// timeout is chosen so that the deadlines run from 2s after the
		// last park to Duration later, evenly: every call is parked before
		// the first recall fires.
		if c.Calls <= 0 || c.Lots <= 0 || c.Lots > c.Calls {
			return nil, nil, fmt.Errorf("%w: bench: need --calls >= %d", cli.ErrUsage, c.Lots)
		}
		parkPhase := float64(c.Calls) / c.Rate // seconds
		start := parkPhase + 2
		per := (c.Calls + c.Lots - 1) / c.Lots
		for j := range c.Lots {
			t := start + float64(j)*(c.Duration.Seconds()-parkPhase)/float64(c.Lots)
			t = max(t, 1) // conf's minimum
			lots = append(lots, benchLot{name: fmt.Sprintf("p%02d", j), first: 10000 + j*per, last: 10000 + (j+1)*per - 1,
				timeout: time.Duration(t * float64(time.Second)).Round(time.Millisecond)})
		}
		for i := range c.Calls {
			calls = append(calls, plannedCall{
				at:  time.Duration(float64(i) / c.Rate * float64(time.Second)),
				lot: lots[i/per].name, fate: fateRecall,
			})
		}
		if c.BgRate > 0 {
			// Background traffic until the last recall: parked and
			// retrieved quickly.
			span := start + c.Duration.Seconds()
			bg := int(c.BgRate * span)
			lots = append(lots, benchLot{name: "bg", first: 1, last: max(100, int(4*c.BgRate*(1.5*c.Wait.Seconds()+1))), timeout: time.Hour})
			for i := range bg {
				calls = append(calls, plannedCall{
					at: time.Duration(float64(i) / c.BgRate * float64(time.Second)), lot: "bg", fate: fateRetrieve, wait: jitter(c.Wait),
				})
			}
			slices.SortStableFunc(calls, func(a, b plannedCall) int { return int(a.at - b.at) })
		}
	case "parked50k":
		return planParked50k(c)
	default:
		return nil, nil, fmt.Errorf("%w: bench: unknown scenario %q", cli.ErrUsage, c.Scenario)
	}
	return lots, calls, nil
}

// parked50kGap is the pause between the last park and the first recall.
const parked50kGap = 2 * time.Second

// holdLots is how many lots parked50k's held calls are spread over.
const holdLots = 10

// planParked50k plans c.Calls calls held parked to the end, in holdLots
// lots whose timeouts outlast the run, and K = RecallRate*Duration more in
// lot "recall", whose deadlines come due one every 1/RecallRate seconds
// over Duration once every call is parked. The fill lasts
// F = max((Calls+K)/Rate, Duration) with parks arriving evenly over it: the
// recalled ones at RecallRate over its last Duration, the held ones in
// between, and one lot timeout, Duration plus a short gap, puts call i of
// the recalled due at F+gap+i/RecallRate. Background parks (BgRate),
// retrieved quickly, run from the start to the last deadline. While the
// recalls come due, at least Calls are parked.
func planParked50k(c benchConfig) ([]benchLot, []plannedCall, error) {
	if c.Calls <= 0 {
		return nil, nil, fmt.Errorf("%w: bench: --calls must be positive", cli.ErrUsage)
	}
	if c.RecallRate <= 0 || c.Duration <= 0 {
		return nil, nil, fmt.Errorf("%w: bench: --recall-rate and --duration must be positive", cli.ErrUsage)
	}
	if c.RecallRate > c.Rate {
		return nil, nil, fmt.Errorf("%w: bench: --recall-rate %v is over --rate %v: the recalled calls must be parked at it too", cli.ErrUsage, c.RecallRate, c.Rate)
	}
	rng := rand.New(rand.NewPCG(c.Seed, c.Seed^0x9e3779b97f4a7c15))
	k := int(c.RecallRate * c.Duration.Seconds())
	fill := max(float64(c.Calls+k)/c.Rate, c.Duration.Seconds()) // seconds
	end := fill + parked50kGap.Seconds() + c.Duration.Seconds()
	secs := func(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

	var lots []benchLot
	per := (c.Calls + holdLots - 1) / holdLots
	holdTimeout := (secs(end) + time.Hour).Round(time.Minute)
	for j := range holdLots {
		lots = append(lots, benchLot{name: fmt.Sprintf("h%02d", j), first: 100000 + j*per, last: 100000 + (j+1)*per - 1, timeout: holdTimeout})
	}
	// Held calls: at the fill's rate before the recalled ones begin, and
	// in the gaps between those afterwards, so that parks arrive evenly.
	var calls []plannedCall
	before := min(c.Calls, int(float64(c.Calls+k)/fill*(fill-c.Duration.Seconds())))
	for i := range c.Calls {
		var at float64
		if i < before {
			at = float64(i) * (fill - c.Duration.Seconds()) / float64(before)
		} else {
			at = fill - c.Duration.Seconds() + float64(i-before)*c.Duration.Seconds()/float64(c.Calls-before)
		}
		calls = append(calls, plannedCall{at: secs(at), lot: lots[i/per].name, fate: fateHold})
	}
	if k > 0 {
		lots = append(lots, benchLot{name: "recall", first: 1000000, last: 1000000 + k - 1,
			timeout: c.Duration + parked50kGap})
		from := fill - c.Duration.Seconds()
		for i := range k {
			calls = append(calls, plannedCall{at: secs(from + float64(i)/c.RecallRate), lot: "recall", fate: fateRecall})
		}
	}
	if c.BgRate > 0 {
		lots = append(lots, benchLot{name: "bg", first: 1, last: max(100, int(4*c.BgRate*(1.5*c.Wait.Seconds()+1))), timeout: holdTimeout})
		for i := range int(c.BgRate * end) {
			w := time.Duration(float64(c.Wait) * (0.5 + rng.Float64()))
			calls = append(calls, plannedCall{at: secs(float64(i) / c.BgRate), lot: "bg", fate: fateRetrieve, wait: w})
		}
	}
	slices.SortStableFunc(calls, func(a, b plannedCall) int { return int(a.at - b.at) })
	return lots, calls, nil
}

// ratePerS is events per second from from (or the first event) to the last.
func ratePerS(times []time.Time, from time.Time) float64 {
	if len(times) == 0 {
		return 0
	}
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	if from.IsZero() {
		from = ts[0]
	}
	d := ts[len(ts)-1].Sub(from).Seconds()
	if d <= 0 {
		return float64(len(ts))
	}
	return float64(len(ts)) / d
}

// pct is store.Percentile of ds in milliseconds; 100 is the max.
func pct(ds []time.Duration, p int) float64 {
	s := slices.Clone(ds)
	slices.Sort(s)
	return float64(store.Percentile(s, p).Microseconds()) / 1000
}
