package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/parkd/parkd/cli"
)

// Ensure parkd-bench runs a tiny steady load end to end (parkd as a child
// process, as the real command runs it) and prints the JSON keys the issue
// asks for. Timings are not asserted: a benchmark is not a test.
func TestBench_SteadyTinyJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts parkd as a child process")
	}
	var out, errb bytes.Buffer
	args := []string{"--scenario", "steady", "--duration", "1s", "--rate", "20", "--wait", "100ms",
		"--mix", "0.5,0.25,0.25", "--noise", "200", "--dir", t.TempDir(), "--json", "--parkd", testParkd}
	if err := runBench(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	}
	var m map[string]any
	if err := json.Unmarshal(out.Bytes(), &m); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out.String())
	}
	for _, k := range []string{"parks_per_s", "retrieves_per_s", "park_p50_ms", "park_p99_ms", "retrieve_p99_ms",
		"recall_late_p99_ms", "peak_rss_mb", "history_rows_per_s", "errors", "parkd_cpu_per_call_us", "noise_calls"} {
		if _, ok := m[k]; !ok {
			t.Errorf("JSON lacks %q:\n%s", k, out.String())
		}
	}
	// The ordinary calls beside the parks change nothing of them: every
	// history row is still the parks' own (a stray one would be counted).
	if n, _ := m["noise_calls"].(float64); n < 1 {
		t.Errorf("noise_calls=%v, want some ordinary calls placed beside the parks", m["noise_calls"])
	}
	if m["errors"] != float64(0) || m["parks"] != float64(20) || m["mode"] != "child" {
		t.Errorf("errors=%v parks=%v mode=%v, want 0, 20, child:\n%s", m["errors"], m["parks"], m["mode"], out.String())
	}
}

// Ensure the table form and the in-process mode work, and that a bad
// scenario is a usage error.
func TestBench_InProcTableAndUsage(t *testing.T) {
	var out, errb bytes.Buffer
	args := []string{"--scenario", "burst", "--calls", "20", "--wait", "50ms", "--inproc", "--dir", t.TempDir()}
	if err := runBench(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("bench: %v\n%s\n%s", err, out.String(), errb.String())
	}
	for _, want := range []string{"park latency", "retrieve latency", "errors"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
	err := runBench(context.Background(), []string{"--scenario", "nope"}, &out, &errb)
	if cli.ExitCode(err, &errb) != 2 {
		t.Errorf("unknown scenario: err=%v, want a usage error", err)
	}
}

// Ensure parked50k runs end to end at a tiny size with --restart, in a
// child process (killed with SIGKILL and started again) and in process
// (closed and opened again): the held calls stay parked to the end, the
// recalls come due at the planned rate, the restarted parkd becomes ready
// with every held call re-adopted (no "lost" or re-adopted "parked" row:
// the history check would count them), and the figures are reported.
func TestBench_Parked50kTinyRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts parkd as a child process")
	}
	for _, mode := range []string{"child", "inproc"} {
		t.Run(mode, func(t *testing.T) {
			var out, errb bytes.Buffer
			args := []string{"--scenario", "parked50k", "--calls", "60", "--rate", "200", "--recall-rate", "10",
				"--duration", "2s", "--bg-rate", "5", "--wait", "100ms", "--restart", "--dir", t.TempDir(), "--json"}
			if mode == "child" {
				args = append(args, "--parkd", testParkd)
			} else {
				args = append(args, "--inproc")
			}
			if err := runBench(context.Background(), args, &out, &errb); err != nil {
				t.Fatalf("bench: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
			}
			var r benchResult
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("not one JSON object: %v\n%s", err, out.String())
			}
			if r.Errors != 0 || r.Mode != mode || r.Recalls != 20 || r.PeakParked < 60 {
				t.Errorf("errors=%d mode=%s recalls=%d peak parked=%d; want 0, %s, 20, at least 60:\n%s",
					r.Errors, r.Mode, r.Recalls, r.PeakParked, mode, out.String())
			}
			if got := r.HistoryEvents["parked"] - r.Parks; got != 0 {
				t.Errorf("%d parked rows beyond the parks: the restart re-adopted calls it should have known", got)
			}
			if r.Restart == nil || r.Restart.Parked != 60 || r.Restart.ReadyS <= 0 || r.Restart.Commands == 0 {
				t.Errorf("restart figures %+v; want 60 parked, a time to ready and the survey's commands", r.Restart)
			}
		})
	}
}
