package main

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/parkd/parkd/cli"
	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
)

// parkd-bench -c FILE drives a parkd that is already running with FILE, on
// this host or another one (so that the simulator does not take the CPU
// parkd needs). The simulator listens where FILE's [esl] freeswitch points,
// with its password; parkd's inbound client finds it there as it would find
// FreeSWITCH, and the calls go to FILE's [esl] listen. The bench never stops
// that parkd: what it cannot see of it (memory and CPU without --pid, the
// history when the database is not readable here) it reports as not
// measured.

// runningParkd is a parkd the bench did not start.
type runningParkd struct {
	path        string // its configuration file
	cfg         conf.Config
	simAddr     string        // where the simulator listens for parkd's inbound client
	listen      string        // where the simulator's calls reach parkd
	db          string        // parkd's database, read-only
	pid         int           // parkd's process on this host; 0: not measured
	connectWait time.Duration // how long parkd may take to connect

	probeMu   sync.Mutex
	probeUUID string        // the probe call's channel, once known
	probeSaw  chan struct{} // closed at parkd's first command on it

	sinceID      int64 // history rows up to this id predate the run
	dbErr        error // why the history is not measured, if it is not
	cpu0         time.Duration
	peakRSS      int // kB, sampled
	peakThr      int
	stopSampling func() // a no-op until attach starts sampling (--pid)
}

// defaultConnectWait bounds the wait for a running parkd's inbound client:
// it retries with a backoff of up to 30s (esl.Client.MaxBackoff), so twice
// that covers a parkd that has been waiting for a switch for a while.
const defaultConnectWait = 60 * time.Second

// historyWait bounds the polling for a running parkd's last history rows:
// it is not stopped, so rows it still has queued land after the load.
const historyWait = 10 * time.Second

// openRunning reads parkd's configuration and checks that its lots are the
// ones c plans. simAddr, listen and db override the config's addresses and
// database path when not "".
func openRunning(path string, c benchConfig, simAddr, listen, db string, pid int, wait time.Duration) (*runningParkd, error) {
	cfg, err := conf.Load(path)
	if err != nil {
		return nil, fmt.Errorf("bench: -c: %w", err)
	}
	lots, calls, err := plan(c)
	if err != nil {
		return nil, err
	}
	if err := checkLots(cfg, lots, calls); err != nil {
		return nil, fmt.Errorf("bench: %s: %w; print the matching configuration with parkd-bench --print-config and the same knobs, and restart parkd with it", path, err)
	}
	p := &runningParkd{path: path, cfg: cfg, simAddr: cmp.Or(simAddr, cfg.ESL.FreeSWITCH),
		listen: cmp.Or(listen, dialable(cfg.ESL.Listen)), db: cmp.Or(db, cfg.Store.Path), pid: pid,
		connectWait: wait, probeSaw: make(chan struct{}), stopSampling: func() {}}
	if pid > 0 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", pid)); err != nil {
			return nil, fmt.Errorf("%w: bench: --pid %d: no such process on this host", cli.ErrUsage, pid)
		}
	}
	return p, nil
}

// dialable turns a listen address on every interface ("0.0.0.0:8084",
// ":8084") into one the simulator can dial: the loopback, which reaches
// parkd when it runs on this host. For a parkd elsewhere, --listen says
// where.
func dialable(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	switch host {
	case "", "0.0.0.0":
		return net.JoinHostPort("127.0.0.1", port)
	case "::":
		return net.JoinHostPort("::1", port)
	}
	return addr
}

// simOptions makes the simulator stand in for FreeSWITCH where parkd
// expects it, and watches parkd's commands for the probe call.
func (p *runningParkd) simOptions(o *fstest.Options) {
	o.Addr, o.Password = p.simAddr, p.cfg.ESL.Password
	next := o.OnCommand
	o.OnCommand = func(conn, line string, at time.Time) {
		p.probeMu.Lock()
		if conn == p.probeUUID && !isClosed(p.probeSaw) {
			close(p.probeSaw)
		}
		p.probeMu.Unlock()
		if next != nil {
			next(conn, line, at)
		}
	}
}

