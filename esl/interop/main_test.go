// Package interop runs parkd against a real FreeSWITCH with real SIP calls.
//
// It is off unless PARKD_FS_ESL names FreeSWITCH's inbound event socket; see
// README.md ("Testing against your FreeSWITCH") and env below. With it set,
// TestMain builds parkd (or takes PARKD_BIN), installs the dialplan from
// `parkd fsconf` into FreeSWITCH, starts an observer on the event socket and
// a tcpdump on the loopback interface, runs parkd, and the tests place calls
// with the sipp scenarios in sipp/. Everything the suite installs in
// FreeSWITCH is removed again at the end.
package interop

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// skipLine is the one line printed when the suite is not configured.
const skipLine = "SKIP: set PARKD_FS_ESL=host:port (and optionally PARKD_FS_PASSWORD, PARKD_FS_SIP, PARKD_BIN) to run the interop suite against a real FreeSWITCH"

// env is the suite's configuration, from the environment.
type env struct {
	ESL         string // PARKD_FS_ESL: FreeSWITCH's inbound event socket, e.g. 127.0.0.1:8021
	Password    string // PARKD_FS_PASSWORD, default ClueCon
	SIP         string // PARKD_FS_SIP: the SIP profile calls go to, default <ESL host>:5060
	Listen      string // PARKD_FS_LISTEN: where parkd listens for the socket app, default 127.0.0.1:8094
	DialplanDir string // PARKD_FS_DIALPLAN_DIR, default ${conf_dir}/dialplan/default (asked from FreeSWITCH)
	Domain      string // PARKD_FS_DOMAIN, default FreeSWITCH's global ${domain}
	Users       [3]string
	UserPass    string // PARKD_FS_USER_PASSWORD, default 1234
	Bin         string // PARKD_BIN: a prebuilt parkd; default: built from this module
	Keep        bool   // PARKD_INTEROP_KEEP=1: keep the run directory even when every test passed
	// LatencyMusic is PARKD_FS_LATENCY_MUSIC: what the latency lot and the
	// valet lot of TestLatency play; default a steady tone the suite writes
	// (latency_test.go).
	LatencyMusic string
}

func getenv(name, def string) string {
	if v := strings.TrimSpace(os.Getenv(name)); v != "" {
		return v
	}
	return def
}

func loadEnv() (env, bool) {
	e := env{ESL: getenv("PARKD_FS_ESL", "")}
	if e.ESL == "" {
		return e, false
	}
	host, _, err := net.SplitHostPort(e.ESL)
	if err != nil {
		host = "127.0.0.1"
	}
	e.Password = getenv("PARKD_FS_PASSWORD", "ClueCon")
	e.SIP = getenv("PARKD_FS_SIP", net.JoinHostPort(host, "5060"))
	e.Listen = getenv("PARKD_FS_LISTEN", "127.0.0.1:8094")
	e.DialplanDir = getenv("PARKD_FS_DIALPLAN_DIR", "")
	e.Domain = getenv("PARKD_FS_DOMAIN", "")
	users := strings.Split(getenv("PARKD_FS_USERS", "1001,1002,1003"), ",")
	if len(users) != 3 {
		users = []string{"1001", "1002", "1003"}
	}
	copy(e.Users[:], users)
	e.UserPass = getenv("PARKD_FS_USER_PASSWORD", "1234")
	e.Bin = getenv("PARKD_BIN", "")
	e.Keep = os.Getenv("PARKD_INTEROP_KEEP") == "1"
	e.LatencyMusic = getenv("PARKD_FS_LATENCY_MUSIC", "")
	return e, true
}

// suite is the shared state of one run; nil when the suite is skipped.
var suite *state

