package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"runtime/pprof"
	"time"

	"github.com/parkd/parkd/daemon"
)

// restartFigures is what --restart measured: parkd killed with calls
// parked, started again, and timed until it is ready (GET /readyz answers
// 200: connected to the switch and reconciled with it). The phases are
// read from the simulator's side of parkd's inbound connection.
type restartFigures struct {
	Parked    int     `json:"parked"`           // calls parked in the simulator when parkd was killed
	ReadyS    float64 `json:"ready_s"`          // process start to ready
	AuthS     float64 `json:"auth_s"`           // start to the inbound connection's auth: start-up, the database, occupancy loaded
	ShowS     float64 `json:"show_s"`           // auth to the survey's `show calls` (subscribing)
	SurveyS   float64 `json:"survey_s"`         // `show calls` to the survey's last command
	ApplyS    float64 `json:"apply_s"`          // the last command to ready: the survey's last answers, reconciling, the readiness poll
	Commands  int     `json:"inbound_commands"` // commands on the inbound connection until ready
	PeakRSSMB float64 `json:"peak_rss_mb"`      // the new parkd's VmHWM once ready
	CPUS      float64 `json:"cpu_s"`            // the new parkd's CPU until ready (child only)
}

func (f *restartFigures) print(p func(k, format string, a ...any)) {
	p("restart with calls parked", "%d parked: ready in %.2f s (start-up and occupancy %.2f s, subscribe %.2f s, survey %.2f s in %d commands, reconcile %.2f s)",
		f.Parked, f.ReadyS, f.AuthS, f.ShowS, f.SurveyS, f.Commands, f.ApplyS)
	p("  restarted parkd", "RSS %.1f MB once ready, CPU %.2f s", f.PeakRSSMB, f.CPUS)
}

// readyWait bounds the wait for a restarted parkd to become ready.
const readyWait = 2 * time.Minute

// restart kills parkd with the calls parked (SIGKILL: no shutdown, as a
// crash or the OOM killer would), starts it again with the same
// configuration, and times it until it is ready. In process, parkd is
// closed instead (a close leaves parked calls parked, as a kill does) and
// a new daemon opened. The simulator keeps its calls throughout.
//
// With profile set, this process's CPU profile (the simulator's; in
// process, parkd's too) is written there from the start until ready.
func (p *parkdProc) restart(ctx context.Context, tr *tracker, parked int, profile io.Writer) (*restartFigures, error) {
	p.stopSampling()
	// Let the last rows of the load reach the database first: the restart
	// measures a start, not a crash in the middle of a write.
	time.Sleep(time.Second)
	if p.m != nil {
		if err := p.m.Close(); err != nil {
			return nil, fmt.Errorf("close: %w", err)
		}
	} else {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
	}
	tr.watchInbound()
	if profile != nil {
		if err := pprof.StartCPUProfile(profile); err != nil {
			return nil, err
		}
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	var ready func() bool
	if p.m != nil {
		m := &daemon.Main{Config: p.m.Config, Logger: p.m.Logger}
		if err := m.Open(ctx); err != nil {
			return nil, fmt.Errorf("open: %w", err)
		}
		p.m = m
		ready = func() bool { return m.Ready() == nil }
	} else {
		cmd := exec.Command(p.cmd.Path, p.cmd.Args[1:]...)
		cmd.Stdout, cmd.Stderr = p.cmd.Stdout, p.cmd.Stderr
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		p.cmd = cmd
		client := &http.Client{Timeout: time.Second}
		url := "http://" + p.readyAddr + "/readyz"
		ready = func() bool {
			resp, err := client.Get(url)
			if err != nil {
				return false
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK
		}
	}
	for !ready() {
		if time.Since(start) > readyWait {
			return nil, fmt.Errorf("parkd not ready %v after its start (log: %s)", readyWait, p.logf.Name())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
	readyAt := time.Now()
	pprof.StopCPUProfile()
	w := tr.stopWatching()
	f := &restartFigures{Parked: parked, ReadyS: readyAt.Sub(start).Seconds(), Commands: w.commands}
	if w.auth.IsZero() || w.show.IsZero() {
		return f, errors.New("ready without authenticating and surveying on the inbound connection")
	}
	f.AuthS = w.auth.Sub(start).Seconds()
	f.ShowS = w.show.Sub(w.auth).Seconds()
	f.SurveyS = w.last.Sub(w.show).Seconds()
	f.ApplyS = readyAt.Sub(w.last).Seconds()
	if p.cmd != nil {
		f.PeakRSSMB = float64(procStatus(p.cmd.Process.Pid, "VmHWM")) / 1024
		f.CPUS = procCPU(p.cmd.Process.Pid).Seconds()
	}
	p.stopSampling = sampleEvery(p.sample)
	return f, nil
}
