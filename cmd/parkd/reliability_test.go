package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/mattn/go-sqlite3"
	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// TestMain lets a test run this binary as the parkd daemon in a child
// process, so it can be killed with SIGKILL or SIGTERM like the real one.
func TestMain(m *testing.M) {
	if os.Getenv("PARKD_TEST_AS_PARKD") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// daemon is parkd running as a child process against the simulator.
type daemon struct {
	t      *testing.T
	cfg    string // config file
	db     string
	listen string
	cmd    *exec.Cmd
	logs   *lockedBuffer
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	addr, err := freeAddr()
	if err != nil {
		t.Fatal(err)
	}
	return addr
}

// newDaemon writes a config for the simulator at fs with the given lots
// (TOML) and returns a daemon ready to start.
func newDaemon(t *testing.T, fs string, lots string) *daemon {
	t.Helper()
	dir := t.TempDir()
	d := &daemon{t: t, db: filepath.Join(dir, "parkd.db"), listen: freePort(t), cfg: filepath.Join(dir, "parkd.toml")}
	conf := fmt.Sprintf("[esl]\nlisten = %q\nfreeswitch = %q\n[store]\npath = %q\n[log]\nlevel = \"warn\"\n%s",
		d.listen, fs, d.db, lots)
	if err := os.WriteFile(d.cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return d
}

// start runs parkd serve and waits until it takes connections.
func (d *daemon) start() {
	d.t.Helper()
	d.logs = &lockedBuffer{}
	d.cmd = exec.Command(os.Args[0], "serve", "-c", d.cfg)
	d.cmd.Env = append(os.Environ(), "PARKD_TEST_AS_PARKD=1")
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	if err := d.cmd.Start(); err != nil {
		d.t.Fatal(err)
	}
	d.t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Kill()
			d.cmd.Wait()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.Dial("tcp", d.listen)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("parkd did not start: %v\n%s", err, d.logs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// signal sends sig and waits for the process to exit.
func (d *daemon) stop(sig syscall.Signal) (time.Duration, error) {
	start := time.Now()
	d.cmd.Process.Signal(sig)
	err := d.cmd.Wait()
	return time.Since(start), err
}

func (d *daemon) readDB(t *testing.T) ([]parking.Occupant, []store.HistoryRow) {
	t.Helper()
	db, err := store.OpenReadOnly(d.db)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	occ, err := db.Occupied(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.History(context.Background(), store.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	return occ, rows
}

// placeCall hands a call to the daemon as fsconf's dialplan would.
func placeCall(sim *fstest.Switch, addr, action, lot, slot string) (*fstest.Channel, error) {
	return sim.Call(fstest.CallSpec{
		SocketAddr: addr, CallerName: "Caller", CallerNumber: "5550100", Destination: "*70" + slot,
		Vars:     map[string]string{"park_action": action, "park_lot": lot, "park_slot": slot},
		Answered: action == "park", ReferredBy: "<sip:1000@127.0.0.1>", Callee: "1000",
		AfterSocket: fallbackTail,
	})
}

func musicParked(s fstest.ChannelState) bool {
	return s.Alive && strings.HasPrefix(s.Hearing, "music:")
}

// Ensure no caller is lost when parkd is killed with SIGKILL in the middle
// of traffic, with 1,000 calls parked and recalls ringing: after a restart
// every call is either still parked and retrievable, or accounted for in
// the history, or was handed back by the dialplan's own fallback (its park
// had not completed). Zero unaccounted.
func TestE2E_Kill9MidTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("parks and checks 1,000 calls")
	}
	parked, during := 1000, 200
	if raceEnabled {
		parked, during = 200, 50 // make test runs the full 1,000 without -race
	}
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	sim.Register("1000", fstest.Endpoint{NoAnswer: true})
	d := newDaemon(t, sim.Addr(), `
[[lot]]
name = "main"
slots = "1-3000"
timeout = "1h"
[[lot]]
name = "quick"
slots = "5001-5020"
timeout = "1s"
park_code = "*80"
retrieve_code = "*81"
[lot.recall]
ring_for = "5m"
`)
	d.start()

	var mu sync.Mutex
	var calls []*fstest.Channel
	track := func(ch *fstest.Channel) {
		mu.Lock()
		calls = append(calls, ch)
		mu.Unlock()
	}
	parkMany := func(n int, lot string) {
		var wg sync.WaitGroup
		sem := make(chan struct{}, 32)
		for i := 0; i < n; i++ {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				if ch, err := placeCall(sim, d.listen, "park", lot, ""); err == nil {
					track(ch)
				}
			}()
		}
		wg.Wait()
	}
	start := time.Now()
	phase := func(what string) { t.Logf("%6.2fs %s", time.Since(start).Seconds(), what) }
	parkMany(parked, "main")
	parkMany(20, "quick")
	phase("parked")
	waitUntil(t, 90*time.Second, "calls parked and 20 recalls ringing", func() bool {
		occ, _ := d.readDB(t)
		return len(occ) == parked+20 && len(sim.Invites()) >= 20
	})

	// Mid-traffic: more parks and some retrieves, then SIGKILL.
	rng := rand.New(rand.NewPCG(1, 2))
	var traffic sync.WaitGroup
	traffic.Add(1)
	go func() {
		defer traffic.Done()
		for i := 0; i < during; i++ {
			if rng.IntN(4) == 0 {
				placeCall(sim, d.listen, "retrieve", "main", fmt.Sprint(1+rng.IntN(parked)))
			} else if ch, err := placeCall(sim, d.listen, "park", "main", ""); err == nil {
				track(ch)
			}
		}
	}()
	time.Sleep(30 * time.Millisecond)
	phase("killing")
	if _, err := d.stop(syscall.SIGKILL); err == nil {
		t.Fatal("parkd exited cleanly on SIGKILL?")
	}
	traffic.Wait()
	waitUntil(t, 10*time.Second, "calls whose socket died to settle", func() bool {
		for _, ch := range snapshot(&mu, calls) {
			if ch.State().SocketConnected {
				return false
			}
		}
		return true
	})

	phase("settled; restarting")
	d.start()
	var mismatch []string
	waitUntil(t, 90*time.Second, "restarted parkd to match FreeSWITCH", func() bool {
		occ, _ := d.readDB(t)
		inDB := map[parking.CallID]bool{}
		for _, o := range occ {
			inDB[o.Call] = true
		}
		mismatch = mismatch[:0]
		for _, ch := range snapshot(&mu, calls) {
			if musicParked(ch.State()) != inDB[parking.CallID(ch.UUID())] {
				mismatch = append(mismatch, fmt.Sprintf("%v inDB=%v", ch.State(), inDB[parking.CallID(ch.UUID())]))
			}
		}
		return len(occ) > 0 && len(mismatch) == 0
	}, func() string {
		os.WriteFile(filepath.Join(os.TempDir(), "parkd-kill9.log"), []byte(d.logs.String()), 0o600)
		return fmt.Sprintf("%d mismatches, e.g. %q (parkd's log: %s)", len(mismatch), first(mismatch), filepath.Join(os.TempDir(), "parkd-kill9.log"))
	})

	phase("reconciled")
	occ, rows := d.readDB(t)
	events := map[parking.CallID][]parking.Event{}
	for _, r := range rows {
		events[r.Call] = append(events[r.Call], r.Event)
	}
	inDB := map[parking.CallID]parking.Occupant{}
	for _, o := range occ {
		inDB[o.Call] = o
	}
	var stillParked, closed, handedBack, unaccounted int
	for _, ch := range snapshot(&mu, calls) {
		st, id := ch.State(), parking.CallID(ch.UUID())
		ev := events[id]
		switch {
		case musicParked(st):
			stillParked++
		case len(ev) > 0 && endsLife(ev[len(ev)-1]):
			closed++
		case len(ev) == 0 && slices.Contains(st.Ran, "transfer parkd_return"):
			handedBack++ // never parked: the dialplan's fallback took it back
		case len(ev) > 0 && ev[len(ev)-1] == parking.EventRejected:
			closed++
		default:
			unaccounted++
			t.Errorf("unaccounted call %s: state %v, history %v", id, st, ev)
		}
	}
	t.Logf("after SIGKILL and restart: %d still parked, %d closed in history, %d handed back by the dialplan, %d unaccounted",
		stillParked, closed, handedBack, unaccounted)
	if stillParked < parked {
		t.Fatalf("only %d calls still parked, want at least %d", stillParked, parked)
	}

	// Every call still parked is retrievable, by slot.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var failed sync.Map
	for id, o := range inDB {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			r, err := placeCall(sim, d.listen, "retrieve", o.Lot, fmt.Sprint(o.Slot))
			if err != nil {
				failed.Store(id, err)
				return
			}
			p := sim.Channel(string(id))
			if _, err := p.WaitFor(10*time.Second, func(s fstest.ChannelState) bool {
				return s.Hearing == "bridge:"+r.UUID()
			}); err != nil {
				failed.Store(id, err)
			}
		}()
	}
	wg.Wait()
	phase("all retrieved")
	failed.Range(func(k, v any) bool {
		t.Errorf("parked call %v not retrievable after the restart: %v", k, v)
		return true
	})
}

func endsLife(e parking.Event) bool {
	switch e {
	case parking.EventRetrieved, parking.EventRecalled, parking.EventAbandoned, parking.EventFallback, parking.EventLost:
		return true
	}
	return false
}

func snapshot(mu *sync.Mutex, calls []*fstest.Channel) []*fstest.Channel {
	mu.Lock()
	defer mu.Unlock()
	return append([]*fstest.Channel(nil), calls...)
}

func waitUntil(t *testing.T, limit time.Duration, what string, cond func() bool, explain ...func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			why := ""
			for _, e := range explain {
				why += e()
			}
			t.Fatalf("timed out waiting for %s %s", what, why)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Ensure SIGTERM shuts parkd down within a few seconds, exit code 0, with
// the parked calls still parked in FreeSWITCH and still in the store.
func TestE2E_SIGTERM(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	d := newDaemon(t, sim.Addr(), "[[lot]]\nname = \"main\"\nslots = \"201-220\"\n")
	d.start()
	var chans []*fstest.Channel
	for _, slot := range []string{"201", "202", "203"} {
		ch, err := placeCall(sim, d.listen, "park", "main", slot)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ch.WaitFor(5*time.Second, musicParked); err != nil {
			t.Fatal(err)
		}
		chans = append(chans, ch)
	}
	waitUntil(t, 5*time.Second, "parks stored", func() bool { occ, _ := d.readDB(t); return len(occ) == 3 })
	took, err := d.stop(syscall.SIGTERM)
	if err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, d.logs)
	}
	if took > 5*time.Second {
		t.Fatalf("shutdown took %v", took)
	}
	for _, ch := range chans {
		if st := ch.State(); !musicParked(st) {
			t.Fatalf("call not parked after parkd stopped: %v", st)
		}
	}
	occ, rows := d.readDB(t)
	if len(occ) != 3 || len(rows) != 3 {
		t.Fatalf("after shutdown: %d occupied, %d history rows; want 3 and 3", len(occ), len(rows))
	}
	// A call arriving while parkd is down gets the dialplan's fallback.
	late, _ := placeCall(sim, d.listen, "park", "main", "204") // the socket cannot connect: that is the point
	if _, err := late.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return slices.Contains(s.Ran, "transfer parkd_return")
	}); err != nil {
		t.Fatalf("caller not handed back while parkd is down: %v", err)
	}
}

