package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/testkit"
	"github.com/parkd/parkd/parking"
)

// parkAt parks a call into lot (any slot) and waits for its music and its
// row in the store (the park is complete then).
func parkAt(t *testing.T, sim *fstest.Switch, d *daemon, lot string) *fstest.Channel {
	t.Helper()
	ch, err := placeCall(sim, d.listen, "park", lot, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.WaitFor(5*time.Second, testkit.MusicParked); err != nil {
		t.Fatalf("not parked: %v\n%s", err, d.logs)
	}
	d.slotOf(t, ch)
	return ch
}

// slotOf returns the lot and slot the store has for ch, waiting for its row.
func (d *daemon) slotOf(t *testing.T, ch *fstest.Channel) parking.Occupant {
	t.Helper()
	var got parking.Occupant
	testkit.WaitUntil(t, 5*time.Second, "the park's row", func() bool {
		occ, _ := d.readDB(t)
		for _, o := range occ {
			if string(o.Call) == ch.UUID() {
				got = o
				return true
			}
		}
		return false
	})
	return got
}

// retrieveFrom retrieves lot/slot and waits until parked is bridged to the
// retriever.
func retrieveFrom(t *testing.T, sim *fstest.Switch, d *daemon, parked *fstest.Channel, lot string, slot int) {
	t.Helper()
	r, err := placeCall(sim, d.listen, "retrieve", lot, fmt.Sprint(slot))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := parked.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return s.Hearing == "bridge:"+r.UUID()
	}); err != nil {
		t.Fatalf("%s/%d not retrieved: %v\n%s", lot, slot, err, d.logs)
	}
}

// Ensure SIGHUP reloads the configuration: a valid file's new slots and
// music apply to the next call at once, a call parked before stays
// retrievable in its old slot, and a setting that needs a restart is named;
// an invalid file is refused with each problem logged and the running
// configuration kept. parkd stays up throughout and exits 0 on SIGTERM.
func TestE2E_SIGHUPReload(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	d := newDaemon(t, sim.Addr(), "[[lot]]\nname = \"main\"\nslots = \"201-205\"\nmusic = \"local_stream://moh\"\n")
	d.start()
	before := parkAt(t, sim, d, "main")
	if o := d.slotOf(t, before); o.Slot != 201 {
		t.Fatalf("first call in %d, want 201", o.Slot)
	}

	// A valid file: new slots and music, and a log level (needs a restart).
	d.writeConfig("error", "[[lot]]\nname = \"main\"\nslots = \"301-305\"\nmusic = \"local_stream://jazz\"\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	testkit.WaitUntil(t, 5*time.Second, "the restart-only warning", func() bool {
		return strings.Contains(d.logs.String(), "apply only when parkd restarts")
	}, func() string { return d.logs.String() })
	if logs := d.logs.String(); !strings.Contains(logs, `"log.level"`) {
		t.Fatalf("the warning does not name log.level:\n%s", logs)
	}
	after := parkAt(t, sim, d, "main")
	if st := after.State(); st.Hearing != "music:local_stream://jazz" {
		t.Fatalf("call after the reload hears %q, want the new music", st.Hearing)
	}
	if o := d.slotOf(t, after); o.Slot != 301 {
		t.Fatalf("call after the reload in %d, want 301", o.Slot)
	}
	retrieveFrom(t, sim, d, before, "main", 201)

	// An invalid file: refused, every problem logged, the old one kept.
	d.writeConfig("warn", "[[lot]]\nname = \"main\"\nslots = \"9-1\"\non_full = \"explode\"\n")
	d.cmd.Process.Signal(syscall.SIGHUP)
	testkit.WaitUntil(t, 5*time.Second, "the refused reload", func() bool {
		return strings.Contains(d.logs.String(), "configuration not reloaded")
	}, func() string { return d.logs.String() })
	logs := d.logs.String()
	for _, key := range []string{"lot[0].slots", "lot[0].on_full"} {
		if !strings.Contains(logs, key) {
			t.Errorf("problem with %s not logged:\n%s", key, logs)
		}
	}
	third := parkAt(t, sim, d, "main")
	if st := third.State(); st.Hearing != "music:local_stream://jazz" {
		t.Fatalf("call after the refused reload hears %q, want the running music", st.Hearing)
	}
	if o := d.slotOf(t, third); o.Slot != 302 {
		t.Fatalf("call after the refused reload in %d, want 302", o.Slot)
	}
	if _, err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, d.logs)
	}
}

// Ensure a log pipe whose reader has gone does not kill parkd: with its
// standard output and error on such a pipe, it logs a park (the write
// fails with EPIPE instead of a SIGPIPE killing it), parks and retrieves
// as usual, and exits 0 on SIGTERM.
func TestE2E_ClosedLogPipe(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	d := newDaemon(t, sim.Addr(), "[[lot]]\nname = \"main\"\nslots = \"201-205\"\n")
	d.writeConfig("info", "[[lot]]\nname = \"main\"\nslots = \"201-205\"\n") // every park is logged
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	d.logs = &testkit.Buffer{} // its output goes to the pipe
	d.startWith(w)
	w.Close()
	r.Close() // the reader goes: the next log line meets a broken pipe

	ch := parkAt(t, sim, d, "main")
	retrieveFrom(t, sim, d, ch, "main", d.slotOf(t, ch).Slot)
	// The first call's slot is freed when the switch confirms its bridge,
	// which may come after the test sees it: the second call's slot is
	// whichever the store gave it, not necessarily 201 again.
	again := parkAt(t, sim, d, "main")
	retrieveFrom(t, sim, d, again, "main", d.slotOf(t, again).Slot)
	if _, err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM with a closed log pipe: %v (want 0)", err)
	}
}

// Ensure a second parkd serve on the same database is refused at once,
// exit 1, naming the first one's PID, and that the lock dies with its
// holder: after a SIGKILL of the first, a new one starts.
func TestE2E_OneDaemonPerDatabase(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	lots := "[[lot]]\nname = \"main\"\nslots = \"201-205\"\n"
	d := newDaemon(t, sim.Addr(), lots)
	d.start()

	// The second one listens elsewhere: only the database is shared.
	second := &daemon{t: t, fs: sim.Addr(), db: d.db, listen: testkit.FreeAddr(t), cfg: filepath.Join(t.TempDir(), "parkd.toml")}
	second.writeConfig("warn", lots)
	// Refused means at once; a second daemon that runs is killed after a
	// while so that the test fails instead of hanging.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "serve", "-c", second.cfg)
	cmd.Env = append(os.Environ(), "PARKD_TEST_AS_PARKD=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second parkd on the same database: %v, want exit 1 at once\n%s", err, out)
	}
	if want := fmt.Sprintf("PID %d", d.cmd.Process.Pid); !strings.Contains(string(out), want) {
		t.Fatalf("second parkd's message does not name the first (%s):\n%s", want, out)
	}

	if _, err := d.stop(syscall.SIGKILL); err == nil {
		t.Fatal("parkd exited cleanly on SIGKILL?")
	}
	d.start() // the kernel released the lock with the process
	ch := parkAt(t, sim, d, "main")
	retrieveFrom(t, sim, d, ch, "main", 201)
	if _, err := d.stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, d.logs)
	}
}
