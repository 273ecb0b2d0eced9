package interop

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// endpoint is one sipp process: a SIP phone, caller or registration.
type endpoint struct {
	name   string
	cmd    *exec.Cmd
	done   chan struct{}
	msgLog string
	screen string
	err    error
}

// sippOpts describe one sipp run.
type sippOpts struct {
	scenario string // file in sipp/
	uac      bool   // dial s.env.SIP; else a UAS that waits for calls
	service  string // -s: the number dialled
	port     int    // -p: local SIP port
	mport    int    // -mp: local RTP port
	tone     int    // Hz of the tone streamed (0: none)
	wav      string // a WAV file streamed instead of a tone, if set
	keys     map[string]string
	args     []string
}

// sipp starts a sipp endpoint; it is stopped (by PID) when t ends.
func (s *state) sipp(t *testing.T, name string, o sippOpts) *endpoint {
	t.Helper()
	wd := filepath.Join(s.dir, t.Name(), name)
	if err := os.MkdirAll(wd, 0o755); err != nil {
		t.Fatal(err)
	}
	if o.tone != 0 && o.wav == "" {
		o.wav = s.tones[o.tone]
	}
	if o.wav != "" {
		if err := os.Symlink(o.wav, filepath.Join(wd, "tone.wav")); err != nil && !os.IsExist(err) {
			t.Fatal(err)
		}
	}
	e := &endpoint{name: name, done: make(chan struct{}), msgLog: filepath.Join(wd, "sip-messages.log"),
		screen: filepath.Join(wd, "screen.log")}
	args := []string{"-sf", filepath.Join(s.sippD, o.scenario)}
	if o.uac {
		args = append(args, s.env.SIP)
	}
	if o.service != "" {
		args = append(args, "-s", o.service)
	}
	args = append(args, "-i", "127.0.0.1", "-mi", "127.0.0.1", "-m", "1", "-nostdin", "-timeout", "180s",
		"-trace_msg", "-message_file", e.msgLog, "-trace_err", "-error_file", filepath.Join(wd, "errors.log"),
		"-p", fmt.Sprint(o.port))
	if o.mport != 0 {
		args = append(args, "-mp", fmt.Sprint(o.mport))
	}
	keys := map[string]string{"domain": s.env.Domain}
	for k, v := range o.keys {
		keys[k] = v
	}
	for k, v := range keys {
		args = append(args, "-key", k, v)
	}
	args = append(args, o.args...)
	out, err := os.Create(e.screen)
	if err != nil {
		t.Fatal(err)
	}
	e.cmd = exec.Command("sipp", args...)
	e.cmd.Dir = wd
	e.cmd.Stdout, e.cmd.Stderr = out, out
	if err := e.cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("sipp %s: %v", name, err)
	}
	s.fs.note("started sipp %q pid %d: sipp %s", name, e.cmd.Process.Pid, strings.Join(args, " "))
	go func() { e.err = e.cmd.Wait(); out.Close(); close(e.done) }()
	t.Cleanup(func() { e.stop() })
	return e
}

// wait waits for the endpoint to finish and reports whether it did, and
// whether sipp counted its call as successful (exit status 0).
func (e *endpoint) wait(timeout time.Duration) (finished, ok bool) {
	select {
	case <-e.done:
		return true, e.err == nil
	case <-time.After(timeout):
		return false, false
	}
}

func (e *endpoint) running() bool {
	select {
	case <-e.done:
		return false
	default:
		return true
	}
}