// attach waits until parkd's inbound client has subscribed to the
// simulator's events (ready), checks with a probe call that its outbound
// listener takes the simulator's calls, notes where the history stands and
// starts sampling parkd's process.
func (p *runningParkd) attach(ctx context.Context, sim *fstest.Switch, ready <-chan struct{}, stderr io.Writer) error {
	t := time.NewTimer(p.connectWait)
	defer t.Stop()
	select {
	case <-ready:
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return fmt.Errorf("bench: parkd did not connect to the simulator at %s within %v: is it running "+
			"(parkd serve -c %s) and can it reach that address? (it retries with a backoff of up to 30s)",
			sim.Addr(), p.connectWait, p.path)
	}
	if err := p.probe(sim); err != nil {
		return err
	}
	if p.sinceID, p.dbErr = lastHistoryID(ctx, p.db); p.dbErr != nil {
		fmt.Fprintf(stderr, "bench: parkd's history is not measured: its database is not readable here (%v); --db PATH says where it is\n", p.dbErr)
	}
	if p.pid > 0 {
		p.cpu0 = procCPU(p.pid)
		p.stopSampling = sampleEvery(p.sample)
	}
	return nil
}

// probe places one call that parkd refuses without a history row (a
// retrieve from a slot beyond the first lot's last), so that a listener the
// simulator cannot reach, or an [esl] allow that shuts this host out, is one
// clear error instead of every call of the run timing out. parkd logs it as
// "nothing to retrieve".
func (p *runningParkd) probe(sim *fstest.Switch) error {
	l := p.cfg.Lots[0]
	ch, err := sim.Call(fstest.CallSpec{
		SocketAddr: p.listen, CallerName: "parkd-bench probe", CallerNumber: "2002", Destination: "*71",
		Vars: map[string]string{"parkd_action": "retrieve", "parkd_lot": l.Name, "parkd_slot": strconv.Itoa(l.Last + 1)},
	})
	if err != nil {
		return fmt.Errorf("bench: the simulator cannot reach parkd's outbound listener at %s: %w", p.listen, err)
	}
	p.probeMu.Lock()
	p.probeUUID = ch.UUID()
	saw := p.probeSaw
	p.probeMu.Unlock()
	// parkd's first command on a call socket is "connect". A parkd whose
	// allow list shuts this host out still answers (closing the socket
	// before connect would strand the call on a real switch) but marks the
	// call refused (esl.VarRefused) and hangs it up; an older parkd closed
	// it without a word.
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		_, _ = ch.WaitFor(callTimeout, func(st fstest.ChannelState) bool { return !st.Alive })
	}()
	refused := func() error {
		if ch.State().Vars[esl.VarRefused] == esl.RefusedNotAllowed {
			return fmt.Errorf("bench: parkd at %s refused the simulator's calls: "+
				"let this host in with [esl] allow in %s (parkd logs \"outbound connection refused\")", p.listen, p.path)
		}
		return nil
	}
	select {
	case <-saw:
	case <-ended:
	}
	select {
	case <-saw: // it talked: took the call, or refused this host
		_, _ = ch.WaitFor(callTimeout, func(st fstest.ChannelState) bool { return !st.Alive })
		return refused()
	default:
	}
	if !ch.State().Alive {
		return fmt.Errorf("bench: parkd at %s closed the simulator's call socket without a word: "+
			"let this host in with [esl] allow in %s (parkd logs \"outbound connection refused\")", p.listen, p.path)
	}
	ch.Hangup("")
	return fmt.Errorf("bench: parkd at %s accepted the simulator's call socket but sent nothing within %v", p.listen, callTimeout)
}

// sample records parkd's peak resident memory and threads. VmHWM would
// include every earlier run of a long-lived parkd, so VmRSS is sampled.
func (p *runningParkd) sample() {
	p.peakRSS = max(p.peakRSS, procStatus(p.pid, "VmRSS"))
	p.peakThr = max(p.peakThr, procStatus(p.pid, "Threads"))
}

func (p *runningParkd) callAddr() string { return p.listen }

func (p *runningParkd) describe() string {
	return fmt.Sprintf("already running (config %s, calls to %s, simulator at %s; left running)", p.path, p.listen, p.simAddr)
}

// measure fills what the bench can see of parkd's process: with --pid, its
// memory and threads sampled over the run and the CPU it used meanwhile.
func (p *runningParkd) measure(r *benchResult) {
	r.Mode = "remote"
	r.SimCPUS = selfCPU().Seconds()
	if p.pid == 0 {
		r.NotMeasured = append(r.NotMeasured, "resources")
		return
	}
	p.stopSampling()
	r.ParkdPID = p.pid
	r.PeakRSSMB = float64(p.peakRSS) / 1024
	r.PeakThreads = p.peakThr
	r.ParkdCPUS = max(0, procCPU(p.pid)-p.cpu0).Seconds()
}

