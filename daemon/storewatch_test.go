package daemon

import (
	"context"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/testkit"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// onDisk reads the database at path as the operator's commands do, and
// returns the calls it has parked and the events of each call.
func onDisk(t *testing.T, path string) ([]parking.CallID, map[parking.CallID][]parking.Event) {
	t.Helper()
	occ, rows := testkit.ReadStore(t, path)
	var calls []parking.CallID
	for _, o := range occ {
		calls = append(calls, o.Call)
	}
	events := map[parking.CallID][]parking.Event{}
	for _, r := range rows {
		events[r.Call] = append(events[r.Call], r.Event)
	}
	return calls, events
}

// watchHarness boots parkd with the database watch driven by the test
// (its own ticker never fires) and its log in a buffer.
func watchHarness(t *testing.T) (*harness, *testkit.Buffer) {
	t.Helper()
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim)}
	logs := &testkit.Buffer{}
	h.m = &Main{Config: h.cfg, Logger: zerolog.New(logs).Level(zerolog.InfoLevel), CheckStoreEvery: time.Hour,
		RetryEvery: time.Hour}
	if err := h.m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.m.Close() })
	return h, logs
}

// Ensure a database file deleted or replaced under the running daemon is
// noticed, reported (error log, Ready), and put back without losing what
// the daemon knows: re-created at the path with the calls parked now; a
// foreign file in its place is left alone while parks and retrieves go on
// and their rows wait in memory; a parkd database put in its place is made
// to match the calls parked.
func TestE2E_DatabaseDeletedOrReplaced(t *testing.T) {
	h, logs := watchHarness(t)
	ctx := context.Background()
	path := h.cfg.Store.Path
	check := func() { h.m.watch.check(ctx) }

	a := h.park("201")
	h.eventually("a's row", func() bool { return len(h.occupied()) == 1 })
	check()
	// Ready also waits for the first reconcile with FreeSWITCH, which
	// runs beside the park.
	h.eventually("ready before anything happened", func() bool { return h.m.Ready() == nil })

	// Deleted: re-created at once with a in it.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	check()
	if err := h.m.Ready(); err != nil {
		t.Fatalf("Ready after the database was re-created: %v", err)
	}
	calls, events := onDisk(t, path)
	if !slices.Equal(calls, []parking.CallID{parking.CallID(a.UUID())}) {
		t.Fatalf("re-created database has %v parked, want a", calls)
	}
	if got := events[parking.CallID(a.UUID())]; !slices.Equal(got, []parking.Event{parking.EventParked}) {
		t.Fatalf("a's rows in the re-created database: %v", got)
	}
	if l := logs.String(); !strings.Contains(l, `"level":"error"`) || !strings.Contains(l, `"how":"deleted"`) {
		t.Fatalf("deletion not logged at error level:\n%s", l)
	}

	// Replaced by a file that is not a parkd database: left alone, not
	// ready, parks and retrieves go on.
	foreign := path + ".foreign"
	if err := os.WriteFile(foreign, []byte("not a database, an operator's notes\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(foreign, path); err != nil {
		t.Fatal(err)
	}
	check()
	if err := h.m.Ready(); err == nil || !strings.Contains(err.Error(), "replaced") {
		t.Fatalf("Ready with a foreign file at the path: %v, want the reason", err)
	}
	b := h.park("202")
	r := h.call("retrieve", "main", "201")
	h.waitFor(a, "a retrieved while the database is away", bridgedTo(r))
	check() // still foreign: still not ready
	if err := h.m.Ready(); err == nil {
		t.Fatal("ready with a foreign file still at the path")
	}
	if data, _ := os.ReadFile(path); string(data) != "not a database, an operator's notes\n" {
		t.Fatalf("the foreign file was modified: %q", data)
	}

	// The operator moves it away: re-created with b, and the rows held
	// meanwhile.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	check()
	if err := h.m.Ready(); err != nil {
		t.Fatalf("Ready once the path was free again: %v", err)
	}
	calls, events = onDisk(t, path)
	if !slices.Equal(calls, []parking.CallID{parking.CallID(b.UUID())}) {
		t.Fatalf("database has %v parked, want b", calls)
	}
	if got := events[parking.CallID(a.UUID())]; !slices.Contains(got, parking.EventRetrieved) {
		t.Fatalf("a's retrieve, held in memory, not written: %v", got)
	}
	if got := events[parking.CallID(b.UUID())]; len(got) == 0 || got[0] != parking.EventParked {
		t.Fatalf("b's park, held in memory, not written: %v", got)
	}

	// Replaced by another parkd database (an old copy, say) with a stale
	// call: it is taken, and made to match the calls parked.
	other := path + ".old"
	odb := store.NewDB(other)
	if err := odb.Open(); err != nil {
		t.Fatal(err)
	}
	stale := parking.Occupant{Lot: "main", Slot: 202, Call: "stale-call", ParkedAt: time.Now().Add(-time.Hour), Deadline: time.Now()}
	if err := odb.Record(ctx, parking.Transition{At: stale.ParkedAt, Event: parking.EventParked, Lot: "main", Slot: 202,
		Call: stale.Call, Occupancy: &stale}); err != nil {
		t.Fatal(err)
	}
	odb.Close()
	if err := os.Rename(other, path); err != nil {
		t.Fatal(err)
	}
	check()
	if err := h.m.Ready(); err != nil {
		t.Fatalf("Ready after taking the parkd database put at the path: %v", err)
	}
	calls, events = onDisk(t, path)
	if !slices.Equal(calls, []parking.CallID{parking.CallID(b.UUID())}) {
		t.Fatalf("database put in place has %v parked, want b only", calls)
	}
	if got := events["stale-call"]; !slices.Equal(got, []parking.Event{parking.EventParked, parking.EventLost}) {
		t.Fatalf("stale call's rows %v, want it closed as lost", got)
	}
}

// Ensure the daemon notices a deleted database by itself, within its check
// interval.
func TestE2E_DatabaseDeletedNoticed(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim)}
	h.m = &Main{Config: h.cfg, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.InfoLevel),
		CheckStoreEvery: 10 * time.Millisecond}
	if err := h.m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.m.Close() })
	a := h.park("201")
	h.eventually("a's row", func() bool { return len(h.occupied()) == 1 })
	if err := os.Remove(h.cfg.Store.Path); err != nil {
		t.Fatal(err)
	}
	h.eventually("the database re-created with a", func() bool {
		if _, err := os.Stat(h.cfg.Store.Path); err != nil || h.m.Ready() != nil {
			return false
		}
		calls, _ := onDisk(t, h.cfg.Store.Path)
		return slices.Equal(calls, []parking.CallID{parking.CallID(a.UUID())})
	})
}
