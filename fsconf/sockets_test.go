package fsconf_test

import (
	"bytes"
	"encoding/xml"
	"slices"
	"strings"
	"testing"

	"github.com/parkd/parkd/fsconf"
)

// socketSequences lists, per extension condition that hands calls to
// parkd, the applications from its answer to the end.
func socketSequences(t *testing.T, out []byte) [][]action {
	t.Helper()
	var inc include
	if err := xml.Unmarshal(out, &inc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var seqs [][]action
	for _, e := range inc.Extensions {
		for _, c := range e.Conditions {
			if i := slices.IndexFunc(c.Actions, func(a action) bool { return a.Application == "socket" }); i > 0 {
				seqs = append(seqs, c.Actions[i-1:])
			}
		}
	}
	return seqs
}

// Ensure an active/standby pair's dialplan tries every parkd in the
// configured order, one socket action each right after the answer, and
// the fallback only after the last: in the park and retrieve extensions,
// the busy-lamp keys', and the outside pick-up numbers'.
func TestRender_Sockets(t *testing.T) {
	pair := []string{"10.0.0.1:8084", "10.0.0.2:8084"}
	p := blfLots
	p.Sockets = pair
	outputs := map[string][]byte{"blf": mustRender(t, p)}
	var b bytes.Buffer
	if err := fsconf.RenderOutsideSockets(&b, pair, "public", []fsconf.Outside{{Lot: "main", Number: "+15550199", Context: "public"}}); err != nil {
		t.Fatal(err)
	}
	outputs["outside"] = b.Bytes()
	for name, out := range outputs {
		seqs := socketSequences(t, out)
		if len(seqs) == 0 {
			t.Fatalf("%s: no socket action", name)
		}
		for _, seq := range seqs {
			if len(seq) < 4 || seq[0] != (action{"answer", ""}) || !pairInOrder(seq, pair[0], pair[1]) ||
				seq[3].Application == "socket" {
				t.Fatalf("%s: %+v, want answer, socket 10.0.0.1, socket 10.0.0.2, then the fallback", name, seq)
			}
		}
		if bytes.Contains(out, []byte(oneLot.Listen+" async")) && !slices.Contains(pair, oneLot.Listen) {
			t.Fatalf("%s: the listen address is tried too, though sockets leave it out", name)
		}
	}
	// Without sockets, the one listener, as before.
	for _, seq := range socketSequences(t, mustRender(t, blfLots)) {
		if _, ok := socketMode(seq[1], blfLots.Listen); !ok || seq[2].Application == "socket" {
			t.Fatalf("one parkd: %+v", seq)
		}
	}
}

// socketMode returns the mode of a socket action to addr: " full" (park
// and retrieve: docs/freeswitch.md#sync-socket-acts-at-once) or
// " async full" (the keys, the outside pick-up); ok is false for anything
// else.
func socketMode(a action, addr string) (mode string, ok bool) {
	for _, m := range []string{" full", " async full"} {
		if a == (action{"socket", addr + m}) {
			return m, true
		}
	}
	return "", false
}

// pairInOrder reports whether seq, from its answer, tries a then b in the
// same socket mode.
func pairInOrder(seq []action, a, b string) bool {
	ma, oka := socketMode(seq[1], a)
	mb, okb := socketMode(seq[2], b)
	return oka && okb && ma == mb
}

// Ensure a socket address that could break out of the attribute or add a
// dialplan argument is refused, and nothing is written.
func TestRender_SocketsInvalid(t *testing.T) {
	for _, bad := range []string{
		`10.0.0.2:8084"/><action application="system" data="rm`,
		"10.0.0.2:8084 sync",
		"10.0.0.2",
		":8084",
		"10.0.0.2:0",
		"10.0.0.2:8084\n",
	} {
		p := oneLot
		p.Sockets = []string{"10.0.0.1:8084", bad}
		var buf bytes.Buffer
		err := fsconf.Render(&buf, p)
		if err == nil || !strings.Contains(err.Error(), "sockets[1]") || buf.Len() != 0 {
			t.Errorf("Sockets %q: err=%v, wrote %d bytes", bad, err, buf.Len())
		}
		buf.Reset()
		if err := fsconf.RenderOutsideSockets(&buf, []string{bad}, "public", []fsconf.Outside{{Lot: "main", Number: "+15550199", Context: "public"}}); err == nil || buf.Len() != 0 {
			t.Errorf("outside %q: err=%v, wrote %d bytes", bad, err, buf.Len())
		}
	}
}

// Fuzz the socket addresses of a pair: whatever Render accepts is
// well-formed XML in which every socket action's data is exactly one of
// the addresses followed by the same mode, in order.
func FuzzRenderSockets(f *testing.F) {
	f.Add("10.0.0.1:8084", "10.0.0.2:8084")
	f.Add("pbx-a.example:8084", "[::1]:8084")
	f.Add(`a"b:1`, "x y:2")
	f.Fuzz(func(t *testing.T, a, b string) {
		p := oneLot
		p.Sockets = []string{a, b}
		var buf bytes.Buffer
		if err := fsconf.Render(&buf, p); err != nil {
			return
		}
		for _, seq := range socketSequences(t, buf.Bytes()) {
			if !pairInOrder(seq, a, b) {
				t.Fatalf("sockets %q %q rendered as %+v", a, b, seq)
			}
		}
	})
}
