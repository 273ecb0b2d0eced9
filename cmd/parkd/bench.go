package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/store"
)

// parkd bench: a load tool. It starts parkd (as a child process running
// "serve", or with --inproc in this process), drives it through the
// FreeSWITCH simulator over real sockets and reports what parkd achieved.
// The simulator runs in this process and sees both ends of every call: when
// the call's socket to parkd connected, and when parkd's last command for
// it arrived (uuid_transfer ... endless_playback for a park, uuid_bridge for
// a retrieve). See BENCHMARKS.md.

// benchConfig is one run: a scenario and its knobs.
type benchConfig struct {
	Scenario string
	Duration time.Duration // steady: how long parks arrive; parked10k: how long recalls are spread over
	Rate     float64       // parks per second
	Calls    int           // parked10k, burst: calls parked
	Wait     time.Duration // mean wait of retrieved and abandoned calls (uniform over 0.5x-1.5x)
	Retrieve float64       // share of calls retrieved; the rest split between
	Abandon  float64       // abandoned (the caller hangs up) and
	Recall   float64       // recalled (nobody retrieves; the parker answers the recall)
	Timeout  time.Duration // steady, burst: the lot's timeout
	Talk     time.Duration // how long a retrieved or recalled call stays bridged
	AnswerIn time.Duration // how long the parker's phone rings before it answers a recall
	BgRate   float64       // parked10k: background parks/s (retrieved quickly) while recalls fire
	Lots     int           // parked10k: lots the calls are spread over (staggered timeouts)
	Rows     int           // report1m: history rows
	Seed     uint64
	InProc   bool
	Dir      string
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
	default:
		return c, fmt.Errorf("%w: bench: unknown scenario %q (steady, parked10k, burst, report1m)", errUsage, name)
	}
	return c, nil
}

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("bench", "Load-test parkd against the built-in FreeSWITCH simulator (see BENCHMARKS.md).", stderr)
	scenario := fs.String("scenario", "steady", "`NAME`: steady, parked10k, burst or report1m")
	duration := fs.Duration("duration", 0, "steady: how long parks arrive; parked10k: how long the recalls are spread over (default per scenario)")
	rate := fs.Float64("rate", 0, "parks per `N` second (default per scenario)")
	calls := fs.Int("calls", 0, "parked10k and burst: `N` calls to park (default per scenario)")
	wait := fs.Duration("wait", 0, "mean wait before a retrieve or an abandon (default per scenario)")
	mix := fs.String("mix", "", "steady: `R,A,C` shares retrieved, abandoned, recalled (default 0.9,0.05,0.05)")
	bgRate := fs.Float64("bg-rate", -1, "parked10k: background parks per `N` second, retrieved quickly, while the recalls fire (default 100)")
	rows := fs.Int("rows", 0, "report1m: history `N` rows (default 1000000)")
	seed := fs.Uint64("seed", 1, "random `SEED`: the same seed gives the same load")
	inproc := fs.Bool("inproc", false, "run parkd in this process instead of a child process")
	dir := fs.String("dir", "", "work `DIR` for the database and parkd's log, kept afterwards (default: a temporary one)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write this process's CPU profile to `FILE` (with --inproc: parkd's and the simulator's)")
	memProfile := fs.String("memprofile", "", "write this process's allocation profile to `FILE` at the end")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
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
	if *bgRate >= 0 {
		c.BgRate = *bgRate
	}
	if *mix != "" {
		var v [3]float64
		f := strings.Split(*mix, ",")
		if len(f) != 3 {
			return fmt.Errorf("%w: bench: --mix %q: want three shares R,A,C", errUsage, *mix)
		}
		for i, s := range f {
			if v[i], err = strconv.ParseFloat(strings.TrimSpace(s), 64); err != nil || v[i] < 0 {
				return fmt.Errorf("%w: bench: --mix %q: %q is not a share", errUsage, *mix, s)
			}
		}
		sum := v[0] + v[1] + v[2]
		if sum <= 0 {
			return fmt.Errorf("%w: bench: --mix %q: shares add up to zero", errUsage, *mix)
		}
		c.Retrieve, c.Abandon, c.Recall = v[0]/sum, v[1]/sum, v[2]/sum
	}
	c.Seed, c.InProc = *seed, *inproc
	if *dir == "" {
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
	Mode     string  `json:"mode"` // child (parkd in its own process) or inproc
	Seed     uint64  `json:"seed"`
	CPUs     int     `json:"cpus"`
	Seconds  float64 `json:"seconds"` // wall time of the load

	Parks     int `json:"parks"`
	Retrieves int `json:"retrieves"`
	Recalls   int `json:"recalls"`
	Abandons  int `json:"abandons"`

	ParksPerS     float64 `json:"parks_per_s"`
	RetrievesPerS float64 `json:"retrieves_per_s"`

	ParkP50       float64 `json:"park_p50_ms"`
	ParkP90       float64 `json:"park_p90_ms"`
	ParkP99       float64 `json:"park_p99_ms"`
	ParkMax       float64 `json:"park_max_ms"`
	RetrieveP50   float64 `json:"retrieve_p50_ms"`
	RetrieveP90   float64 `json:"retrieve_p90_ms"`
	RetrieveP99   float64 `json:"retrieve_p99_ms"`
	RetrieveMax   float64 `json:"retrieve_max_ms"`
	RecallLateP50 float64 `json:"recall_late_p50_ms"`
	RecallLateP99 float64 `json:"recall_late_p99_ms"`
	RecallLateMax float64 `json:"recall_late_max_ms"`

	PeakParked     int     `json:"peak_parked"`
	PeakRSSMB      float64 `json:"peak_rss_mb"`            // parkd's VmHWM (inproc: the whole process, simulator included)
	PeakThreads    int     `json:"peak_threads,omitempty"` // child: parkd's OS threads
	PeakGoroutines int     `json:"peak_goroutines,omitempty"`
	ParkdCPUS      float64 `json:"parkd_cpu_s"` // child: parkd's user+system CPU; inproc: the whole process
	SimCPUS        float64 `json:"sim_cpu_s"`   // child: this process (simulator and load driver); inproc: 0, shared

	HistoryRows     int            `json:"history_rows"`
	HistoryRowsPerS float64        `json:"history_rows_per_s"`
	HistoryPeakPerS int            `json:"history_peak_rows_per_s"` // the busiest wall-clock second
	HistoryEvents   map[string]int `json:"history_events"`

	// report1m
	ReportRows    int                `json:"report_rows,omitempty"`
	ReportGenS    float64            `json:"report_gen_s,omitempty"`
	ReportP50     float64            `json:"report_p50_ms,omitempty"` // the year's report by lot, all rows
	ReportMax     float64            `json:"report_max_ms,omitempty"`
	ReportQueries map[string]float64 `json:"report_queries_p50_ms,omitempty"`

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
	} else {
		p("wall time", "%.1f s", r.Seconds)
		p("parks", "%d (%.0f/s)", r.Parks, r.ParksPerS)
		p("retrieves", "%d (%.0f/s)", r.Retrieves, r.RetrievesPerS)
		p("recalls, abandons", "%d, %d", r.Recalls, r.Abandons)
		p("park latency", "p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms", r.ParkP50, r.ParkP90, r.ParkP99, r.ParkMax)
		p("retrieve latency", "p50 %.2f  p90 %.2f  p99 %.2f  max %.2f ms", r.RetrieveP50, r.RetrieveP90, r.RetrieveP99, r.RetrieveMax)
		p("recall lateness", "p50 %.2f  p99 %.2f  max %.2f ms", r.RecallLateP50, r.RecallLateP99, r.RecallLateMax)
		p("peak parked", "%d", r.PeakParked)
		if r.Mode == "child" {
			p("parkd peak RSS", "%.1f MB, %d threads", r.PeakRSSMB, r.PeakThreads)
			p("CPU", "parkd %.1f s, simulator+driver %.1f s", r.ParkdCPUS, r.SimCPUS)
		} else {
			p("process peak RSS", "%.1f MB (simulator included), %d goroutines", r.PeakRSSMB, r.PeakGoroutines)
			p("CPU", "%.1f s (parkd and simulator together)", r.ParkdCPUS)
		}
		p("history rows", "%d (%.0f/s, busiest second %d)", r.HistoryRows, r.HistoryRowsPerS, r.HistoryPeakPerS)
	}
	p("errors", "%d", r.Errors)
	for _, e := range r.ErrorSample {
		p("", "%s", e)
	}
	return tw.Flush()
}

