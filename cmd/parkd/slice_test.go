//go:build linux

package main

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/schedslice"
)

// threadSlices is the scheduler slice of each of process pid's threads, as
// the kernel reports it (0 before Linux 6.12).
func threadSlices(t *testing.T, pid int) map[int]time.Duration {
	t.Helper()
	tids, err := schedslice.Threads(pid)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int]time.Duration{}
	for _, tid := range tids {
		if d, err := schedslice.Of(tid); err == nil {
			got[tid] = d
		}
	}
	return got
}

// Ensure parkd serve runs every thread with the short scheduler slice
// (schedslice.Default) after a park, that PARKD_SCHED_SLICE=off leaves the
// kernel's, and that a bad value is refused before anything starts.
func TestE2E_SchedulerSlices(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	lots := "[[lot]]\nname = \"main\"\nslots = \"201-205\"\n"
	run := func(t *testing.T, env string) map[int]time.Duration {
		t.Helper()
		t.Setenv(schedslice.Env, env)
		d := newDaemon(t, sim.Addr(), lots)
		d.start()
		parkAt(t, sim, d, "main") // threads made for a call have it too
		return threadSlices(t, d.cmd.Process.Pid)
	}
	on := run(t, "")
	supported := false
	for _, d := range on {
		supported = supported || d != 0
	}
	if !supported {
		t.Skip("skipped: this kernel reports no scheduler slices (Linux 6.12 or later has them)")
	}
	for tid, d := range on {
		if d != schedslice.Default {
			t.Errorf("thread %d: slice %v, want %v", tid, d, schedslice.Default)
		}
	}
	for tid, d := range run(t, "off") {
		if d == schedslice.Default {
			t.Errorf("%s=off: thread %d has slice %v", schedslice.Env, tid, d)
		}
	}

	d := newDaemon(t, sim.Addr(), lots)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "-c", d.cfg)
	cmd.Env = append(os.Environ(), "PARKD_TEST_AS_PARKD=1", schedslice.Env+"=5us")
	out, err := cmd.CombinedOutput()
	if cmd.ProcessState == nil {
		t.Fatalf("%s=5us: parkd did not run: %v", schedslice.Env, err)
	}
	if code := cmd.ProcessState.ExitCode(); code != 2 || !strings.Contains(string(out), schedslice.Env) {
		t.Fatalf("%s=5us: exit %d (%v), output %q; want 2 and the variable named", schedslice.Env, code, err, out)
	}
	if _, err := os.Stat(d.db); !os.IsNotExist(err) {
		t.Fatalf("%s=5us: the database was made (%v)", schedslice.Env, err)
	}
}
