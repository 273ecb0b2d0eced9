package daemon

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/testkit"
)

// secretsBoot starts a parkd with password pw against sim, logging at
// debug level (ESL traffic included) to log.
func secretsBoot(t *testing.T, sim *fstest.Switch, pw string, log *testkit.Buffer, wantConnected bool) *Main {
	t.Helper()
	c := conf.Default()
	c.ESL.FreeSWITCH = sim.Addr()
	c.ESL.Password = pw
	c.Store.Path = filepath.Join(t.TempDir(), "parkd.db")
	c.Lots = []conf.Lot{lot("main", "201-220", nil)}
	c.Log.Level = "debug"
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.ESL.Listen = "127.0.0.1:0"
	logger, err := NewLogger(c.Log, log)
	if err != nil {
		t.Fatal(err)
	}
	m := &Main{Config: c, Logger: logger, ReconnectBackoff: 20 * time.Millisecond}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if wantConnected {
		select {
		case <-m.Client.Connected():
		case <-time.After(wait5s):
			t.Fatal("parkd did not connect to the simulator")
		}
	}
	return m
}

// Ensure the ESL password never appears in parkd's log, even at debug level
// where ESL traffic is logged, neither on the happy path (auth, park,
// retrieve) nor when FreeSWITCH refuses a wrong password and parkd retries.
func TestSecrets_PasswordNotLogged(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{Password: testkit.SecretPassword, PlaybackTime: 5 * time.Millisecond})
	log := &testkit.Buffer{}
	h := &harness{t: t, sim: sim}
	h.m = secretsBoot(t, sim, testkit.SecretPassword, log, true)
	h.cfg = h.m.Config

	jane := h.park("202", caller("Jane Roe", "+15550100"))
	smith := h.call("retrieve", "main", "202", caller("Dr. Smith", "2002"))
	h.waitFor(jane, "jane bridged to Dr. Smith", bridgedTo(smith))
	smith.Hangup("")
	h.waitFor(jane, "jane hung up", hungUp)

	// A second parkd with the wrong password: refused, it retries.
	wrongLog := &testkit.Buffer{}
	wrong := secretsBoot(t, sim, testkit.WrongPassword, wrongLog, false)
	deadline := time.Now().Add(wait5s)
	for strings.Count(wrongLog.String(), "refused the password") < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no repeated auth failures logged:\n%s", wrongLog.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := wrong.Close(); err != nil {
		t.Fatal(err)
	}
	if err := h.m.Close(); err != nil {
		t.Fatal(err)
	}

	for name, out := range map[string]string{"parkd": log.String(), "parkd with the wrong password": wrongLog.String()} {
		if got := testkit.SecretLeaks(out); len(got) != 0 {
			t.Errorf("%s's log contains the password(s) %q:\n%s", name, got, out)
		}
		// The log was really at debug level with ESL traffic in it, auth included.
		for _, want := range []string{`"message":"esl >>"`, `auth ***`} {
			if !strings.Contains(out, want) {
				t.Errorf("%s's log lacks %q: the test proves nothing without it", name, want)
			}
		}
	}
	if got, want := strings.Count(log.String(), `"message":"esl >>"`), 10; got < want {
		t.Errorf("%d ESL commands logged on the happy path, want at least %d", got, want)
	}
}
