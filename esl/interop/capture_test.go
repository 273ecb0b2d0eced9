package interop

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"testing"

	"github.com/parkd/parkd/esl"
)

// eslConn is one of FreeSWITCH's outbound socket connections to parkd, as
// the recording proxy (tee_test.go) saw it.
type eslConn struct {
	name         string // outbound-NNN
	uuid         string // the channel, from the connect reply
	connectReply []byte // the connect reply's header block, verbatim
	sent         [][]string
	recv         []esl.Frame
}

// outboundConns reads every recorded outbound connection of the run.
func (s *state) outboundConns(t *testing.T) []*eslConn {
	t.Helper()
	dir := filepath.Join(s.dir, "esl-transcripts")
	files, _ := filepath.Glob(filepath.Join(dir, "outbound-*.fs.raw"))
	sort.Strings(files)
	var out []*eslConn
	for _, f := range files {
		fromFS, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		base := strings.TrimSuffix(filepath.Base(f), ".fs.raw")
		fromParkd, _ := os.ReadFile(filepath.Join(dir, base+".parkd.raw"))
		c := &eslConn{name: base}
		if i := bytes.Index(fromFS, []byte("\n\n")); i >= 0 {
			c.connectReply = fromFS[:i+2]
		}
		r := esl.NewReader(bytes.NewReader(fromFS))
		for {
			fr, err := r.ReadFrame()
			if err != nil {
				break
			}
			if c.uuid == "" {
				c.uuid = fr.Headers.Get("Unique-ID")
			}
			c.recv = append(c.recv, fr)
		}
		for _, cmd := range strings.Split(strings.ReplaceAll(string(fromParkd), "\r\n", "\n"), "\n\n") {
			if cmd = strings.TrimSpace(cmd); cmd != "" {
				c.sent = append(c.sent, strings.Split(cmd, "\n"))
			}
		}
		out = append(out, c)
	}
	return out
}

// abridged is the connection in the form of the simulator's interop
// transcripts (esl/fstest/testdata/interop-*.txt).
func (c *eslConn) abridged() string {
	var b strings.Builder
	fmt.Fprintf(&b, "== %s\nSENT:\n", c.name)
	for _, cmd := range c.sent {
		fmt.Fprintf(&b, "   %s\n", strings.Join(cmd, " | "))
	}
	b.WriteString("RECV:\n")
	for i, f := range c.recv {
		switch ct := f.ContentType(); ct {
		case "text/event-plain":
			ev, err := esl.ParseEvent(f.Body)
			if err != nil {
				continue
			}
			if !noise(obsEvent{Event: ev}) {
				b.WriteString(abridgeEvent("", obsEvent{Event: ev}))
			}
		case "api/response", "text/disconnect-notice":
			fmt.Fprintf(&b, "   %s %s\n", ct, strings.TrimSpace(string(f.Body)))
		default:
			line := fmt.Sprintf("   %s %s", ct, f.Headers.Get("Reply-Text"))
			if i == 0 {
				for _, h := range []string{"Answer-State", "Caller-Destination-Number", "Channel-Call-State",
					"variable_sip_refer_to", "variable_sip_h_Referred-By", "variable_sip_replaces",
					"variable_transfer_source", "variable_sip_call_id", "variable_refer_uuid"} {
					if v := f.Headers.Get(h); v != "" {
						line += fmt.Sprintf("  %s=%s", h, v)
					}
				}
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// abridgeEvent is one line for an event: its name and the headers that
// say what happened to the channel.
func abridgeEvent(label string, e obsEvent) string {
	line := "  EVENT " + e.Name()
	if label != "" {
		line = "  " + label + " " + e.Name()
	}
	line += " " + e.Get("Channel-State") + " dest=" + e.Get("Caller-Destination-Number") + " dialplan=" + e.Get("Caller-Dialplan")
	for _, h := range []string{"Application", "Application-Data", "Application-Response", "Hangup-Cause",
		"variable_sip_hangup_disposition", "Bridge-A-Unique-ID", "Bridge-B-Unique-ID"} {
		if v := e.Get(h); v != "" {
			line += " " + h + "=" + v
		}
	}
	return line + "\n"
}

// noise are events of the channels that say nothing about the transfer:
// call-state echoes, the channels' own presence, and the vanilla
// dialplan's log actions.
func noise(e obsEvent) bool {
	switch e.Name() {
	case "CHANNEL_CALLSTATE", "PRESENCE_IN", "PRESENCE_PROBE":
		return true
	case "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE":
		return e.Get("Application") == "log"
	}
	return false
}

var scrubs = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`(?m)^(FreeSWITCH-Hostname|FreeSWITCH-Switchname): .*$`), "$1: vm"},
	{regexp.MustCompile(`(?m)^FreeSWITCH-IPv4: .*$`), "FreeSWITCH-IPv4: 192.0.2.2"},
	{regexp.MustCompile(`(?m)^FreeSWITCH-IPv6: .*$`), "FreeSWITCH-IPv6: 2001%3Adb8%3A%3A2"},
}

// scrubCapture removes the host's names and addresses, as in the other
// captures in the test data; everything on the loopback interface stays.
func scrubCapture(text string, s *state) string {
	for _, sc := range scrubs {
		text = sc.re.ReplaceAllString(text, sc.with)
	}
	if h, err := os.Hostname(); err == nil && len(h) > 2 {
		text = strings.ReplaceAll(text, h, "vm")
	}
	return text
}

// saveTestdata writes a capture into the run directory, and into the
// repository's file rel (relative to this package) when
// PARKD_INTEROP_UPDATE=1.
func (s *state) saveTestdata(t *testing.T, rel, text string) {
	t.Helper()
	p := filepath.Join(s.dir, t.Name(), filepath.Base(rel))
	_ = os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Error(err)
	}
	if os.Getenv("PARKD_INTEROP_UPDATE") != "1" {
		t.Logf("capture in %s (PARKD_INTEROP_UPDATE=1 writes it to %s)", p, rel)
		return
	}
	_, file, _, _ := runtime.Caller(0)
	dst := filepath.Join(filepath.Dir(file), rel)
	if err := os.WriteFile(dst, []byte(text), 0o644); err != nil {
		t.Error(err)
	}
	t.Logf("capture written to %s", dst)
}