func (e *endpoint) stop() {
	if !e.running() {
		return
	}
	_ = e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.done:
	case <-time.After(3 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

// messages returns sipp's message trace.
func (e *endpoint) messages() string {
	b, _ := os.ReadFile(e.msgLog)
	return string(b)
}

var sipMsgRE = regexp.MustCompile(`(?m)^(?:UDP|TCP) message received \[\d+\] bytes :\s*\n\s*\n`)

// received returns the SIP messages the endpoint received whose first line
// starts with prefix (e.g. "INVITE ", "SIP/2.0 486"), as header maps.
func (e *endpoint) received(prefix string) []sipMessage {
	var out []sipMessage
	log := e.messages()
	locs := sipMsgRE.FindAllStringIndex(log, -1)
	for _, loc := range locs {
		rest := strings.ReplaceAll(log[loc[1]:], "\r", "")
		msg, _, _ := strings.Cut(rest, "\n\n")
		lines := strings.Split(msg, "\n")
		if len(lines) == 0 || !strings.HasPrefix(lines[0], prefix) {
			continue
		}
		m := sipMessage{First: lines[0], Headers: map[string]string{}}
		for _, l := range lines[1:] {
			if k, v, ok := strings.Cut(l, ":"); ok {
				m.Headers[strings.ToLower(strings.TrimSpace(k))] = strings.TrimSpace(v)
			}
		}
		out = append(out, m)
	}
	return out
}

type sipMessage struct {
	First   string
	Headers map[string]string
}

// register registers user at contactPort (digest auth) and unregisters it
// when t ends.
func (s *state) register(t *testing.T, user string, sipPort, contactPort int) {
	t.Helper()
	reg := func(name, expires string) bool {
		e := s.sipp(t, name, sippOpts{scenario: "uac_register.xml", uac: true, port: sipPort,
			keys: map[string]string{"user": user, "contact_port": fmt.Sprint(contactPort), "expires": expires},
			args: []string{"-au", user, "-ap", s.env.UserPass}})
		fin, ok := e.wait(15 * time.Second)
		return fin && ok
	}
	if !reg("register-"+user, "300") {
		t.Fatalf("REGISTER %s failed (is user %s in FreeSWITCH's directory with password PARKD_FS_USER_PASSWORD?)", user, user)
	}
	t.Cleanup(func() { reg("unregister-"+user, "0") })
}

// writeToneWAV writes an 8 kHz mono u-law WAV of a sine at hz, as sipp's
// rtp_stream plays it.
func writeToneWAV(path string, hz int, d time.Duration) error {
	n := int(d.Seconds() * 8000)
	data := make([]byte, n)
	for i := range data {
		v := 0.5 * math.Sin(2*math.Pi*float64(hz)*float64(i)/8000)
		data[i] = linearToULaw(int16(v * 32767))
	}
	var b []byte
	le := binary.LittleEndian
	b = append(b, "RIFF"...)
	b = le.AppendUint32(b, uint32(4+26+12+8+n))
	b = append(b, "WAVEfmt "...)
	b = le.AppendUint32(b, 18)
	b = le.AppendUint16(b, 7) // u-law
	b = le.AppendUint16(b, 1)
	b = le.AppendUint32(b, 8000)
	b = le.AppendUint32(b, 8000)
	b = le.AppendUint16(b, 1)
	b = le.AppendUint16(b, 8)
	b = le.AppendUint16(b, 0)
	b = append(b, "fact"...)
	b = le.AppendUint32(b, 4)
	b = le.AppendUint32(b, uint32(n))
	b = append(b, "data"...)
	b = le.AppendUint32(b, uint32(n))
	b = append(b, data...)
	return os.WriteFile(path, b, 0o644)
}

func linearToULaw(s int16) byte {
	const bias, clip = 0x84, 32635
	x := int(s)
	sign := 0
	if x < 0 {
		x, sign = -x, 0x80
	}
	x = min(x, clip) + bias
	exp := 7
	for mask := 0x4000; x&mask == 0 && exp > 0; mask >>= 1 {
		exp--
	}
	mant := (x >> (exp + 3)) & 0x0f
	return ^byte(sign | exp<<4 | mant)
}

func ulawToLinear(u byte) int16 {
	u = ^u
	sign := u & 0x80
	exp := int(u>>4) & 7
	mant := int(u & 0x0f)
	x := ((mant << 3) + 0x84) << exp
	x -= 0x84
	if sign != 0 {
		return int16(-x)
	}
	return int16(x)
}

func decodeLines(b []byte) ([]map[string]any, error) {
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			return nil, fmt.Errorf("%q: %w", l, err)
		}
		out = append(out, m)
	}
	return out, nil
}