// ---------------------------------------------------------------------------
// The load scenarios.

type fate int

const (
	fateRetrieve fate = iota
	fateAbandon
	fateRecall
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
		return nil, nil, fmt.Errorf("%w: bench: --rate must be positive", errUsage)
	}
	switch c.Scenario {
	case "steady":
		n := int(c.Rate * c.Duration.Seconds())
		if n <= 0 {
			return nil, nil, fmt.Errorf("%w: bench: --duration too short", errUsage)
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
	case "burst":
		if c.Calls <= 0 {
			return nil, nil, fmt.Errorf("%w: bench: --calls must be positive", errUsage)
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
			return nil, nil, fmt.Errorf("%w: bench: need --calls >= %d", errUsage, c.Lots)
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
	default:
		return nil, nil, fmt.Errorf("%w: bench: unknown scenario %q", errUsage, c.Scenario)
	}
	return lots, calls, nil
}

// tracked is what the simulator saw of one channel. Guarded by tracker.mu.
type tracked struct {
	connectAt time.Time     // its socket to parkd connected
	doneAt    time.Time     // parkd's last command for it arrived
	done      chan struct{} // closed at doneAt
	lot       string
	slot      int
	parkedAt  time.Time // park_parked_at as parkd set it
	recalled  chan struct{}
}

// tracker follows parkd's commands in the simulator (fstest's OnConnect and
// OnCommand hooks).
type tracker struct {
	sim      *fstest.Switch // set once the switch is up
	simReady chan struct{}
	talk     time.Duration
	timeouts map[string]time.Duration
	ready    chan struct{} // parkd subscribed to events
	readyOne sync.Once

	mu         sync.Mutex
	calls      map[string]*tracked
	legs       map[string]string // recall leg -> parked call
	recallLate []time.Duration
	parked     int
	peakParked int
	errs       []string
	nerr       int
}

func newTracker(timeouts map[string]time.Duration, talk time.Duration) *tracker {
	return &tracker{timeouts: timeouts, talk: talk, ready: make(chan struct{}), simReady: make(chan struct{}),
		calls: map[string]*tracked{}, legs: map[string]string{}}
}

// get returns uuid's record, creating it. Called with t.mu held.
func (t *tracker) get(uuid string) *tracked {
	r, ok := t.calls[uuid]
	if !ok {
		r = &tracked{done: make(chan struct{}), recalled: make(chan struct{})}
		t.calls[uuid] = r
	}
	return r
}

func (t *tracker) rec(uuid string) *tracked {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.get(uuid)
}

func (t *tracker) fail(format string, a ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nerr++
	if len(t.errs) < 10 {
		t.errs = append(t.errs, fmt.Sprintf(format, a...))
	}
}

func (t *tracker) onConnect(uuid string, at time.Time) {
	t.mu.Lock()
	t.get(uuid).connectAt = at
	t.mu.Unlock()
}

// varOf returns the value of name=... in an originate's {...} block.
func varOf(line, name string) string {
	i := strings.Index(line, name+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(name)+1:]
	if j := strings.IndexAny(v, ",}"); j >= 0 {
		v = v[:j]
	}
	return v
}

func (t *tracker) onCommand(conn, line string, at time.Time) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return
	}
	if conn == "in" {
		switch {
		case f[0] == "event":
			t.readyOne.Do(func() { close(t.ready) })
		case f[0] == "bgapi" && f[1] == "originate":
			call, leg := varOf(line, "park_recall_for"), varOf(line, "origination_uuid")
			t.mu.Lock()
			defer t.mu.Unlock()
			r := t.get(call)
			t.legs[leg] = call
			if to, ok := t.timeouts[r.lot]; ok && !r.parkedAt.IsZero() {
				t.recallLate = append(t.recallLate, at.Sub(r.parkedAt.Add(to)))
			}
		case f[0] == "api" && len(f) >= 4 && f[1] == "uuid_bridge":
			// A recall: parked call, recall leg. The parker talks, then
			// hangs up; hangup_after_bridge ends the caller's leg too.
			call, leg := f[2], f[3]
			t.mu.Lock()
			r := t.get(call)
			if t.legs[leg] == call && !isClosed(r.recalled) {
				close(r.recalled)
				t.parked--
			}
			t.mu.Unlock()
			time.AfterFunc(t.talk, func() {
				<-t.simReady
				if ch := t.sim.Channel(leg); ch != nil {
					ch.Hangup("")
				}
			})
		}
		return
	}
	if f[0] != "api" || len(f) < 3 {
		return
	}
	switch f[1] {
	case "uuid_setvar":
		if len(f) < 5 {
			return
		}
		t.mu.Lock()
		defer t.mu.Unlock()
		r := t.get(f[2])
		switch f[3] {
		case "park_lot":
			r.lot = f[4]
		case "park_slot":
			r.slot, _ = strconv.Atoi(f[4])
		case "park_parked_at":
			r.parkedAt, _ = time.Parse("2006-01-02T15:04:05.000Z", f[4])
		}
	case "uuid_transfer":
		if len(f) >= 4 && strings.HasPrefix(f[3], "endless_playback:") {
			t.mu.Lock()
			defer t.mu.Unlock()
			r := t.get(f[2])
			if isClosed(r.done) {
				return // a second park of the same channel: not in these scenarios
			}
			r.doneAt = at
			close(r.done)
			t.parked++
			t.peakParked = max(t.peakParked, t.parked)
		}
	case "uuid_bridge":
		if len(f) >= 4 {
			t.mu.Lock()
			defer t.mu.Unlock()
			r := t.get(conn)
			if !isClosed(r.done) {
				r.doneAt = at
				close(r.done)
			}
		}
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (t *tracker) unparked() {
	t.mu.Lock()
	t.parked--
	t.mu.Unlock()
}

// parkdProc is parkd under test.
type parkdProc struct {
	m      *Main     // inproc
	cmd    *exec.Cmd // child
	logf   *os.File
	listen string
	db     string

	peakThreads, peakGoroutines int
	stopSample                  chan struct{}
	sampled                     sync.WaitGroup
}

// benchConf is the daemon's configuration for the bench's lots.
func benchConf(c benchConfig, lots []benchLot, fsAddr, listen, db string) (conf.Config, string) {
	cfg := conf.Default()
	cfg.ESL.Listen, cfg.ESL.FreeSWITCH = listen, fsAddr
	cfg.Store.Path = db
	cfg.Lots = nil
	var b strings.Builder
	fmt.Fprintf(&b, "[esl]\nlisten = %q\nfreeswitch = %q\n[store]\npath = %q\n[log]\nlevel = \"info\"\n", listen, fsAddr, db)
	for i, l := range lots {
		cl := conf.DefaultLot()
		cl.Name, cl.Slots, cl.Timeout = l.name, fmt.Sprintf("%d-%d", l.first, l.last), l.timeout
		cl.ParkCode, cl.RetrieveCode = fmt.Sprintf("*8%03d", i), fmt.Sprintf("*9%03d", i)
		cl.Recall.RingFor = 30 * time.Second
		cl.Recall.Attempts = 3
		cfg.Lots = append(cfg.Lots, cl)
		fmt.Fprintf(&b, "[[lot]]\nname = %q\nslots = %q\ntimeout = %q\npark_code = %q\nretrieve_code = %q\n",
			cl.Name, cl.Slots, cl.Timeout.String(), cl.ParkCode, cl.RetrieveCode)
	}
	return cfg, b.String()
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startParkd starts parkd as a child process (serve -c) or in process.
func startParkd(ctx context.Context, c benchConfig, lots []benchLot, fsAddr string, ready <-chan struct{}) (*parkdProc, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	p := &parkdProc{listen: listen, db: filepath.Join(c.Dir, "parkd.db"), stopSample: make(chan struct{})}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(p.db + suffix)
	}
	cfg, text := benchConf(c, lots, fsAddr, listen, p.db)
	if p.logf, err = os.Create(filepath.Join(c.Dir, "parkd.log")); err != nil {
		return nil, err
	}
	if c.InProc {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		p.m = &Main{Config: cfg, Logger: zerolog.New(p.logf).With().Timestamp().Logger().Level(zerolog.InfoLevel)}
		if err := p.m.Open(ctx); err != nil {
			return nil, err
		}
	} else {
		path := filepath.Join(c.Dir, "parkd.toml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return nil, err
		}
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		p.cmd = exec.Command(exe, "serve", "-c", path)
		// A test binary runs main() with this set (see reliability_test.go).
		p.cmd.Env = append(os.Environ(), "PARKD_TEST_AS_PARKD=1")
		p.cmd.Stdout, p.cmd.Stderr = p.logf, p.logf
		if err := p.cmd.Start(); err != nil {
			return nil, err
		}
	}
	select {
	case <-ready:
	case <-time.After(10 * time.Second):
		p.stop()
		return nil, fmt.Errorf("bench: parkd did not connect to the simulator (log: %s)", p.logf.Name())
	}
	p.sampled.Add(1)
	go p.sample()
	return p, nil
}

// sample records parkd's peak threads (child) or goroutines (inproc).
func (p *parkdProc) sample() {
	defer p.sampled.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		if p.cmd != nil {
			if n := procStatus(p.cmd.Process.Pid, "Threads"); n > p.peakThreads {
				p.peakThreads = n
			}
		} else {
			p.peakGoroutines = max(p.peakGoroutines, runtime.NumGoroutine())
		}
		select {
		case <-p.stopSample:
			return
		case <-t.C:
		}
	}
}

