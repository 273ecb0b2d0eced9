// Package systemd holds the test of the systemd unit shipped in this
// directory.
package systemd

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/daemon"
)

// unit reads parkd.service into section -> key -> values (a key may
// repeat).
func unit(t *testing.T) (map[string]map[string][]string, string) {
	t.Helper()
	data, err := os.ReadFile("parkd.service")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string][]string{}
	section := ""
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			out[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Fatalf("not key=value in [%s]: %q", section, line)
			}
			out[section][k] = append(out[section][k], v)
		}
	}
	return out, string(data)
}

// one returns the single value of key in section.
func one(t *testing.T, u map[string]map[string][]string, section, key string) string {
	t.Helper()
	vs := u[section][key]
	if len(vs) != 1 {
		t.Fatalf("[%s] %s: %q, want one value", section, key, vs)
	}
	return vs[0]
}

// Ensure the unit restarts parkd after any exit it did not ask for (with a
// pause, and without giving up), reloads it with SIGHUP, stops it with
// SIGTERM and gives its graceful shutdown the time it needs.
func TestUnit(t *testing.T) {
	u, _ := unit(t)
	if got := one(t, u, "Service", "Restart"); got != "always" {
		t.Errorf("Restart=%s, want always: on-failure takes a death by SIGHUP or SIGPIPE for a clean exit", got)
	}
	rs, err := time.ParseDuration(one(t, u, "Service", "RestartSec"))
	if err != nil || rs < time.Second || rs > 30*time.Second {
		t.Errorf("RestartSec=%v (%v), want between 1s and 30s", rs, err)
	}
	if got := one(t, u, "Unit", "StartLimitIntervalSec"); got != "0" {
		t.Errorf("StartLimitIntervalSec=%s, want 0 (never stop restarting)", got)
	}
	if got := one(t, u, "Service", "ExecReload"); got != "/bin/kill -HUP $MAINPID" {
		t.Errorf("ExecReload=%s, want SIGHUP to the main process", got)
	}
	if got := one(t, u, "Service", "KillSignal"); got != "SIGTERM" {
		t.Errorf("KillSignal=%s, want SIGTERM (graceful shutdown)", got)
	}
	stop, err := time.ParseDuration(one(t, u, "Service", "TimeoutStopSec"))
	// After the shutdown timeout, parkd still closes the database and
	// writes the history it holds: leave it as long again and more.
	if want := 2*daemon.DefaultShutdownTimeout + 2*time.Second; err != nil || stop < want {
		t.Errorf("TimeoutStopSec=%v (%v), want at least %v for a shutdown bounded by %v",
			stop, err, want, daemon.DefaultShutdownTimeout)
	}
	if got := one(t, u, "Service", "ExecStart"); !strings.Contains(got, " serve ") {
		t.Errorf("ExecStart=%s, want parkd serve", got)
	}
}

// Ensure systemd itself accepts the unit, where systemd-analyze exists.
// The binary it names is not installed here, so the copy verified names
// this test's own executable instead (verify checks that it exists).
func TestUnit_SystemdAnalyzeVerify(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not found: the unit is checked by TestUnit only")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	_, text := unit(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "parkd.service")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(text, "/usr/local/bin/parkd", self)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", path).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	if len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("systemd-analyze verify has something to say:\n%s", out)
	}
}
