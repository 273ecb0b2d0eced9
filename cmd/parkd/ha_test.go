package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/fsconf"
	"github.com/parkd/parkd/internal/pgtest"
	"github.com/parkd/parkd/internal/testkit"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Environment of TestE2E_HA_Kill9: the defaults keep it a few seconds long
// for make test; BENCHMARKS.md's takeover figures come from
// PARKD_HA_KILLS=20 PARKD_HA_CALLS=1000 PARKD_HA_DEFAULT_TIMINGS=1.
const (
	envHAKills    = "PARKD_HA_KILLS"           // active parkd killed, one after the other (default 1)
	envHACalls    = "PARKD_HA_CALLS"           // calls held parked throughout (default 50)
	envHATimings  = "PARKD_HA_DEFAULT_TIMINGS" // "1": renew 1s, ttl 3s (the defaults) instead of 200ms, 1s
	haRecallCalls = 10                         // calls parked before each kill, their recalls due after it
)

func envInt(t *testing.T, key string, def int) int {
	t.Helper()
	v := os.Getenv(key)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", key, v)
	}
	return n
}

// haProc is one parkd serve of an active/standby pair, in a child process.
type haProc struct {
	name, cfg, listen string
	cmd               *exec.Cmd
	logs              *testkit.Buffer
}

// haTOML is the pair's configuration for parkd listening at listen.
func haTOML(fs, dsn, listen string, sockets []string, renew, ttl time.Duration) string {
	return fmt.Sprintf(`instance = "pbx-park"
[esl]
listen = %q
freeswitch = %q
[store]
driver = "postgres"
dsn = %q
[log]
level = "info"
[ha]
enabled = true
renew = %q
ttl = %q
sockets = [%q, %q]
`, listen, fs, dsn, renew.String(), ttl.String(), sockets[0], sockets[1]) + haLotsTOML
}

// haLotsTOML are the lots of the child-process tests: "main" recalls
// 1 s after parking, "hold" never recalls.
const haLotsTOML = `[[lot]]
name = "main"
slots = "201-299"
timeout = "1s"
park_code = "*70"
retrieve_code = "*71"
[lot.recall]
retry_after = "1s"
attempts = 2
[[lot]]
name = "hold"
slots = "1001-3000"
timeout = "1h"
park_code = "*80"
retrieve_code = "*81"
[lot.recall]
enabled = false
`

func (p *haProc) start(t *testing.T) {
	t.Helper()
	p.logs = &testkit.Buffer{}
	p.cmd = exec.Command(os.Args[0], "serve", "-c", p.cfg)
	p.cmd.Env = append(os.Environ(), "PARKD_TEST_AS_PARKD=1")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cmd := p.cmd
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
}

// listening reports whether p takes socket connections: it is active.
func (p *haProc) listening() bool {
	c, err := net.DialTimeout("tcp", p.listen, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// standingBy reports whether p has seen the lease held by the other.
func (p *haProc) standingBy() bool {
	return strings.Contains(p.logs.String(), "another parkd holds the lease")
}

func (p *haProc) kill9() {
	p.cmd.Process.Signal(syscall.SIGKILL)
	p.cmd.Wait()
}

// haCall runs a call through the pair's dialplan: the first parkd's
// socket, the second's, then the fallback.
func haCall(sim *fstest.Switch, sockets []string, action, lot, slot, name string) *fstest.Channel {
	ch, _ := sim.Call(fstest.CallSpec{
		SocketAddr: sockets[0], CallerName: name, CallerNumber: "5550100", Destination: "*7x" + slot,
		Vars:     map[string]string{"parkd_action": action, "parkd_lot": lot, "parkd_slot": slot},
		Answered: action == "park", ReferredBy: "<sip:1000@127.0.0.1>", Callee: "1000",
		AfterSocket: append([]string{"socket " + sockets[1] + " async full"}, fsconf.FallbackApps()...),
	})
	return ch
}

// parkMany parks a call in each slot, lot hold or main, at most 50 at a
// time, and fails unless every one is parked.
func parkMany(t *testing.T, sim *fstest.Switch, sockets []string, lot string, slots []int, name func(int) string) map[int]*fstest.Channel {
	t.Helper()
	out, bad, ok := parkEach(slots, func(s int) *fstest.Channel {
		return haCall(sim, sockets, "park", lot, strconv.Itoa(s), name(s))
	})
	if !ok {
		t.Fatalf("slot %d not parked", bad)
	}
	return out
}

// parkEach parks a call in each of slots with park, at most 50 at a time,
// and waits for their music. It returns the calls, and a slot whose call
// is not parked with ok false.
func parkEach(slots []int, park func(slot int) *fstest.Channel) (out map[int]*fstest.Channel, bad int, ok bool) {
	out = make(map[int]*fstest.Channel, len(slots))
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for _, s := range slots {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			ch := park(s)
			if ch != nil {
				ch.WaitFor(10*time.Second, testkit.MusicParked)
			}
			mu.Lock()
			out[s] = ch
			mu.Unlock()
		})
	}
	wg.Wait()
	for s, ch := range out {
		if ch == nil || !testkit.MusicParked(ch.State()) {
			return out, s, false
		}
	}
	return out, 0, true
}

