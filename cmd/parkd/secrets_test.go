package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
)

// The passwords of these tests: the right one, and the wrong one a
// misconfigured parkd presents.
const (
	secretPassword = "s3cret-Pw-42"
	wrongPassword  = "wr0ng-Pw-17"
)

// secretLeaks returns the secrets found in s.
func secretLeaks(s string) []string {
	var out []string
	for _, pw := range []string{secretPassword, wrongPassword} {
		if strings.Contains(s, pw) {
			out = append(out, pw)
		}
	}
	return out
}

// secretsBoot starts a parkd with password pw against sim, logging at
// debug level (ESL traffic included) to log.
func secretsBoot(t *testing.T, sim *fstest.Switch, pw string, log *lockedBuffer, wantConnected bool) *Main {
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
	logger, err := newLogger(c.Log, log)
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
	sim := fstest.Start(t, fstest.Options{Password: secretPassword, PlaybackTime: 5 * time.Millisecond})
	log := &lockedBuffer{}
	h := &harness{t: t, sim: sim}
	h.m = secretsBoot(t, sim, secretPassword, log, true)
	h.cfg = h.m.Config

	jane := h.park("202", caller("Jane Roe", "+15550100"))
	smith := h.call("retrieve", "main", "202", caller("Dr. Smith", "2002"))
	h.waitFor(jane, "jane bridged to Dr. Smith", bridgedTo(smith))
	smith.Hangup("")
	h.waitFor(jane, "jane hung up", hungUp)

	// A second parkd with the wrong password: refused, it retries.
	wrongLog := &lockedBuffer{}
	wrong := secretsBoot(t, sim, wrongPassword, wrongLog, false)
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
		if got := secretLeaks(out); len(got) != 0 {
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

// Ensure the CLI never prints the password: parkd check on broken configs
// (a bad value next to the password, a syntax error on its line, a
// password of the wrong type or with a control character), and parkd serve
// logging at debug level while FreeSWITCH is unreachable.
func TestSecrets_CLI(t *testing.T) {
	base := fmt.Sprintf("[esl]\npassword = %q\n", secretPassword)
	for _, tc := range []struct {
		name, config string
	}{
		{"BadValueNextToIt", base + "freeswitch = \"nope\"\ncommand_timeout = \"-1s\"\n"},
		{"UnknownKeyNextToIt", base + "pasword = \"x\"\n"},
		{"SyntaxErrorOnItsLine", "[esl]\npassword = \"" + secretPassword + "\n"},
		{"SyntaxErrorAfterIt", base + "listen = = \"x\"\n"},
		{"UnterminatedMultiline", "[esl]\npassword = \"\"\"" + secretPassword + "\nlisten = \"x\"\n\n"},
		{"BadEscape", "[esl]\npassword = \"" + secretPassword + "\\q\"\n"},
		{"JunkAfterIt", "[esl]\npassword = \"" + secretPassword + "\" x\n"},
		{"WrongType", fmt.Sprintf("[esl]\npassword = [%q]\n", secretPassword)},
		{"InlineTable", fmt.Sprintf("esl = { password = %q, listen = 5 }\n", secretPassword)},
		{"ControlCharacter", fmt.Sprintf("[esl]\npassword = \"%s\\u0007\"\n", secretPassword)},
		{"DuplicateKey", base + fmt.Sprintf("password = %q\n", secretPassword)},
		{"Valid", base},
	} {
		t.Run("check/"+tc.name, func(t *testing.T) {
			code, out, errOut := cli(t, "check", "-c", writeFile(t, "pw.toml", tc.config))
			if got := secretLeaks(out + errOut); len(got) != 0 {
				t.Fatalf("exit %d printed the password:\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if tc.name != "Valid" && code != 1 {
				t.Fatalf("exit %d, want 1 for a broken config\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if tc.name == "Valid" && code != 0 {
				t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, out, errOut)
			}
		})
	}

	t.Run("serve/Unreachable", func(t *testing.T) {
		config := base + fmt.Sprintf("listen = %q\nfreeswitch = %q\ncommand_timeout = \"200ms\"\n[store]\npath = %q\n[log]\nlevel = \"debug\"\n",
			freePort(t), freePort(t), filepath.Join(t.TempDir(), "parkd.db"))
		path := writeFile(t, "serve.toml", config)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout, stderr lockedBuffer
		done := make(chan error, 1)
		go func() { done <- run(ctx, []string{"serve", "-c", path}, &stdout, &stderr) }()
		deadline := time.Now().Add(wait5s)
		for strings.Count(stderr.String(), "cannot connect to FreeSWITCH") < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("serve did not report the unreachable FreeSWITCH:\n%s", stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
		case <-time.After(wait5s):
			t.Fatal("serve did not stop after its context ended")
		}
		if got := secretLeaks(stdout.String() + stderr.String()); len(got) != 0 {
			t.Fatalf("serve printed the password:\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
		}
		if !strings.Contains(stderr.String(), `"level":"debug"`) && !strings.Contains(stderr.String(), "parkd started") {
			t.Fatalf("serve logged nothing:\n%s", stderr.String())
		}
	})
}