// Ensure parkd refuses to start on a file that is not its database, says
// so in one line, and leaves the file untouched.
func TestServe_ForeignDatabase(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "other.db")
	db, err := sql.Open("sqlite3", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL); INSERT INTO invoices VALUES (1, 9.5)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	before, _ := os.ReadFile(path)
	cfg := writeFile(t, "p.toml", fmt.Sprintf("[store]\npath = %q\n", path))
	code, _, errOut := cli(t, "serve", "-c", cfg)
	if code != 1 || !strings.Contains(errOut, "not a parkd database") || strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("the foreign database was modified")
	}
}

// Ensure parks and retrieves work while the inbound connection to
// FreeSWITCH is down: they only need the call's own socket.
func TestE2E_InboundDown(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	h := &harness{t: t, sim: sim}
	c := startConfig(t, sim)
	c.ESL.FreeSWITCH = freePort(t) // nothing listens there
	m := &Main{Config: c, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.m = m
	t.Cleanup(func() { m.Close() })
	jane := h.park("202")
	r := h.call("retrieve", "main", "202")
	h.waitFor(jane, "retrieved without the inbound connection", bridgedTo(r))
}

func first(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[0]
}

// failingStore fails every write while broken is set, like a full disk.
type failingStore struct {
	parking.Store
	mu     sync.Mutex
	broken bool
}

func (f *failingStore) Record(ctx context.Context, t parking.Transition) error {
	f.mu.Lock()
	broken := f.broken
	f.mu.Unlock()
	if broken {
		return fmt.Errorf("disk I/O error: database or disk is full")
	}
	return f.Store.Record(ctx, t)
}

func (f *failingStore) set(b bool) {
	f.mu.Lock()
	f.broken = b
	f.mu.Unlock()
}

// Ensure a failing disk never costs a caller: parks and retrieves go on,
// the failure is logged loudly, and the history catches up in order once
// the disk works again.
func TestE2E_DiskFull(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim)}
	fs := &failingStore{}
	logs := &lockedBuffer{}
	m := &Main{Config: h.cfg, Logger: zerolog.New(logs).Level(zerolog.InfoLevel), RetryEvery: 20 * time.Millisecond,
		WrapStore: func(s parking.Store) parking.Store { fs.Store = s; return fs }}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.m = m
	t.Cleanup(func() { m.Close() })
	waitUntil(t, 5*time.Second, "connected", func() bool {
		select {
		case <-m.Client.Connected():
			return true
		default:
			return false
		}
	})

	fs.set(true)
	jane := h.park("202")
	r := h.call("retrieve", "main", "202")
	h.waitFor(jane, "retrieved while the disk is full", bridgedTo(r))
	tom := h.park("203")
	// The music starts before the row is queued: wait for the queue.
	waitUntil(t, 5*time.Second, "3 rows pending", func() bool { return m.Service.Pending() == 3 })
	if !strings.Contains(logs.String(), `"level":"error"`) || !strings.Contains(logs.String(), "history write failed") {
		t.Fatalf("no loud error logged:\n%s", logs)
	}
	// Nothing happens on the calls now: the daemon's retry writes the rows.
	fs.set(false)
	waitUntil(t, 5*time.Second, "the held-back rows written", func() bool { return m.Service.Pending() == 0 })
	if got, want := h.history(jane.UUID()), []parking.Event{parking.EventParked, parking.EventRetrieved}; !slices.Equal(got, want) {
		t.Fatalf("jane: history=%v, want %v", got, want)
	}
	if occ := h.occupied(); len(occ) != 1 || occ[0].Call != parking.CallID(tom.UUID()) {
		t.Fatalf("occupancy=%+v", occ)
	}
}

