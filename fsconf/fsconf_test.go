package fsconf_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/fsconf"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	oneLot = fsconf.Params{
		Listen: "127.0.0.1:8084",
		Lots:   []fsconf.Lot{{Name: "default", ParkCode: "*70", RetrieveCode: "*71", First: 701, Last: 720}},
	}
	twoLots = fsconf.Params{
		Listen: "10.0.0.2:9000",
		Lots: []fsconf.Lot{
			{Name: "default", ParkCode: "*70", RetrieveCode: "*71", First: 701, Last: 720},
			{Name: "front--desk", ParkCode: "#72", RetrieveCode: "73", First: 201, Last: 201},
		},
	}
)

// Ensure the rendered dialplan matches the golden files byte for byte.
func TestRender_Golden(t *testing.T) {
	for _, tt := range []struct {
		name string
		p    fsconf.Params
	}{
		{"one_lot", oneLot},
		{"two_lots", twoLots},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := mustRender(t, tt.p)
			path := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read golden file (run go test ./fsconf -update to create it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("Render output differs from %s (run go test ./fsconf -update if intended):\n%s", path, got)
			}
			if again := mustRender(t, tt.p); !bytes.Equal(again, got) {
				t.Fatal("Render is not deterministic")
			}
		})
	}
}

type include struct {
	XMLName    xml.Name    `xml:"include"`
	Extensions []extension `xml:"extension"`
}

type extension struct {
	Name       string      `xml:"name,attr"`
	Conditions []condition `xml:"condition"`
}

type condition struct {
	Field       string   `xml:"field,attr"`
	Expression  string   `xml:"expression,attr"`
	Break       string   `xml:"break,attr"`
	Actions     []action `xml:"action"`
	AntiActions []action `xml:"anti-action"`
}

type action struct {
	Application string `xml:"application,attr"`
	Data        string `xml:"data,attr"`
}

// Ensure the output is well-formed XML with a park and a retrieve extension
// per lot that hand the call to parkd's listener, then parkd_return.
func TestRender_XML(t *testing.T) {
	for _, p := range []fsconf.Params{oneLot, twoLots} {
		out := mustRender(t, p)

		// Read every token, so that trailing garbage or a broken comment
		// anywhere in the file fails.
		d := xml.NewDecoder(bytes.NewReader(out))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("output is not well-formed XML: %v\n%s", err, out)
			}
		}

		var inc include
		if err := xml.Unmarshal(out, &inc); err != nil {
			t.Fatalf("Unmarshal: %v", err)
		}
		if got, want := len(inc.Extensions), 2*len(p.Lots)+1; got != want {
			t.Fatalf("%d extensions, want %d", got, want)
		}
		for i, l := range p.Lots {
			park, retrieve := inc.Extensions[2*i], inc.Extensions[2*i+1]
			checkName(t, park, "parkd_park_"+l.Name)
			checkName(t, retrieve, "parkd_retrieve_"+l.Name)

			// Park: the request; who transferred the call (break="never":
			// either way the extension goes on); then the socket and the
			// fallback, under the same destination condition.
			if got, want := len(park.Conditions), 3; got != want {
				t.Fatalf("%s: %d conditions, want %d", park.Name, got, want)
			}
			checkCode(t, park.Name, park.Conditions[0], l.ParkCode)
			checkCode(t, park.Name, park.Conditions[2], l.ParkCode)
			if park.Conditions[0].Expression != park.Conditions[2].Expression {
				t.Fatalf("%s: the socket's condition %q differs from the request's %q", park.Name, park.Conditions[2].Expression, park.Conditions[0].Expression)
			}
			checkActions(t, park.Name, park.Conditions[0].Actions,
				action{"set", esl.VarAction + "=park"}, action{"set", esl.VarLot + "=" + l.Name}, action{"set", esl.VarSlot + "=$1"})
			ret := park.Conditions[1]
			if ret.Field != "${sip_h_Referred-By}" || ret.Break != "never" || ret.Expression != fsconf.ReferredByRegex {
				t.Fatalf("%s: return condition %+v", park.Name, ret)
			}
			checkActions(t, park.Name, ret.Actions, action{"set", esl.VarReturn + "=$1"})
			checkActions(t, park.Name, ret.AntiActions, action{"set", esl.VarReturn + "=${last_sent_callee_id_number}"})
			// The answer comes before the socket: the caller's 200 OK
			// waits for nothing parkd does.
			checkActions(t, park.Name, park.Conditions[2].Actions, action{"answer", ""},
				action{"socket", p.Listen + " full"}, action{"playback", esl.ErrorTone}, action{"transfer", "parkd_return"})

			// Retrieve: the request, the answer, the socket, and a hangup
			// after the error tone when parkd is not there.
			if got, want := len(retrieve.Conditions), 1; got != want {
				t.Fatalf("%s: %d conditions, want %d", retrieve.Name, got, want)
			}
			checkCode(t, retrieve.Name, retrieve.Conditions[0], l.RetrieveCode)
			checkActions(t, retrieve.Name, retrieve.Conditions[0].Actions,
				action{"set", esl.VarAction + "=retrieve"}, action{"set", esl.VarLot + "=" + l.Name}, action{"set", esl.VarSlot + "=$1"},
				action{"answer", ""}, action{"socket", p.Listen + " full"}, action{"playback", esl.ErrorTone}, action{"hangup", "NORMAL_TEMPORARY_FAILURE"})
		}
		ret := inc.Extensions[len(inc.Extensions)-1]
		if got, want := ret.Name, "parkd_return"; got != want {
			t.Fatalf("last extension=%q, want %q", got, want)
		}
		if got, want := len(ret.Conditions), 2; got != want {
			t.Fatalf("parkd_return: %d conditions, want %d", got, want)
		}
		if got, want := ret.Conditions[0].Expression, "^parkd_return$"; got != want {
			t.Fatalf("parkd_return expression=%q, want %q", got, want)
		}
		c := ret.Conditions[1]
		if got, want := c.Field, "${"+esl.VarReturn+"}"; got != want {
			t.Fatalf("parkd_return field=%q, want %q", got, want)
		}
		if got, want := c.Expression, fsconf.ReturnRegex; got != want {
			t.Fatalf("parkd_return expression=%q, want %q", got, want)
		}
		if len(c.Actions) != 1 || c.Actions[0] != (action{"transfer", "$1"}) {
			t.Fatalf("parkd_return actions=%+v", c.Actions)
		}
		if len(c.AntiActions) != 1 || c.AntiActions[0] != (action{"hangup", "NORMAL_TEMPORARY_FAILURE"}) {
			t.Fatalf("parkd_return anti-actions=%+v", c.AntiActions)
		}
	}
}