// procStatus reads a numeric field of /proc/<pid>/status (0 for self);
// kB fields are returned in kB.
func procStatus(pid int, field string) int {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(v)
			if len(f) > 0 {
				n, _ := strconv.Atoi(f[0])
				return n
			}
		}
	}
	return 0
}

// procCPU returns a child's user+system CPU time from /proc/<pid>/stat.
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+st) * time.Second / 100 // USER_HZ is 100 on Linux
}

func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// measure fills the resource figures; call it before stop.
func (p *parkdProc) measure(r *benchResult) {
	close(p.stopSample)
	p.sampled.Wait()
	if p.cmd != nil {
		pid := p.cmd.Process.Pid
		r.Mode = "child"
		r.PeakRSSMB = float64(procStatus(pid, "VmHWM")) / 1024
		r.PeakThreads = p.peakThreads
		r.ParkdCPUS = procCPU(pid).Seconds()
		r.SimCPUS = selfCPU().Seconds()
	} else {
		r.Mode = "inproc"
		r.PeakRSSMB = float64(procStatus(0, "VmHWM")) / 1024
		r.PeakGoroutines = p.peakGoroutines
		r.ParkdCPUS = selfCPU().Seconds()
	}
}

// stop shuts parkd down gracefully, so that every history row is written.
func (p *parkdProc) stop() error {
	defer p.logf.Close()
	if p.m != nil {
		return p.m.Close()
	}
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
		return errors.New("parkd did not stop within 15s of SIGTERM")
	}
}

