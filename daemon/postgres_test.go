package daemon

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/pgtest"
	"github.com/parkd/parkd/internal/testkit"
	"github.com/parkd/parkd/parking"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// Ensure parkd serves on PostgreSQL end to end: a call parked and
// retrieved is in the PostgreSQL history, a call parked when parkd exits
// is re-adopted from it by the next parkd, a second parkd on the same
// database is refused while the first runs, and the DSN's password is in
// no log line and no error.
func TestE2E_Postgres(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	cfg := startConfig(t, sim)
	cfg.Store.Driver = "postgres"
	cfg.Store.DSN = pgtest.PasswordDSN(t) + " password=" + pgtest.Password
	if s := cfg.Store.String(); strings.Contains(s, pgtest.Password) {
		t.Fatalf("the config shows the password: %s", s)
	}
	var logs testkit.Buffer
	h := &harness{t: t, sim: sim, cfg: cfg}
	boot := func() {
		t.Helper()
		m := &Main{Config: cfg, Logger: zerolog.New(io.MultiWriter(&logs, zerolog.NewTestWriter(t))).Level(zerolog.InfoLevel),
			ReconnectBackoff: 20 * time.Millisecond}
		if err := m.Open(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.m = m
		t.Cleanup(func() {
			if h.m == m {
				m.Close()
			}
		})
		select {
		case <-m.Client.Connected():
		case <-time.After(wait5s):
			t.Fatal("parkd did not connect to the simulator")
		}
	}
	boot()

	jane := h.park("202", caller("Jane Roe", "+15550100"))
	smith := h.call("retrieve", "main", "202", caller("Dr. Smith", "2002"))
	h.waitFor(jane, "jane bridged to Dr. Smith", bridgedTo(smith))
	h.eventually("retrieved recorded", func() bool {
		return slices.Equal(h.history(jane.UUID()), []parking.Event{parking.EventParked, parking.EventRetrieved})
	})

	// A second parkd on the same database is refused while this one runs.
	second := &Main{Config: cfg, Logger: zerolog.New(&logs)}
	err := second.Open(context.Background())
	if err == nil {
		second.Close()
		t.Fatal("a second parkd opened the database")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second parkd: %v, want %v", err, ErrLocked)
	}
	if strings.Contains(err.Error(), pgtest.Password) {
		t.Fatalf("the error shows the password: %v", err)
	}

	// A call parked when parkd stops is adopted by the next one, from the
	// occupancy in PostgreSQL.
	bob := h.park("205")
	h.stop()
	boot()
	r := h.call("retrieve", "main", "205")
	h.waitFor(bob, "bridged after restart", bridgedTo(r))
	h.eventually("retrieved after restart recorded", func() bool {
		return slices.Equal(h.history(bob.UUID()), []parking.Event{parking.EventParked, parking.EventRetrieved})
	})

	out := logs.String()
	if strings.Contains(out, pgtest.Password) {
		t.Fatalf("the logs show the password:\n%s", out)
	}
	if !strings.Contains(out, `"store":"postgres:host=`) || !strings.Contains(out, "password=xxxxx") {
		t.Fatalf("the start line does not name the database without its password:\n%s", out)
	}
}