// stop leaves parkd running: the simulator's close ends its inbound
// connection, and it goes back to retrying as it would without FreeSWITCH.
func (p *runningParkd) stop() error {
	p.stopSampling()
	return nil
}

// openHistoryDB opens parkd's database read-only, as the CLI's readers do:
// WAL readers never block the daemon's writes.
func openHistoryDB(path string) (*sql.DB, error) {
	return sql.Open("sqlite3", "file:"+path+"?mode=ro&_busy_timeout=5000")
}

// lastHistoryID is the id of the newest history row in path.
func lastHistoryID(ctx context.Context, path string) (int64, error) {
	if _, err := os.Stat(path); err != nil {
		return 0, err
	}
	db, err := openHistoryDB(path)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	var id int64
	if err := db.QueryRowContext(ctx, `SELECT coalesce(max(id), 0) FROM history`).Scan(&id); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return id, nil
}

// history reads the rows parkd wrote since the run began for the run's own
// calls (ours), polling until there are as many as want asks or
// historyWait passes. Rows of other calls, such as a previous run's
// leftovers that parkd closed as lost when it reconnected, are counted
// apart and are no error. It reports false when the database is not
// readable here.
func (p *runningParkd) history(ctx context.Context, r *benchResult, want map[string]int, ours []string) (bool, error) {
	if p.dbErr != nil {
		return false, nil
	}
	db, err := openHistoryDB(p.db)
	if err != nil {
		return false, nil
	}
	defer db.Close()
	mine := make(map[string]bool, len(ours))
	for _, u := range ours {
		mine[u] = true
	}
	got := map[string]int{}
	var ats []string
	last := p.sinceID
	deadline := time.Now().Add(historyWait)
	for {
		if last, err = p.readRows(ctx, db, last, mine, got, &ats, r); err != nil {
			return true, err
		}
		if covers(got, want) || time.Now().After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return true, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.HistoryEvents, r.HistoryRows = got, len(ats)
	r.HistoryRowsPerS, r.HistoryPeakPerS = rowRates(ats)
	if len(ats) == 0 && len(want) > 0 {
		return true, fmt.Errorf("no rows of this run's calls in %s within %v: is it the database of the parkd at %s?", p.db, historyWait, p.listen)
	}
	return true, nil
}

// readRows adds the history rows after id last to got (this run's calls)
// or to r.HistoryOtherRows, and returns the last id read.
func (p *runningParkd) readRows(ctx context.Context, db *sql.DB, last int64, mine map[string]bool,
	got map[string]int, ats *[]string, r *benchResult) (int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT id, at, call_uuid, event FROM history WHERE id > ? ORDER BY id`, last)
	if err != nil {
		return last, fmt.Errorf("%s: %w", p.db, err)
	}
	defer rows.Close()
	for rows.Next() {
		var at, call, ev string
		if err := rows.Scan(&last, &at, &call, &ev); err != nil {
			return last, err
		}
		if mine[call] {
			got[ev]++
			*ats = append(*ats, at)
		} else {
			r.HistoryOtherRows++
		}
	}
	return last, rows.Err()
}

// covers reports whether got has at least as many rows of each event as
// want.
func covers(got, want map[string]int) bool {
	for ev, n := range want {
		if got[ev] < n {
			return false
		}
	}
	return true
}

// rowRates is rows per second from the first row to the last, and the rows
// of the busiest wall-clock second, from the rows' times as stored.
func rowRates(ats []string) (perS float64, peak int) {
	if len(ats) == 0 {
		return 0, 0
	}
	first, last := ats[0], ats[0]
	bySec := map[string]int{}
	for _, at := range ats {
		first, last = min(first, at), max(last, at) // fixed-width UTC text sorts as time
		if len(at) >= 19 {
			bySec[at[:19]]++
		}
	}
	for _, n := range bySec {
		peak = max(peak, n)
	}
	t0, err0 := time.Parse("2006-01-02T15:04:05.000Z", first)
	t1, err1 := time.Parse("2006-01-02T15:04:05.000Z", last)
	if errors.Join(err0, err1) == nil && t1.After(t0) {
		perS = float64(len(ats)) / t1.Sub(t0).Seconds()
	}
	return perS, peak
}