type state struct {
	env   env
	dir   string // run directory: logs, sipp traces, capture, transcripts
	sippD string // absolute path of the scenarios
	bin   string
	cfg   string // parkd's configuration file
	// fsconfCfg is the same configuration with esl.listen = env.Listen,
	// for `parkd fsconf`.
	fsconfCfg   string
	parkdListen string // parkd's own listener, behind outTee
	outTee      *tee
	inTee       *tee
	db          string
	fs          *observer
	cap         *capture
	parkd       *daemon
	tones       map[int]string
	failed      bool

	// latencyMusic is what TestLatency's lots play (env.LatencyMusic or
	// a tone file); silence is a silent WAV for phones that must not be
	// heard.
	latencyMusic, silence string

	// httpAddr is parkd's HTTP API (flow L parks a phone's call through
	// it with httpToken, an agent token).
	httpAddr, httpToken, httpHash string

	dialplanFiles []string          // files the suite wrote into FreeSWITCH
	backups       map[string][]byte // what they replaced
	portMu        sync.Mutex
}

func TestMain(m *testing.M) {
	e, ok := loadEnv()
	if !ok {
		fmt.Println(skipLine)
		os.Exit(0)
	}
	s, err := setup(e)
	if err != nil {
		fmt.Fprintln(os.Stderr, "interop setup:", err)
		if s != nil {
			s.teardown()
		}
		os.Exit(1)
	}
	suite = s
	code := m.Run()
	if code != 0 {
		s.failed = true
	}
	s.teardown()
	os.Exit(code)
}

// need returns the suite's state for a test.
func need(t *testing.T) *state {
	t.Helper()
	if suite == nil {
		t.Skip(skipLine)
	}
	t.Cleanup(func() {
		if t.Failed() {
			suite.failed = true
		}
	})
	return suite
}

func setup(e env) (*state, error) {
	for _, tool := range []string{"sipp", "tcpdump"} {
		if _, err := exec.LookPath(tool); err != nil {
			return nil, fmt.Errorf("%s is not installed (needed with PARKD_FS_ESL set): %w", tool, err)
		}
	}
	dir, err := os.MkdirTemp("", "parkd-interop-")
	if err != nil {
		return nil, err
	}
	s := &state{env: e, dir: dir, backups: map[string][]byte{}, tones: map[int]string{}}
	fmt.Fprintln(os.Stderr, "interop: run directory", dir)
	_, file, _, _ := runtime.Caller(0)
	s.sippD = filepath.Join(filepath.Dir(file), "sipp")

	for _, f := range []int{500, 1000, 1300, 1500} {
		p := filepath.Join(dir, fmt.Sprintf("tone%d.wav", f))
		if err := writeToneWAV(p, f, 60*time.Second); err != nil {
			return s, err
		}
		s.tones[f] = p
	}
	if err := s.latencySetup(); err != nil {
		return s, err
	}

	s.bin = e.Bin
	if s.bin == "" {
		s.bin = filepath.Join(dir, "parkd")
		root := filepath.Join(filepath.Dir(file), "..", "..")
		cmd := exec.Command("go", "build", "-o", s.bin, "./cmd/parkd")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			return s, fmt.Errorf("go build ./cmd/parkd: %v\n%s", err, out)
		}
	}

	s.fs, err = dialObserver(e.ESL, e.Password, filepath.Join(dir, "observer-transcript.txt"))
	if err != nil {
		return s, fmt.Errorf("observer on %s: %w", e.ESL, err)
	}
	if s.env.Domain == "" {
		s.env.Domain = strings.TrimSpace(s.fs.api("global_getvar domain"))
	}
	if s.env.DialplanDir == "" {
		confDir := strings.TrimSpace(s.fs.api("global_getvar conf_dir"))
		if confDir == "" || strings.HasPrefix(confDir, "-ERR") {
			return s, fmt.Errorf("cannot find FreeSWITCH's conf_dir (%q); set PARKD_FS_DIALPLAN_DIR", confDir)
		}
		s.env.DialplanDir = filepath.Join(confDir, "dialplan", "default")
	}

	// parkd talks to FreeSWITCH through two recording proxies (tee_test.go):
	// FreeSWITCH's socket app dials env.Listen, which forwards to parkd's
	// own listener; parkd's inbound connection goes through the other.
	s.db = filepath.Join(dir, "parkd.db")
	s.cfg = filepath.Join(dir, "parkd.toml")
	trDir := filepath.Join(dir, "esl-transcripts")
	if err := os.MkdirAll(trDir, 0o755); err != nil {
		return s, err
	}
	s.parkdListen, err = freePort()
	if err != nil {
		return s, err
	}
	s.outTee, err = startTee(e.Listen, s.parkdListen, trDir, "outbound", false)
	if err != nil {
		return s, fmt.Errorf("listen on %s for FreeSWITCH's socket app (PARKD_FS_LISTEN): %w", e.Listen, err)
	}
	s.inTee, err = startTee("127.0.0.1:0", e.ESL, trDir, "inbound", true)
	if err != nil {
		return s, err
	}
	if err := s.httpSetup(); err != nil {
		return s, err
	}
	if err := os.WriteFile(s.cfg, []byte(parkdConfig(s, s.parkdListen, s.inTee.addr())), 0o644); err != nil {
		return s, err
	}
	s.fsconfCfg = filepath.Join(dir, "fsconf.toml")
	if err := os.WriteFile(s.fsconfCfg, []byte(parkdConfig(s, e.Listen, e.ESL)), 0o644); err != nil {
		return s, err
	}
	if err := s.installDialplan(); err != nil {
		return s, err
	}
	s.cap, err = startCapture(filepath.Join(dir, "rtp.pcap"), "udp and portrange 6100-6199")
	if err != nil {
		return s, err
	}
	s.parkd, err = startDaemon(s, "parkd-1")
	if err != nil {
		return s, err
	}
	return s, nil
}