// Ensure a FreeSWITCH restart is noticed: its parked calls are closed as
// lost (not abandoned), the slots are free, and parkd carries on once the
// switch is back.
func TestE2E_SwitchRestart(t *testing.T) {
	h := startHarness(t)
	a, b := h.park("201"), h.park("202")
	if err := h.sim.Restart(); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []*fstest.Channel{a, b} {
		h.waitHistory(ch.UUID(), parking.EventParked, parking.EventLost)
		if r := h.lastRow(ch.UUID()); !strings.Contains(r.Reason, "FreeSWITCH shut down") {
			t.Fatalf("lost reason %q", r.Reason)
		}
	}
	if len(h.occupied()) != 0 {
		t.Fatal("slots not freed")
	}
	waitUntil(t, 5*time.Second, "reconnected", func() bool {
		select {
		case <-h.m.Client.Connected():
			return true
		default:
			return false
		}
	})
	c := h.park("201")
	r := h.call("retrieve", "main", "201")
	h.waitFor(c, "parkd works after the switch restart", bridgedTo(r))
}

// Ensure a database locked by another process (a supervisor's tool holding
// a write transaction) never costs a caller: the park and the retrieve go
// on, the failed writes are logged and wait, and the history is written in
// order once the lock is released. A real SQLite lock, not a stand-in.
func TestE2E_DatabaseLocked(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim)}
	logs := &lockedBuffer{}
	m := &Main{Config: h.cfg, Logger: zerolog.New(logs).Level(zerolog.InfoLevel), BusyTimeout: 50 * time.Millisecond}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.m = m
	t.Cleanup(func() { m.Close() })

	other, err := sql.Open("sqlite3", h.cfg.Store.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	other.SetMaxOpenConns(1)
	if _, err := other.Exec("BEGIN IMMEDIATE"); err != nil { // the write lock, held
		t.Fatal(err)
	}
	jane := h.park("202")
	r := h.call("retrieve", "main", "202")
	h.waitFor(jane, "retrieved while the database is locked", bridgedTo(r))
	waitUntil(t, 5*time.Second, "2 rows pending", func() bool { return m.Service.Pending() == 2 })
	if !strings.Contains(logs.String(), "database is locked") {
		t.Fatalf("the lock was not logged:\n%s", logs)
	}
	if _, err := other.Exec("ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	if err := m.Service.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := h.history(jane.UUID()), []parking.Event{parking.EventParked, parking.EventRetrieved}; !slices.Equal(got, want) {
		t.Fatalf("history=%v, want %v", got, want)
	}
}

// Ensure a reconnect whose survey does not list a call parked a moment
// before (FreeSWITCH's `show calls` lags behind new channels, seen on the
// real switch just after it started) does not take that call for gone:
// parkd looks the calls it holds up by themselves, and the call stays
// parked and retrievable.
func TestE2E_ReconnectWhileListingLags(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond, ListLag: time.Hour})
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim)}
	h.boot()
	jane := h.park("202")
	surveys := func() (n int, lookedUp bool) {
		for _, c := range sim.Commands() {
			if strings.HasPrefix(c, "in: api show calls") {
				n++
				lookedUp = false
			}
			if c == "in: api uuid_getvar "+jane.UUID()+" park_parked_at" {
				lookedUp = true
			}
		}
		return n, lookedUp
	}
	before, _ := surveys()
	sim.DropInbound()
	waitUntil(t, 5*time.Second, "a survey after the reconnect that looks the unlisted call up", func() bool {
		n, lookedUp := surveys()
		return n > before && lookedUp
	})
	r := h.call("retrieve", "main", "202")
	h.waitFor(jane, "the call stayed parked and is retrieved", bridgedTo(r))
	h.waitHistory(jane.UUID(), parking.EventParked, parking.EventRetrieved)
}
