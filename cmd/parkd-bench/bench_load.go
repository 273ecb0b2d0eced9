package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/fsconf"
)

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
	// Forget: the simulator keeps no channel or command it no longer
	// needs, so its memory and GC work do not grow with the run.
	opts := fstest.Options{OnCommand: tr.onCommand, OnWrite: tr.onWrite, OnConnect: tr.onConnect, Forget: true}
	if c.Running != nil {
		c.Running.simOptions(&opts)
	}
	sim, err := fstest.New(opts)
	if err != nil {
		if c.Running != nil {
			return nil, fmt.Errorf("bench: the simulator cannot listen where %s points parkd's inbound client ([esl] freeswitch): %w", c.Running.path, err)
		}
		return nil, err
	}
	tr.sim = sim
	close(tr.simReady)
	defer sim.Close()
	sim.Register("1000", fstest.Endpoint{AnswerAfter: c.AnswerIn})

	var p benchTarget
	if c.Running != nil {
		fmt.Fprintf(stderr, "bench %s: waiting up to %v for parkd to connect to the simulator at %s\n", c.Scenario, c.Running.connectWait, sim.Addr())
		err = c.Running.attach(ctx, sim, tr.ready, stderr)
		p = c.Running
	} else {
		p, err = startParkd(ctx, c, lots, sim.Addr(), tr.ready)
	}
	if err != nil {
		return nil, err
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = p.stop()
		}
	}()
	fmt.Fprintf(stderr, "bench %s: %d calls, parkd %s\n", c.Scenario, len(calls), p.describe())

	var (
		mu               sync.Mutex
		parkLat, retrLat []time.Duration
		// The calls' records, for parkd's own time once the run is
		// over (tracked.own).
		parkRecs, retrRecs   []*tracked
		parkTimes, retrTimes []time.Time // completion times
		nRecall, nAbandon    int
		ours                 []string // the parked calls' UUIDs: their history rows are the run's
		// early are the calls planned to be retrieved or abandoned, for
		// the recalls that came first (see lateTakes).
		early []string
	)
	driver := &benchDriver{sim: sim, tr: tr, listen: p.callAddr(), talk: c.Talk}
	start := time.Now()
	var board chan *boardFigures
	if pp, ok := p.(*parkdProc); ok && pp.board != nil {
		begin, half, end := boardWindow(c)
		board = make(chan *boardFigures, 1)
		probeCtx, stopProbe := context.WithDeadline(ctx, start.Add(end))
		defer stopProbe()
		go func() {
			board <- probeBoard(probeCtx, *pp.board, pp.pid(), c.SSE, start.Add(begin), start.Add(half), tr.fail)
		}()
	}
	noiseDone := make(chan int, 1)
	noiseCtx, stopNoise := context.WithCancel(ctx)
	defer stopNoise()
	if c.Noise > 0 {
		go func() { noiseDone <- makeNoise(noiseCtx, sim, c.Noise, tr.fail) }()
	} else {
		noiseDone <- 0
	}
	// CPU over the load alone, from its first call to its last call's
	// end: parkd's start-up and connection, and its stop, are left out.
	pid := cpuPID(p)
	parkdCPU0, simCPU0 := procCPU(pid), selfCPU()
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
			if out.call != "" {
				ours = append(ours, out.call)
				if pc.fate == fateRetrieve || pc.fate == fateAbandon {
					early = append(early, out.call)
				}
			}
			if out.park > 0 {
				parkLat = append(parkLat, out.park)
				parkRecs = append(parkRecs, out.parkRec)
				parkTimes = append(parkTimes, out.parkedAt)
			}
			if out.retrieve > 0 {
				retrLat = append(retrLat, out.retrieve)
				retrRecs = append(retrRecs, out.retrieveRec)
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
	parkdLoadCPU, simLoadCPU := procCPU(pid)-parkdCPU0, selfCPU()-simCPU0
	stopNoise()

	r := &benchResult{Scenario: c.Scenario, Seed: c.Seed, CPUs: runtime.NumCPU(), Seconds: elapsed.Seconds()}
	if r.NoiseCalls = <-noiseDone; r.NoiseCalls > 0 {
		r.NoisePerS = float64(r.NoiseCalls) / elapsed.Seconds()
	}
	if board != nil {
		r.Board = <-board
		mu.Lock()
		r.Board.ParkP99Without = parkP99In(parkLat, parkTimes, r.Board.phaseA)
		r.Board.ParkP99With = parkP99In(parkLat, parkTimes, r.Board.phaseB)
		mu.Unlock()
	}
	tr.mu.Lock()
	r.EndParked = tr.parked
	tr.mu.Unlock()
	p.measure(r)
	if c.Restart {
		if pp, ok := p.(*parkdProc); ok {
			tr.mu.Lock()
			parked := tr.parked
			tr.mu.Unlock()
			fmt.Fprintf(stderr, "bench %s: restarting parkd with %d calls parked\n", c.Scenario, parked)
			if r.Restart, err = pp.restart(ctx, tr, parked, c.RestartProfile); err != nil {
				tr.fail("restart: %v", err)
			}
		}
	}
	stopped = true
	if err := p.stop(); err != nil {
		tr.fail("parkd shutdown: %v", err)
	}

	r.Parks, r.Retrieves, r.Recalls, r.Abandons = len(parkLat), len(retrLat), nRecall, nAbandon
	if r.Mode == "child" && r.Parks > 0 {
		r.ParkdCPUPerCallUS = r.ParkdCPUS * 1e6 / float64(r.Parks)
	}
	if pid > 0 && r.Parks > 0 {
		r.ParkdLoadCPUS = parkdLoadCPU.Seconds()
		r.ParkdLoadCPUPerCallUS = float64(parkdLoadCPU.Microseconds()) / float64(r.Parks)
		r.SimLoadCPUS = simLoadCPU.Seconds()
		r.SimLoadCPUPerCallUS = float64(simLoadCPU.Microseconds()) / float64(r.Parks)
	}
	r.ParksPerS = ratePerS(parkTimes, start)
	r.RetrievesPerS = ratePerS(retrTimes, time.Time{})
	r.ParkP50, r.ParkP90, r.ParkP99, r.ParkMax = pct(parkLat, 50), pct(parkLat, 90), pct(parkLat, 99), pct(parkLat, 100)
	r.RetrieveP50, r.RetrieveP90, r.RetrieveP99, r.RetrieveMax = pct(retrLat, 50), pct(retrLat, 90), pct(retrLat, 99), pct(retrLat, 100)
	tr.mu.Lock()
	// Now, not as each call finished: by now every answer the simulator
	// wrote before parkd's last command of a call has been reported.
	parkOwn, retrOwn := ownTimes(parkRecs), ownTimes(retrRecs)
	r.ParkOwnP50, r.ParkOwnP99 = pct(parkOwn, 50), pct(parkOwn, 99)
	r.RetrieveOwnP50, r.RetrieveOwnP99 = pct(retrOwn, 50), pct(retrOwn, 99)
	if board != nil {
		// parkOwn follows parkRecs, which follows parkTimes.
		r.Board.ParkOwnP99Without = parkP99In(parkOwn, parkTimes, r.Board.phaseA)
		r.Board.ParkOwnP99With = parkP99In(parkOwn, parkTimes, r.Board.phaseB)
	}
	late := slices.Clone(tr.recallLate)
	recallAt := slices.Clone(tr.recallAt)
	r.RecallRetries = tr.retries
	r.PeakParked = tr.peakParked
	tr.mu.Unlock()
	r.RecallLateP50, r.RecallLateP99, r.RecallLateMax = pct(late, 50), pct(late, 99), pct(late, 100)
	if len(recallAt) > 1 {
		r.RecallsPerS = ratePerS(recallAt, time.Time{})
	}

	// The history, as parkd wrote it.
	want := plannedHistory(calls)
	mu.Lock()
	r.LateTakes = tr.lateTakes(early)
	mu.Unlock()
	want["recall"] += r.LateTakes
	measured, err := p.history(ctx, r, want, ours)
	if err != nil {
		tr.fail("history: %v", err)
	}
	if !measured {
		r.NotMeasured = append(r.NotMeasured, "history")
		want = nil
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

// cpuPID is the process whose CPU is parkd's alone: the child, or with -c
// the --pid given; 0 when parkd shares this process (--inproc) or is
// elsewhere.
func cpuPID(p benchTarget) int {
	switch t := p.(type) {
	case *parkdProc:
		if t.cmd != nil {
			return t.cmd.Process.Pid
		}
	case *runningParkd:
		return t.pid
	}
	return 0
}

// plannedHistory is the history rows per event that calls should leave:
// every call parked, then retrieved, abandoned, or recalled (the recall and
// the parker's answer); a held call is still parked when parkd stops.
func plannedHistory(calls []plannedCall) map[string]int {
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
	return want
}

// outcome is what the driver saw of one planned call.
type outcome struct {
	call           string // the parked call's UUID, once the simulator made it
	park, retrieve time.Duration
	// The simulator's records of the park's and the retrieve's sockets,
	// for parkd's own time (tracked.own), reckoned once the run is over.
	parkRec, retrieveRec  *tracked
	parkedAt, retrievedAt time.Time
	recalled, abandoned   bool
}

type benchDriver struct {
	sim    *fstest.Switch
	tr     *tracker
	listen string
	talk   time.Duration
}

// ownTimes is parkd's own time for each of recs. Called with tracker.mu
// held.
func ownTimes(recs []*tracked) []time.Duration {
	out := make([]time.Duration, len(recs))
	for i, r := range recs {
		out[i] = r.own()
	}
	return out
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
		Vars:     map[string]string{"parkd_action": "park", "parkd_lot": pc.lot, "parkd_slot": ""},
		Answered: true, Callee: "1000", ReferredBy: "<sip:1000@127.0.0.1>",
		AfterSocket: fsconf.FallbackApps(),
	})
	if err != nil {
		d.tr.fail("park call %d: %v", i, err)
		return out
	}
	out.call = ch.UUID()
	r := d.tr.rec(ch.UUID())
	if !d.waitDone(r, "park", ch.UUID()) {
		return out
	}
	d.tr.mu.Lock()
	out.park, out.parkedAt = r.doneAt.Sub(r.connectAt), r.doneAt
	out.parkRec = r
	lot, slot, deadline := r.lot, r.slot, r.parkedAt.Add(d.tr.timeouts[r.lot])
	d.tr.mu.Unlock()

	switch pc.fate {
	case fateHold:
		// Stays parked: the simulator keeps the channel to the end.
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
			Vars:         map[string]string{"parkd_action": "retrieve", "parkd_lot": lot, "parkd_slot": strconv.Itoa(slot)},
			BeforeSocket: fsconf.BeforeSocketApps(), AfterSocket: fsconf.FallbackApps(),
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
		out.retrieveRec = rr
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
