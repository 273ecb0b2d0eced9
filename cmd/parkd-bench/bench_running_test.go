package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/cli"
	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/daemon"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/fsconf"
	"github.com/parkd/parkd/internal/testkit"
)

// Ensure a configuration whose lots are not the scenario's is refused
// before anything listens, with every difference named.
func TestBench_RunningMismatchRefused(t *testing.T) {
	dir := t.TempDir()
	simAddr := testkit.FreeAddr(t)
	knobs := []string{"--scenario", "steady", "--rate", "20", "--duration", "1s", "--sim-addr", simAddr}
	text := printConfig(t, knobs...)
	edited := strings.Replace(text, `timeout = "2s"`, `timeout = "3s"`, 1)
	if edited == text {
		t.Fatalf("no 2s timeout in:\n%s", text)
	}
	path := filepath.Join(dir, "edited.toml")
	if err := os.WriteFile(path, []byte(edited), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := runBench(context.Background(), append([]string{"-c", path}, knobs[:len(knobs)-2]...), &out, &errb)
	if err == nil || cli.ExitCode(err, &errb) != 1 ||
		!strings.Contains(err.Error(), `lot "main" has timeout 3s, the scenario plans 2s`) ||
		!strings.Contains(err.Error(), "--print-config") {
		t.Errorf("edited timeout: err = %v; want it named, and --print-config suggested", err)
	}

	burst := filepath.Join(dir, "burst.toml")
	if err := os.WriteFile(burst, []byte(printConfig(t, "--scenario", "burst", "--sim-addr", simAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	err = runBench(context.Background(), []string{"-c", burst, "--scenario", "steady"}, &out, &errb)
	if err == nil || !strings.Contains(err.Error(), `lot "main" is missing`) ||
		!strings.Contains(err.Error(), `lot "burst" is not in the scenario's plan`) {
		t.Errorf("another scenario's config: err = %v; want both differences named", err)
	}
	// Refused before the simulator took the config's address.
	ln, err := net.Listen("tcp", simAddr)
	if err != nil {
		t.Errorf("the refused bench left %s taken: %v", simAddr, err)
	} else {
		ln.Close()
	}
}

// Ensure a bench whose parkd never connects ends with an error saying so.
func TestBench_RunningParkdAbsent(t *testing.T) {
	simAddr := testkit.FreeAddr(t)
	path := filepath.Join(t.TempDir(), "parkd.toml")
	knobs := []string{"--scenario", "burst", "--calls", "5"}
	if err := os.WriteFile(path, []byte(printConfig(t, append(knobs, "--sim-addr", simAddr)...)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb bytes.Buffer
	err := runBench(context.Background(), append([]string{"-c", path, "--connect-wait", "100ms"}, knobs...), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "parkd did not connect to the simulator at "+simAddr) {
		t.Errorf("err = %v; want parkd's absence named", err)
	}
}

// Ensure the history of a running parkd counts the rows of the run's own
// calls written after the run began, and other calls' rows apart.
func TestBench_RunningHistoryOwnCalls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.db")
	db, err := sql.Open("sqlite3", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	do := func(q string, a ...any) {
		t.Helper()
		if _, err := db.Exec(q, a...); err != nil {
			t.Fatal(err)
		}
	}
	do(`CREATE TABLE history (id INTEGER PRIMARY KEY, at TEXT NOT NULL, call_uuid TEXT NOT NULL, event TEXT NOT NULL)`)
	row := func(at, call, ev string) {
		do(`INSERT INTO history (at, call_uuid, event) VALUES (?, ?, ?)`, at, call, ev)
	}
	row("2026-11-22T10:00:00.000Z", "old", "parked") // a previous run
	since, err := lastHistoryID(context.Background(), path)
	if err != nil || since != 1 {
		t.Fatalf("lastHistoryID = %d, %v; want 1", since, err)
	}
	row("2026-11-22T10:00:05.000Z", "old", "lost") // parkd reconciling it
	row("2026-11-22T10:00:05.100Z", "a", "parked")
	row("2026-11-22T10:00:05.200Z", "b", "parked")
	row("2026-11-22T10:00:06.100Z", "a", "retrieved")
	row("2026-11-22T10:00:07.100Z", "b", "abandoned")

	p := &runningParkd{db: path, sinceID: since, listen: "127.0.0.1:1"}
	var r benchResult
	want := map[string]int{"parked": 2, "retrieved": 1, "abandoned": 1}
	ok, err := p.history(context.Background(), &r, want, []string{"a", "b"})
	if !ok || err != nil {
		t.Fatalf("history: %v, %v", ok, err)
	}
	if !maps.Equal(r.HistoryEvents, want) || r.HistoryRows != 4 || r.HistoryOtherRows != 1 || r.HistoryPeakPerS != 2 {
		t.Errorf("events %v, rows %d, other %d, peak %d; want %v, 4, 1, 2", r.HistoryEvents, r.HistoryRows,
			r.HistoryOtherRows, r.HistoryPeakPerS, want)
	}

	p = &runningParkd{db: filepath.Join(t.TempDir(), "absent.db")}
	if p.sinceID, p.dbErr = lastHistoryID(context.Background(), p.db); p.dbErr == nil {
		t.Fatal("lastHistoryID of a missing file: no error")
	}
	if ok, err := p.history(context.Background(), &r, want, nil); ok || err != nil {
		t.Errorf("history of an unreadable database: %v, %v; want not measured", ok, err)
	}
}

// Ensure parkd-bench -c drives a parkd that runs on its own (a child
// process started from --print-config's output, as a user would start
// it): the run has no errors, its history is checked, the process measured
// with --pid, a call a previous run left parked is no error of this run, a
// second run against the same parkd works, and parkd is left running.
// Timings are not asserted.
func TestBench_RunningParkd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts parkd as a child process")
	}
	dir := t.TempDir()
	simAddr := testkit.FreeAddr(t)
	listen := testkit.FreeAddr(t)
	db := filepath.Join(dir, "parkd.db")
	knobs := []string{"--scenario", "steady", "--duration", "1s", "--rate", "20", "--wait", "100ms",
		"--sim-addr", simAddr, "--listen", listen, "--db", db}
	cfgPath := filepath.Join(dir, "parkd.toml")
	if err := os.WriteFile(cfgPath, []byte(printConfig(t, knobs...)), 0o600); err != nil {
		t.Fatal(err)
	}

	// A previous run's simulator, where parkd will find it, and a call it
	// leaves parked when it goes away.
	subscribed := make(chan struct{})
	var once sync.Once
	sim, err := fstest.New(fstest.Options{Addr: simAddr, OnCommand: func(conn, line string, _ time.Time) {
		if conn == "in" && strings.HasPrefix(line, "event ") {
			once.Do(func() { close(subscribed) })
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()

	logs := &testkit.Buffer{}
	cmd := exec.Command(testParkd, "serve", "-c", cfgPath)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{}) // closed once parkd exited, with waitErr
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case <-subscribed:
	case <-exited:
		t.Fatalf("parkd exited: %v\n%s", waitErr, logs)
	case <-time.After(15 * time.Second):
		t.Fatalf("parkd did not connect to the simulator\n%s", logs)
	}
	left, err := sim.Call(fstest.CallSpec{
		SocketAddr: listen, CallerName: "Left Over", CallerNumber: "5559999", Destination: "*70",
		Vars: map[string]string{"parkd_action": "park", "parkd_lot": "main", "parkd_slot": ""}, Answered: true,
		ReferredBy: "<sip:1000@127.0.0.1>", Callee: "1000", AfterSocket: fsconf.FallbackApps(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := left.WaitFor(10*time.Second, func(st fstest.ChannelState) bool {
		return st.Alive && strings.HasPrefix(st.Hearing, "music:")
	}); err != nil {
		t.Fatalf("the leftover call was not parked: %v\n%s", err, logs)
	}
	sim.Close()

	var out, errb bytes.Buffer
	args := append([]string{"-c", cfgPath, "--pid", strconv.Itoa(cmd.Process.Pid), "--mix", "0.5,0.25,0.25", "--json"}, knobs...)
	if err := runBench(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("bench -c: %v\n%s\n%s\nparkd:\n%s", err, out.String(), errb.String(), logs)
	}
	var r benchResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("not one JSON object: %v\n%s", err, out.String())
	}
	c, _ := defaultBench("steady")
	c.Rate, c.Duration, c.Wait, c.Retrieve, c.Abandon, c.Recall = 20, time.Second, 100*time.Millisecond, 0.5, 0.25, 0.25
	_, calls, err := plan(c)
	if err != nil {
		t.Fatal(err)
	}
	want := plannedHistory(calls)
	if r.Errors != 0 || r.Mode != "remote" || r.Parks != len(calls) || !maps.Equal(r.HistoryEvents, want) ||
		r.PeakRSSMB <= 0 || r.PeakThreads <= 0 || r.ParkdPID != cmd.Process.Pid || len(r.NotMeasured) != 0 {
		t.Errorf("errors %d, mode %q, parks %d, history %v, RSS %.1f MB, %d threads, pid %d, not measured %v;\n"+
			"want 0, remote, %d, %v, measured\n%s", r.Errors, r.Mode, r.Parks, r.HistoryEvents, r.PeakRSSMB,
			r.PeakThreads, r.ParkdPID, r.NotMeasured, len(calls), want, out.String())
	}

	// Again, as from another host: no --pid, the database not readable.
	out.Reset()
	errb.Reset()
	args = append([]string{"-c", cfgPath, "--mix", "1,0,0"}, knobs...)
	args[len(args)-1] = filepath.Join(dir, "elsewhere.db")
	if err := runBench(context.Background(), args, &out, &errb); err != nil {
		t.Fatalf("second bench -c: %v\n%s\n%s\nparkd:\n%s", err, out.String(), errb.String(), logs)
	}
	if n := strings.Count(out.String(), "not measured (remote parkd"); n != 3 {
		t.Errorf("%d lines say not measured, want 3 (RSS, CPU, history):\n%s", n, out.String())
	}
	select {
	case <-exited:
		t.Fatalf("parkd exited during the bench: %v\n%s", waitErr, logs)
	default:
	}
}

// Ensure a parkd whose [esl] allow shuts this host out is one clear error
// naming the key, not a run of timed-out calls.
func TestBench_RunningParkdRefusesHost(t *testing.T) {
	dir := t.TempDir()
	simAddr := testkit.FreeAddr(t)
	listen := testkit.FreeAddr(t)
	knobs := []string{"--scenario", "burst", "--calls", "5", "--sim-addr", simAddr, "--listen", listen,
		"--db", filepath.Join(dir, "parkd.db")}
	text := strings.Replace(printConfig(t, knobs...), "[store]", "allow = [\"192.0.2.1/32\"]\n[store]", 1)
	path := filepath.Join(dir, "parkd.toml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := conf.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	m := &daemon.Main{Config: cfg, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel), ReconnectBackoff: 20 * time.Millisecond}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var out, errb bytes.Buffer
	err = runBench(context.Background(), append([]string{"-c", path}, knobs...), &out, &errb)
	if err == nil || !strings.Contains(err.Error(), "let this host in with [esl] allow") {
		t.Errorf("err = %v; want the allow list named", err)
	}
}