// parkdConfig is the configuration under test: lot "interop" for parks and
// retrieves (announcing auto-parks), lot "recall" with short timers, and
// busy-lamp presence for FreeSWITCH's domain with the default keys
// (park+<slot>, park+<park_code> for a lot).
func parkdConfig(s *state, listen, freeswitch string) string {
	return fmt.Sprintf(`# parkd interop suite configuration (generated)
[esl]
listen = %q
freeswitch = %q
password = %q

[store]
path = %q

[log]
level = "debug"
format = "console"

[blf]
enabled = true
domains = [%q]

[[lot]]
name = "interop"
slots = "201-219"
timeout = "10m"
announce = true
park_code = "*70"
retrieve_code = "*71"

[lot.outside]
number = %q
pin_hash = %q
context = "default"
digit_timeout = "3s"

[[lot]]
name = "recall"
slots = "301-309"
timeout = "2s"
park_code = "*72"
retrieve_code = "*73"
fallback = %q

[lot.recall]
alert_info = %q
caller_id_name = "Park {slot} - {caller_name}"
ring_for = "5s"
retry_after = "3s"
attempts = 2
`, listen, freeswitch, s.env.Password, s.db, s.env.Domain, outsideNumber, outsidePINHash, fallbackExt, alertInfo) + latencyLot(s.latencyMusic) + s.httpConfig()
}

const (
	fallbackExt = "parkd_interop_fallback"
	alertInfo   = "<http://127.0.0.1>;info=alert-autoanswer"
)

// fallbackDialplan is the suite's own extension: the recall lot's fallback
// destination (lot.fallback), where parkd sends a call whose recalls all
// failed. It is configuration an operator writes, not parkd's: the
// fallback for a park parkd does not take (parkd_return) is the generated
// dialplan's own, which TestH_ParkdDownReturnsToTransferor exercises.
const fallbackDialplan = `<include>
  <!-- parkd interop suite: the recall lot's fallback. Removed when the suite ends. -->
  <extension name="parkd_interop_fallback">
    <condition field="destination_number" expression="^parkd_interop_fallback$">
      <action application="answer"/>
      <action application="park"/>
    </condition>
  </extension>
</include>
`

