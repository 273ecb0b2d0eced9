package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/cli"
	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/daemon"
)

// benchTarget is the parkd a load runs against: one the bench starts
// (parkdProc) or one already running (runningParkd, -c).
type benchTarget interface {
	// callAddr is parkd's outbound listener, where the simulator's calls go.
	callAddr() string
	// describe says which parkd it is, for the line that starts a run.
	describe() string
	// measure fills r's resource figures and Mode; call it before stop.
	measure(r *benchResult)
	// stop ends the run on parkd's side: a parkd the bench started is shut
	// down gracefully, so that every history row is written; a running one
	// is left running.
	stop() error
	// history fills r's history figures from the rows written for the
	// run's calls (ours); want is what the plan expects. It reports false
	// when parkd's database cannot be read from here.
	history(ctx context.Context, r *benchResult, want map[string]int, ours []string) (bool, error)
}

// parkdProc is parkd under test, started by the bench.
type parkdProc struct {
	m      *daemon.Main // inproc
	cmd    *exec.Cmd    // child
	logf   *os.File
	listen string
	db     string
	board  *boardAccess // the board scenario's HTTP server and credentials
	// readyAddr is parkd's HTTP listener, for GET /readyz (--restart, child).
	readyAddr string

	peakThreads, peakGoroutines int
	stopSampling                func()
}

// benchTOML is parkd's configuration for the bench's lots: FreeSWITCH (the
// simulator) at fsAddr, parkd's outbound listener at listen, its database
// at db and, when allow is not empty, who may connect to the listener. The
// child and in-process modes and --print-config all use it, so a parkd the
// user starts is configured exactly as one the bench starts.
func benchTOML(lots []benchLot, fsAddr, listen, db string, allow []string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[esl]\nlisten = %q\nfreeswitch = %q\n", listen, fsAddr)
	if len(allow) > 0 {
		q := make([]string, len(allow))
		for i, a := range allow {
			q[i] = strconv.Quote(a)
		}
		fmt.Fprintf(&b, "allow = [%s]\n", strings.Join(q, ", "))
	}
	fmt.Fprintf(&b, "[store]\npath = %q\n[log]\nlevel = \"info\"\n", db)
	for i, l := range lots {
		// Codes of their own per lot: conf refuses two lots sharing one.
		fmt.Fprintf(&b, "[[lot]]\nname = %q\nslots = \"%d-%d\"\ntimeout = %q\npark_code = \"*8%03d\"\nretrieve_code = \"*9%03d\"\n",
			l.name, l.first, l.last, l.timeout.String(), i, i)
	}
	return b.String()
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
	p := &parkdProc{listen: listen, db: filepath.Join(c.Dir, "parkd.db")}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		_ = os.Remove(p.db + suffix)
	}
	text := benchTOML(lots, fsAddr, listen, p.db, nil)
	if c.Scenario == "board" {
		a, httpTOML, err := newBoardAccess()
		if err != nil {
			return nil, err
		}
		p.board = &a
		text += httpTOML
	} else if c.Restart && !c.InProc {
		// For /readyz; parkd serves HTTP only with someone to log in.
		a, httpTOML, err := newBoardAccess()
		if err != nil {
			return nil, err
		}
		p.readyAddr = a.addr
		text += httpTOML
	}
	if p.logf, err = os.Create(filepath.Join(c.Dir, "parkd.log")); err != nil {
		return nil, err
	}
	if c.InProc {
		cfg, err := conf.Parse([]byte(text), "bench config")
		if err != nil {
			return nil, err
		}
		p.m = &daemon.Main{Config: cfg, Logger: zerolog.New(p.logf).With().Timestamp().Logger().Level(zerolog.InfoLevel)}
		if err := p.m.Open(ctx); err != nil {
			return nil, err
		}
	} else {
		path := filepath.Join(c.Dir, "parkd.toml")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			return nil, err
		}
		p.cmd = exec.Command(c.Parkd, "serve", "-c", path)
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
	p.stopSampling = sampleEvery(p.sample)
	return p, nil
}

// sample records parkd's peak threads (child) or goroutines (inproc).
func (p *parkdProc) sample() {
	if p.cmd != nil {
		p.peakThreads = max(p.peakThreads, procStatus(p.cmd.Process.Pid, "Threads"))
	} else {
		p.peakGoroutines = max(p.peakGoroutines, runtime.NumGoroutine())
	}
}

// sampleEvery calls sample at once and then every 100ms in a goroutine of
// its own, until stop is called; stop returns once sample's last call has,
// and may be called again.
func sampleEvery(sample func()) (stop func()) {
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return sync.OnceFunc(func() {
		close(done)
		wg.Wait()
	})
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
	p.stopSampling()
	if p.cmd != nil {
		pid := p.cmd.Process.Pid
		r.Mode = "child"
		r.PeakRSSMB = float64(procStatus(pid, "VmHWM")) / 1024
		r.EndRSSMB = float64(procStatus(pid, "VmRSS")) / 1024
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

func (p *parkdProc) callAddr() string { return p.listen }

// pid is parkd's process: the child's, or this one's when in process.
func (p *parkdProc) pid() int {
	if p.cmd != nil {
		return p.cmd.Process.Pid
	}
	return os.Getpid()
}

func (p *parkdProc) describe() string {
	if p.m != nil {
		return "in process, log " + p.logf.Name()
	}
	return "in a child process, log " + p.logf.Name()
}

// history reads the whole database: it was new at the start, so every row
// is the run's.
func (p *parkdProc) history(ctx context.Context, r *benchResult, _ map[string]int, _ []string) (bool, error) {
	return true, historyFigures(ctx, p.db, r)
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

// findParkd returns the parkd binary to start: the one given, else parkd
// beside this program (make build puts both in bin/), else parkd on $PATH.
func findParkd(given string) (string, error) {
	if given != "" {
		if _, err := os.Stat(given); err != nil {
			return "", fmt.Errorf("%w: bench: --parkd: %v", cli.ErrUsage, err)
		}
		return given, nil
	}
	if exe, err := os.Executable(); err == nil {
		beside := filepath.Join(filepath.Dir(exe), "parkd")
		if st, err := os.Stat(beside); err == nil && !st.IsDir() {
			return beside, nil
		}
	}
	if p, err := exec.LookPath("parkd"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%w: bench: no parkd binary beside this program or on $PATH; give one with --parkd (make build makes bin/parkd), or run with --inproc", cli.ErrUsage)
}