// checkName fails t unless ext is called name.
func checkName(t *testing.T, ext extension, name string) {
	t.Helper()
	if ext.Name != name {
		t.Fatalf("extension name=%q, want %q", ext.Name, name)
	}
}

// checkCode fails t unless c matches the destination numbers of code and
// captures the slot after it.
func checkCode(t *testing.T, ext string, c condition, code string) {
	t.Helper()
	if got, want := c.Field, "destination_number"; got != want {
		t.Fatalf("%s: field=%q, want %q", ext, got, want)
	}
	re, err := regexp.Compile(c.Expression)
	if err != nil {
		t.Fatalf("%s: expression %q: %v", ext, c.Expression, err)
	}
	for _, tc := range []struct {
		dialed string
		match  bool
		slot   string
	}{
		{code, true, ""},
		{code + "705", true, "705"},
		{code[:len(code)-1], false, ""},
		{"x" + code, false, ""},
		{code + "7a", false, ""},
	} {
		m := re.FindStringSubmatch(tc.dialed)
		if got := m != nil; got != tc.match {
			t.Fatalf("%s: %q matches %q: %v, want %v", ext, c.Expression, tc.dialed, got, tc.match)
		}
		if m != nil && m[1] != tc.slot {
			t.Fatalf("%s: slot from %q=%q, want %q", ext, tc.dialed, m[1], tc.slot)
		}
	}
}

// checkActions fails t unless got are the actions want, in order.
func checkActions(t *testing.T, ext string, got []action, want ...action) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("%s: actions\n%+v\nwant\n%+v", ext, got, want)
	}
}

// Ensure the dialplan takes the transferor from Referred-By as FreeSWITCH
// passes it on (display name, parameters, sips), and nothing that is not a
// plain extension; and that the fallback sends back only a plain extension.
func TestRegexes(t *testing.T) {
	referredBy := regexp.MustCompile(fsconf.ReferredByRegex)
	for _, tc := range []struct{ header, user string }{
		{"<sip:1000@127.0.0.1>", "1000"},
		{`"Reception" <sip:reception-1@pbx.example.com:5060;transport=udp>`, "reception-1"},
		{"<sips:+1555@sbc.example.net;user=phone>", "+1555"},
		{"sip:1000@pbx", "1000"},
		{"", ""},
		{"<sip:pbx.example.com>", ""},
		{"<sip:10 00@pbx>", ""},
		{"<sip:1000;evil@pbx>", ""},
		{"<sip:%31000@pbx>", ""},
		{"<tel:+1555>", ""},
		// The fallback's transfer would read a leading '-' as its -bleg
		// or -both flag and leave the caller where it is.
		{"<sip:-bleg@pbx>", ""},
		{"<sip:-both@pbx>", ""},
	} {
		user := ""
		if m := referredBy.FindStringSubmatch(tc.header); m != nil {
			user = m[1]
		}
		if user != tc.user {
			t.Errorf("Referred-By %q: user %q, want %q", tc.header, user, tc.user)
		}
	}
	ret := regexp.MustCompile(fsconf.ReturnRegex)
	for v, ok := range map[string]bool{"1000": true, "reception-1": true, "+1555": true, "": false, "1000 XML default": false, "a|b": false, "${x}": false, "-bleg": false, "-both": false} {
		if got := ret.MatchString(v); got != ok {
			t.Errorf("return %q accepted %v, want %v", v, got, ok)
		}
	}
}