func (s *state) installDialplan() error {
	out, err := exec.Command(s.bin, "fsconf", "-c", s.fsconfCfg).Output()
	if err != nil {
		return fmt.Errorf("parkd fsconf: %w", err)
	}
	outside, err := exec.Command(s.bin, "fsconf", "-c", s.fsconfCfg, "-outside", "default").Output()
	if err != nil {
		return fmt.Errorf("parkd fsconf -outside: %w", err)
	}
	files := map[string][]byte{
		filepath.Join(s.env.DialplanDir, "00_parkd.xml"):         out,
		filepath.Join(s.env.DialplanDir, "00_parkd_outside.xml"): outside,
		filepath.Join(s.env.DialplanDir, "00_parkd_interop.xml"): []byte(fallbackDialplan),
	}
	for path, data := range files {
		if old, err := os.ReadFile(path); err == nil {
			s.backups[path] = old
		}
		if err := os.WriteFile(path, data, 0o644); err != nil {
			return fmt.Errorf("install dialplan (set PARKD_FS_DIALPLAN_DIR?): %w", err)
		}
		s.dialplanFiles = append(s.dialplanFiles, path)
	}
	if r := s.fs.api("reloadxml"); !strings.HasPrefix(r, "+OK") {
		return fmt.Errorf("reloadxml: %q", r)
	}
	return nil
}

func (s *state) teardown() {
	if s.parkd != nil {
		s.parkd.stop()
	}
	for _, path := range s.dialplanFiles {
		if old, ok := s.backups[path]; ok {
			_ = os.WriteFile(path, old, 0o644)
		} else {
			_ = os.Remove(path)
		}
	}
	if s.fs != nil {
		if len(s.dialplanFiles) > 0 {
			s.fs.api("reloadxml")
		}
		s.fs.close()
	}
	if s.cap != nil {
		s.cap.stop()
	}
	for _, t := range []*tee{s.outTee, s.inTee} {
		if t != nil {
			t.close()
		}
	}
	if !s.failed && !s.env.Keep {
		_ = os.RemoveAll(s.dir)
	} else {
		fmt.Fprintln(os.Stderr, "interop: logs, SIP traces, ESL transcripts and the RTP capture are in", s.dir)
	}
}

// daemon is one parkd serve process.
type daemon struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
}

func startDaemon(s *state, name string) (*daemon, error) {
	logPath := filepath.Join(s.dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.bin, "serve", "-c", s.cfg)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, err
	}
	d := &daemon{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); lf.Close(); close(d.done) }()
	// Ready when it listens and has logged in to FreeSWITCH's event socket.
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-d.done:
			b, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s exited at start:\n%s", name, b)
		default:
		}
		if c, err := net.DialTimeout("tcp", s.parkdListen, 200*time.Millisecond); err == nil {
			c.Close()
			if connectedToFS(logPath) {
				return d, nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.kill()
	b, _ := os.ReadFile(logPath)
	return nil, fmt.Errorf("%s not ready after 15s:\n%s", name, b)
}

// connectedToFS reports whether the daemon's log shows its inbound
// connection up ("connected to FreeSWITCH").
func connectedToFS(logPath string) bool {
	f, err := os.Open(logPath)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := strings.ToLower(sc.Text())
		if strings.Contains(l, "connected to freeswitch") {
			return true
		}
	}
	return false
}

// freePort returns a loopback address with a port nobody listens on now.
func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// kill ends the daemon at once (SIGKILL): no goodbye to FreeSWITCH.
func (d *daemon) kill() {
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// stop asks the daemon to shut down (SIGTERM) and waits.
func (d *daemon) stop() {
	select {
	case <-d.done:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.kill()
	}
}

// parkdJSON runs a read-only parkd command (history, slots) with --json.
func (s *state) parkdJSON(ctx context.Context, sub string) ([]map[string]any, error) {
	out, err := exec.CommandContext(ctx, s.bin, sub, "--db", s.db, "--json").Output()
	if err != nil {
		return nil, fmt.Errorf("parkd %s: %w", sub, err)
	}
	return decodeLines(out)
}