// leaseLeft reads how long the lease has left on the database's clock.
func leaseLeft(t *testing.T, db *sql.DB) time.Duration {
	t.Helper()
	var ms float64
	if err := db.QueryRow(`SELECT EXTRACT(EPOCH FROM deadline - clock_timestamp()) * 1000 FROM parkd_lease WHERE name = 'active'`).Scan(&ms); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ms * float64(time.Millisecond))
}

// Ensure the standby takes over when the active parkd is killed with
// SIGKILL (no handover: the lease lapses), with calls held parked and
// recalls due after the kill, as many times as PARKD_HA_KILLS says, the
// two parkd taking turns: every call stays parked and retrievable, every
// recall rings its parker once, and no history row is written twice.
// Then SIGTERM on the active hands the lease over at once. It logs the
// takeover times, from the kill and from the lease's lapse.
func TestE2E_HA_Kill9(t *testing.T) {
	kills, calls := envInt(t, envHAKills, 1), envInt(t, envHACalls, 50)
	renew, ttl := 200*time.Millisecond, time.Second
	if os.Getenv(envHATimings) == "1" {
		renew, ttl = time.Second, 3*time.Second
	}
	dsn := pgtest.DSN(t)
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	sim.Register("1000", fstest.Endpoint{AnswerAfter: 20 * time.Millisecond})
	dir := t.TempDir()
	sockets := testkit.FreeAddrs(t, 2)
	procs := make([]*haProc, 2)
	for i, name := range []string{"a", "b"} {
		procs[i] = &haProc{name: name, listen: sockets[i], cfg: filepath.Join(dir, name+".toml")}
		if err := os.WriteFile(procs[i].cfg, []byte(haTOML(sim.Addr(), dsn, sockets[i], sockets, renew, ttl)), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()

	procs[0].start(t)
	testkit.WaitUntil(t, 30*time.Second, "a active", procs[0].listening, procs[0].logs.String)
	procs[1].start(t)
	testkit.WaitUntil(t, 30*time.Second, "b standing by", procs[1].standingBy, procs[1].logs.String)

	held := make([]int, calls)
	for i := range held {
		held[i] = 1001 + i
	}
	heldCh := parkMany(t, sim, sockets, "hold", held, func(s int) string { return "Held " + strconv.Itoa(s) })

	var fromKill, fromLapse []time.Duration
	recalled := map[string]bool{} // caller names of the calls whose recall is due
	active := 0
	for k := range kills {
		// Calls whose recalls come due (1 s) after the kill below.
		var slots []int
		for i := range haRecallCalls {
			slots = append(slots, 201+i)
		}
		names := func(s int) string { return fmt.Sprintf("K%dS%d", k, s) }
		parkMany(t, sim, sockets, "main", slots, names)
		for _, s := range slots {
			recalled[names(s)] = true
		}

		dead, next := procs[active], procs[1-active]
		killed := time.Now()
		dead.kill9()
		lapse := killed.Add(leaseLeft(t, admin)) // same host: the database's clock is ours
		testkit.WaitUntil(t, 30*time.Second, next.name+" active", next.listening, next.logs.String)
		took := time.Now()
		fromKill = append(fromKill, took.Sub(killed))
		fromLapse = append(fromLapse, took.Sub(lapse))
		t.Logf("kill %d: %s took over %v after the kill, %v after the lease lapsed",
			k+1, next.name, took.Sub(killed).Round(time.Millisecond), took.Sub(lapse).Round(time.Millisecond))

		// Every recall due rings once, from the new active.
		testkit.WaitUntil(t, 30*time.Second, "the recalls of kill "+strconv.Itoa(k+1), func() bool {
			n := 0
			for _, inv := range sim.Invites() {
				if strings.HasPrefix(inv.CallerIDName, "Park ") && strings.Contains(inv.CallerIDName, fmt.Sprintf("K%dS", k)) {
					n++
				}
			}
			return n >= haRecallCalls
		})
		// The dead one comes back as the standby.
		dead.start(t)
		testkit.WaitUntil(t, 30*time.Second, dead.name+" standing by", dead.standingBy, dead.logs.String)
		active = 1 - active
	}

	// Every held call is still parked and is retrieved through the
	// dialplan.
	for s, ch := range heldCh {
		if !testkit.MusicParked(ch.State()) {
			t.Fatalf("held slot %d no longer parked: %+v", s, ch.State())
		}
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, 50)
	for _, s := range held {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			r := haCall(sim, sockets, "retrieve", "hold", strconv.Itoa(s), "Retriever")
			if r == nil {
				return
			}
			heldCh[s].WaitFor(10*time.Second, func(st fstest.ChannelState) bool { return st.Hearing == "bridge:"+r.UUID() })
		})
	}
	wg.Wait()

	// The history: each recall rang once; no row twice.
	inv := map[string]int{}
	for _, i := range sim.Invites() {
		_, name, _ := strings.Cut(i.CallerIDName, " - ")
		inv[name]++
	}
	for name := range recalled {
		if inv[name] != 1 {
			t.Errorf("%s: its parker rang %d times, want once", name, inv[name])
		}
	}
	db, err := store.Location{Driver: store.Postgres, DSN: dsn}.OpenReadOnly()
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	testkit.WaitUntil(t, 30*time.Second, "every retrieve recorded", func() bool {
		rows, err := db.History(context.Background(), store.HistoryFilter{Lot: "hold"})
		return err == nil && len(rows) >= 2*calls
	})
	rows, err := db.History(context.Background(), store.HistoryFilter{})
	if err != nil {
		t.Fatal(err)
	}
	byCall := map[parking.CallID][]parking.Event{}
	for _, r := range rows {
		byCall[r.Call] = append(byCall[r.Call], r.Event)
	}
	want := 2*calls + 3*haRecallCalls*kills
	for c, ev := range byCall {
		if !slices.Equal(ev, []parking.Event{parking.EventParked, parking.EventRetrieved}) &&
			!slices.Equal(ev, []parking.Event{parking.EventParked, parking.EventRecall, parking.EventRecalled}) {
			t.Errorf("call %s: %v", c, ev)
		}
	}
	if len(rows) != want || len(byCall) != calls+haRecallCalls*kills {
		t.Fatalf("%d history rows for %d calls, want %d for %d", len(rows), len(byCall), want, calls+haRecallCalls*kills)
	}

	// SIGTERM on the active hands the lease over: it closes gracefully
	// (renewing the lease until it is done), releases the lease, exits 0,
	// and the standby takes over.
	act, stb := procs[active], procs[1-active]
	act.cmd.Process.Signal(syscall.SIGTERM)
	if err := act.cmd.Wait(); err != nil {
		t.Fatalf("%s after SIGTERM: %v\n%s", act.name, err, act.logs)
	}
	exited := time.Now()
	testkit.WaitUntil(t, 30*time.Second, stb.name+" active after the handover", stb.listening, stb.logs.String)
	took := time.Since(exited)
	if !strings.Contains(act.logs.String(), `"lease released"`) {
		t.Fatalf("%s did not release the lease on SIGTERM (%s took over %v after it exited)\n%s", act.name, stb.name, took, act.logs)
	}
	t.Logf("SIGTERM: %s took over %v after %s exited", stb.name, took.Round(time.Millisecond), act.name)

	med := func(ds []time.Duration) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[len(s)/2]
	}
	t.Logf("takeover over %d kills (renew %v, ttl %v, %d calls held): from the kill median %v max %v; from the lease's lapse median %v max %v",
		kills, renew, ttl, calls, med(fromKill).Round(time.Millisecond), slices.Max(fromKill).Round(time.Millisecond),
		med(fromLapse).Round(time.Millisecond), slices.Max(fromLapse).Round(time.Millisecond))
}