// Ensure Render rejects parameters that could break the XML or the dialplan
// and writes nothing for them.
func TestRender_Invalid(t *testing.T) {
	lot := func(f func(*fsconf.Lot)) fsconf.Params {
		l := oneLot.Lots[0]
		f(&l)
		return fsconf.Params{Listen: oneLot.Listen, Lots: []fsconf.Lot{l}}
	}
	for _, tt := range []struct {
		name string
		p    fsconf.Params
		want string
	}{
		{"NameQuote", lot(func(l *fsconf.Lot) { l.Name = `a"b` }), `lot[0]: name "a\"b"`},
		{"NameAngle", lot(func(l *fsconf.Lot) { l.Name = "a<b" }), `lot[0]: name "a<b"`},
		{"NameEmpty", lot(func(l *fsconf.Lot) { l.Name = "" }), `lot[0]: name ""`},
		{"ParkCodeLetters", lot(func(l *fsconf.Lot) { l.ParkCode = "*7a" }), `lot[0]: park code "*7a"`},
		{"RetrieveCodeRegex", lot(func(l *fsconf.Lot) { l.RetrieveCode = "*71|.*" }), `lot[0]: retrieve code "*71|.*"`},
		{"Slots", lot(func(l *fsconf.Lot) { l.First, l.Last = 10, 9 }), `lot[0]: slots 10-9`},
		{"ListenSpace", fsconf.Params{Listen: "127.0.0.1 :8084", Lots: oneLot.Lots}, `listen "127.0.0.1 :8084"`},
		{"ListenTrailingSpace", fsconf.Params{Listen: "127.0.0.1:8084 ", Lots: oneLot.Lots}, `listen "127.0.0.1:8084 "`},
		{"ListenQuote", fsconf.Params{Listen: `a"b:8084`, Lots: oneLot.Lots}, `listen "a\"b:8084"`},
		{"ListenNoHost", fsconf.Params{Listen: ":8084", Lots: oneLot.Lots}, `listen ":8084"`},
		{"ListenNoPort", fsconf.Params{Listen: "127.0.0.1", Lots: oneLot.Lots}, `listen "127.0.0.1"`},
		{"NoLots", fsconf.Params{Listen: oneLot.Listen}, "no lots"},
		{"DuplicateName", fsconf.Params{Listen: oneLot.Listen, Lots: []fsconf.Lot{oneLot.Lots[0], oneLot.Lots[0]}}, `lot[1]: name "default": duplicate`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := fsconf.Render(&buf, tt.p)
			if err == nil {
				t.Fatalf("Render: no error, want %q", tt.want)
			}
			if got := err.Error(); !strings.Contains(got, tt.want) {
				t.Fatalf("Render error=%q, want it to contain %q", got, tt.want)
			}
			if got, want := buf.Len(), 0; got != want {
				t.Fatalf("Render wrote %d bytes, want %d", got, want)
			}
		})
	}
}

// mustRender renders p or fails the test.
func mustRender(tb testing.TB, p fsconf.Params) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := fsconf.Render(&buf, p); err != nil {
		tb.Fatalf("Render: %v", err)
	}
	return buf.Bytes()
}

// Ensure every extension that hands a call to parkd answers it first, right
// before the socket application, in every shape of include: one lot, two,
// busy-lamp keys, tenants, and the outside pick-up numbers. The 200 OK then
// goes to the caller before parkd is reached, and the error tone of the
// fallback after the socket is heard on an answered call.
func TestRender_AnswerBeforeSocket(t *testing.T) {
	outputs := map[string][]byte{"one_lot": mustRender(t, oneLot), "two_lots": mustRender(t, twoLots), "blf": mustRender(t, blfLots)}
	for _, p := range fsconf.Split(twoTenants, nil) {
		outputs["tenant_"+p.Context] = mustRender(t, p.Params)
	}
	var b bytes.Buffer
	if err := fsconf.RenderOutside(&b, "127.0.0.1:8084", "public", []fsconf.Outside{{Lot: "main", Number: "+15550199", Context: "public"}}); err != nil {
		t.Fatal(err)
	}
	outputs["outside"] = b.Bytes()
	for name, out := range outputs {
		var inc include
		if err := xml.Unmarshal(out, &inc); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sockets := 0
		for _, e := range inc.Extensions {
			for _, c := range e.Conditions {
				for i, a := range c.Actions {
					if a.Application != "socket" {
						continue
					}
					sockets++
					if i == 0 || c.Actions[i-1] != (action{"answer", ""}) {
						t.Errorf("%s: extension %s: the socket is not preceded by an answer: %+v", name, e.Name, c.Actions)
					}
				}
			}
		}
		if sockets == 0 {
			t.Errorf("%s: no socket application at all", name)
		}
	}
}