// benchLoad runs one of the call scenarios.
func benchLoad(ctx context.Context, c benchConfig, stderr io.Writer) (*benchResult, error) {
	lots, calls, err := plan(c)
	if err != nil {
		return nil, err
	}
	timeouts := map[string]time.Duration{}
	for _, l := range lots {
		timeouts[l.name] = l.timeout
	}
	tr := newTracker(timeouts, c.Talk)
	sim, err := fstest.New(fstest.Options{OnCommand: tr.onCommand, OnConnect: tr.onConnect})
	if err != nil {
		return nil, err
	}
	tr.sim = sim
	close(tr.simReady)
	defer sim.Close()
	sim.Register("1000", fstest.Endpoint{AnswerAfter: c.AnswerIn})

	p, err := startParkd(ctx, c, lots, sim.Addr(), tr.ready)
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = p.stop()
		}
	}()
	fmt.Fprintf(stderr, "bench %s: %d calls, parkd %s, log %s\n", c.Scenario, len(calls),
		map[bool]string{true: "in process", false: "in a child process"}[c.InProc], p.logf.Name())

	var (
		mu                   sync.Mutex
		parkLat, retrLat     []time.Duration
		parkTimes, retrTimes []time.Time // completion times
		nRecall, nAbandon    int
	)
	driver := &benchDriver{sim: sim, tr: tr, listen: p.listen, talk: c.Talk}
	start := time.Now()
	var wg sync.WaitGroup
	for i, pc := range calls {
		if d := time.Until(start.Add(pc.at)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			out := driver.run(i, pc)
			mu.Lock()
			defer mu.Unlock()
			if out.park > 0 {
				parkLat = append(parkLat, out.park)
				parkTimes = append(parkTimes, out.parkedAt)
			}
			if out.retrieve > 0 {
				retrLat = append(retrLat, out.retrieve)
				retrTimes = append(retrTimes, out.retrievedAt)
			}
			if out.recalled {
				nRecall++
			}
			if out.abandoned {
				nAbandon++
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	r := &benchResult{Scenario: c.Scenario, Seed: c.Seed, CPUs: runtime.NumCPU(), Seconds: elapsed.Seconds()}
	p.measure(r)
	stopped = true
	if err := p.stop(); err != nil {
		tr.fail("parkd shutdown: %v", err)
	}

	r.Parks, r.Retrieves, r.Recalls, r.Abandons = len(parkLat), len(retrLat), nRecall, nAbandon
	r.ParksPerS = ratePerS(parkTimes, start)
	r.RetrievesPerS = ratePerS(retrTimes, time.Time{})
	r.ParkP50, r.ParkP90, r.ParkP99, r.ParkMax = pct(parkLat, 50), pct(parkLat, 90), pct(parkLat, 99), pct(parkLat, 100)
	r.RetrieveP50, r.RetrieveP90, r.RetrieveP99, r.RetrieveMax = pct(retrLat, 50), pct(retrLat, 90), pct(retrLat, 99), pct(retrLat, 100)
	tr.mu.Lock()
	late := slices.Clone(tr.recallLate)
	r.PeakParked = tr.peakParked
	tr.mu.Unlock()
	r.RecallLateP50, r.RecallLateP99, r.RecallLateMax = pct(late, 50), pct(late, 99), pct(late, 100)

	// The history, as parkd wrote it.
	want := map[string]int{"parked": len(calls)}
	for _, pc := range calls {
		switch pc.fate {
		case fateRetrieve:
			want["retrieved"]++
		case fateAbandon:
			want["abandoned"]++
		case fateRecall:
			want["recall"]++
			want["recalled"]++
		}
	}
	if err := historyFigures(ctx, p.db, r); err != nil {
		tr.fail("read history: %v", err)
	}
	for ev, n := range r.HistoryEvents {
		if want[ev] != n {
			tr.fail("history: %d %q rows, want %d", n, ev, want[ev])
		}
	}
	for ev, n := range want {
		if _, ok := r.HistoryEvents[ev]; !ok && n > 0 {
			tr.fail("history: no %q rows, want %d", ev, n)
		}
	}
	tr.mu.Lock()
	r.Errors, r.ErrorSample = tr.nerr, tr.errs
	tr.mu.Unlock()
	return r, nil
}

// outcome is what the driver saw of one planned call.
type outcome struct {
	park, retrieve        time.Duration
	parkedAt, retrievedAt time.Time
	recalled, abandoned   bool
}

type benchDriver struct {
	sim    *fstest.Switch
	tr     *tracker
	listen string
	talk   time.Duration
}

// callTimeout bounds every wait for parkd: far beyond any latency that
// would pass, short enough that a lost call ends the run.
const callTimeout = 10 * time.Second

func (d *benchDriver) waitDone(r *tracked, what, uuid string) bool {
	select {
	case <-r.done:
		return true
	case <-time.After(callTimeout):
		d.tr.fail("%s %s: parkd's last command did not arrive within %v", what, uuid, callTimeout)
		return false
	}
}

// run plays one planned call: park, then retrieve, abandon or wait for the
// recall.
func (d *benchDriver) run(i int, pc plannedCall) (out outcome) {
	num := strconv.Itoa(5550000 + i%10000)
	ch, err := d.sim.Call(fstest.CallSpec{
		SocketAddr: d.listen, CallerName: "Patient " + num, CallerNumber: num, Destination: "*70",
		Vars:     map[string]string{"park_action": "park", "park_lot": pc.lot, "park_slot": ""},
		Answered: true, Callee: "1000", ReferredBy: "<sip:1000@127.0.0.1>",
		AfterSocket: fallbackTailBench,
	})
	if err != nil {
		d.tr.fail("park call %d: %v", i, err)
		return out
	}
	r := d.tr.rec(ch.UUID())
	if !d.waitDone(r, "park", ch.UUID()) {
		return out
	}
	d.tr.mu.Lock()
	out.park, out.parkedAt = r.doneAt.Sub(r.connectAt), r.doneAt
	lot, slot, deadline := r.lot, r.slot, r.parkedAt.Add(d.tr.timeouts[r.lot])
	d.tr.mu.Unlock()

	switch pc.fate {
	case fateAbandon:
		time.Sleep(pc.wait)
		d.tr.unparked()
		ch.Hangup("")
		out.abandoned = true
	case fateRecall:
		select {
		case <-r.recalled:
			out.recalled = true
		case <-time.After(time.Until(deadline) + callTimeout):
			d.tr.fail("recall of %s (deadline %s) not bridged within %v of its deadline", ch.UUID(), deadline.Format(time.StampMilli), callTimeout)
		}
	case fateRetrieve:
		time.Sleep(pc.wait)
		d.tr.unparked()
		rc, err := d.sim.Call(fstest.CallSpec{
			SocketAddr: d.listen, CallerName: "Nurse", CallerNumber: "2002", Destination: "*71" + strconv.Itoa(slot),
			Vars: map[string]string{"park_action": "retrieve", "park_lot": lot, "park_slot": strconv.Itoa(slot)},
		})
		if err != nil {
			d.tr.fail("retrieve call for %s: %v", ch.UUID(), err)
			return out
		}
		rr := d.tr.rec(rc.UUID())
		if !d.waitDone(rr, "retrieve", rc.UUID()) {
			rc.Hangup("")
			return out
		}
		d.tr.mu.Lock()
		out.retrieve, out.retrievedAt = rr.doneAt.Sub(rr.connectAt), rr.doneAt
		d.tr.mu.Unlock()
		// parkd's uuid_bridge has arrived; check that it worked.
		if st, err := rc.WaitFor(callTimeout, func(st fstest.ChannelState) bool {
			return st.BridgedTo == ch.UUID() || !st.Alive
		}); err != nil || !st.Alive {
			d.tr.fail("retrieve %s of %s: not bridged to it: retriever %v; parked %v", rc.UUID(), ch.UUID(), st, ch.State())
		}
		time.Sleep(d.talk)
		rc.Hangup("")
	}
	return out
}

// fallbackTailBench is what fsconf puts after `socket` in a park extension.
var fallbackTailBench = []string{"playback tone_stream://%(250,250,480,620);loops=4", "transfer parkd_return"}

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

// pct is the p-th percentile (nearest rank) in milliseconds; 100 is the max.
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(math.Ceil(float64(p)/100*float64(len(s)))) - 1
	i = min(max(i, 0), len(s)-1)
	return float64(s[i].Microseconds()) / 1000
}

// historyFigures counts the history parkd wrote.
func historyFigures(ctx context.Context, path string, r *benchResult) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
	if err != nil {
		return err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT event, count(*) FROM history GROUP BY event`)
	if err != nil {
		return err
	}
	r.HistoryEvents = map[string]int{}
	for rows.Next() {
		var ev string
		var n int
		if err := rows.Scan(&ev, &n); err != nil {
			rows.Close()
			return err
		}
		r.HistoryEvents[ev] = n
		r.HistoryRows += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	var first, last string
	if err := db.QueryRowContext(ctx, `SELECT min(at), max(at) FROM history`).Scan(&first, &last); err != nil {
		return err
	}
	t0, err1 := time.Parse("2006-01-02T15:04:05.000Z", first)
	t1, err2 := time.Parse("2006-01-02T15:04:05.000Z", last)
	if err1 == nil && err2 == nil && t1.After(t0) {
		r.HistoryRowsPerS = float64(r.HistoryRows) / t1.Sub(t0).Seconds()
	}
	return db.QueryRowContext(ctx, `SELECT count(*) AS n FROM history GROUP BY substr(at, 1, 19) ORDER BY n DESC LIMIT 1`).
		Scan(&r.HistoryPeakPerS)
}

// ---------------------------------------------------------------------------
// report1m: the report over a generated history.

func benchReport(ctx context.Context, c benchConfig, stderr io.Writer) (*benchResult, error) {
	path := filepath.Join(c.Dir, "history.db")
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(path + suffix)
	}
	end := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	r := &benchResult{Scenario: c.Scenario, Mode: "inproc", Seed: c.Seed, CPUs: runtime.NumCPU(), ReportQueries: map[string]float64{}}
	fmt.Fprintf(stderr, "bench report1m: generating %d history rows in %s\n", c.Rows, path)
	w := store.NewDB(path)
	if err := w.Open(); err != nil {
		return nil, err
	}
	t0 := time.Now()
	gen, err := w.Generate(ctx, store.GenOptions{Rows: c.Rows, Seed: c.Seed, End: end})
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	r.ReportGenS = time.Since(t0).Seconds()
	r.ReportRows = gen.Rows

	// As "parkd report" does: a read-only DB, a fresh process's worth of
	// caches on the first run (the file is in the page cache, though).
	db, err := store.OpenReadOnly(path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	year := store.ReportQuery{From: end.AddDate(-1, 0, -1), To: end.Add(time.Hour), By: store.ByLot}
	queries := []struct {
		name string
		q    store.ReportQuery
	}{
		{"year_by_lot", year},
		{"year_by_hour", store.ReportQuery{From: year.From, To: year.To, By: store.ByHour, Location: time.UTC}},
		{"30d_by_parker", store.ReportQuery{From: end.AddDate(0, 0, -30), To: end, By: store.ByParker}},
		{"24h_by_lot", store.ReportQuery{From: end.Add(-24 * time.Hour), To: end, By: store.ByLot}},
	}
	const runs = 5
	for _, q := range queries {
		var ds []time.Duration
		for range runs {
			t := time.Now()
			rep, err := db.Report(ctx, q.q)
			ds = append(ds, time.Since(t))
			if err != nil {
				r.Errors++
				r.ErrorSample = append(r.ErrorSample, fmt.Sprintf("%s: %v", q.name, err))
				break
			}
			if rep.Total.Parked == 0 {
				r.Errors++
				r.ErrorSample = append(r.ErrorSample, q.name+": empty report")
				break
			}
		}
		r.ReportQueries[q.name] = pct(ds, 50)
		if q.name == "year_by_lot" {
			r.ReportP50, r.ReportMax = pct(ds, 50), pct(ds, 100)
		}
	}
	r.PeakRSSMB = float64(procStatus(0, "VmHWM")) / 1024
	return r, nil
}
