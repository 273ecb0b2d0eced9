package esl

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/parkd/parkd/parking"
)

const jobA = "5e7c0a00-0000-4000-8000-0000000000a1"

// The variables a recall originate sets, in order.
var (
	recallVars        = []string{"origination_uuid", "origination_caller_id_name", "origination_caller_id_number", "alert_info", "originate_timeout", "parkd_instance", "parkd_recall", "parkd_recall_for", "parkd_lot", "parkd_slot"}
	recallVarsNoAlert = append(append([]string(nil), recallVars[:3]...), recallVars[4:]...)
)

func testOrigination() parking.Origination {
	return parking.Origination{
		Leg: uuidA, Parked: uuidB, Lot: "main", Slot: 202,
		Dial: "user/1000@example.com", AlertInfo: "<http://127.0.0.1>;info=alert-autoanswer",
		CallerIDName: "Park 202 - Jane Roe", CallerIDNumber: "202", RingFor: 15 * time.Second,
	}
}

// Ensure the recall originate is exactly the command of
// docs/freeswitch.md#recall-originate, with
// parkd's Job-UUID as a header line.
func TestRecallOriginate_Command(t *testing.T) {
	cmd, err := recallOriginate(testOrigination(), jobA, "pbx1")
	if err != nil {
		t.Fatal(err)
	}
	want := "bgapi originate {origination_uuid=" + uuidA + ",origination_caller_id_name='Park 202 - Jane Roe'," +
		"origination_caller_id_number=202,alert_info='<http://127.0.0.1>;info=alert-autoanswer',originate_timeout=15," +
		"parkd_instance=pbx1,parkd_recall=true,parkd_recall_for=" + uuidB + ",parkd_lot=main,parkd_slot=202}user/1000@example.com &park()" +
		"\r\nJob-UUID: " + jobA
	if got := cmd.BuildMessage(); got != want {
		t.Fatalf("got  %q\nwant %q", got, want)
	}

	o := testOrigination()
	o.AlertInfo, o.RingFor, o.CallerIDName, o.CallerIDNumber = "", 300*time.Millisecond, "Jones, Ann", ""
	cmd, err = recallOriginate(o, jobA, "pbx1")
	if err != nil {
		t.Fatal(err)
	}
	line, _, _ := strings.Cut(cmd.BuildMessage(), "\r\n")
	if !strings.Contains(line, `origination_caller_id_name='Jones\, Ann',origination_caller_id_number=0,originate_timeout=1,`) ||
		strings.Contains(line, "alert_info") {
		t.Fatalf("no alert, short ring, comma, no number: %q", line)
	}
	if got := originateVarNames(t, line, o.Dial); !reflect.DeepEqual(got, recallVarsNoAlert) {
		t.Fatalf("vars %q", got)
	}

	o.CallerIDName, o.CallerIDNumber = "'@:/", "+1 (555) 123"
	cmd, _ = recallOriginate(o, jobA, "pbx1")
	if !strings.Contains(cmd.Args, "origination_caller_id_name='+1555123',") {
		t.Fatalf("an empty name falls back to the number: %q", cmd.Args)
	}
}

// Ensure configuration and identifiers that could break the command are
// refused, not repaired.
func TestRecallOriginate_RefusesUnsafe(t *testing.T) {
	for name, mutate := range map[string]func(*parking.Origination){
		"LegNotUUID":      func(o *parking.Origination) { o.Leg = "x" },
		"LegInjection":    func(o *parking.Origination) { o.Leg = uuidA + "\n\napi hupall" },
		"ParkedNotUUID":   func(o *parking.Origination) { o.Parked = "" },
		"LotEmpty":        func(o *parking.Origination) { o.Lot = "" },
		"LotQuote":        func(o *parking.Origination) { o.Lot = "main'" },
		"SlotNegative":    func(o *parking.Origination) { o.Slot = -1 },
		"DialEmpty":       func(o *parking.Origination) { o.Dial = "" },
		"DialSpace":       func(o *parking.Origination) { o.Dial = "user/1000 &hupall()" },
		"DialComma":       func(o *parking.Origination) { o.Dial = "user/1000,user/1001" },
		"DialBraces":      func(o *parking.Origination) { o.Dial = "{park_timeout=1}user/1000" },
		"DialBrackets":    func(o *parking.Origination) { o.Dial = "[x=1]user/1000" },
		"DialQuote":       func(o *parking.Origination) { o.Dial = "user/1000'" },
		"DialNewline":     func(o *parking.Origination) { o.Dial = "user/1000\n\napi hupall" },
		"DialTooLong":     func(o *parking.Origination) { o.Dial = "user/" + strings.Repeat("1", 300) },
		"AlertQuote":      func(o *parking.Origination) { o.AlertInfo = "<http://x>',park_timeout=1,x='" },
		"AlertComma":      func(o *parking.Origination) { o.AlertInfo = "<http://x>,y" },
		"AlertSpace":      func(o *parking.Origination) { o.AlertInfo = "<http://x> y" },
		"AlertBrace":      func(o *parking.Origination) { o.AlertInfo = "<http://x>}" },
		"AlertBracket":    func(o *parking.Origination) { o.AlertInfo = "<http://x>[" },
		"AlertCaret":      func(o *parking.Origination) { o.AlertInfo = "^^:a" },
		"AlertBackslash":  func(o *parking.Origination) { o.AlertInfo = `<http://x>\` },
		"AlertDoubleQ":    func(o *parking.Origination) { o.AlertInfo = `"x"` },
		"AlertNewline":    func(o *parking.Origination) { o.AlertInfo = "<http://x>\n\napi hupall" },
		"AlertCR":         func(o *parking.Origination) { o.AlertInfo = "<http://x>\r" },
		"AlertTooLong":    func(o *parking.Origination) { o.AlertInfo = "<http://" + strings.Repeat("x", 260) + ">" },
		"AlertDEL":        func(o *parking.Origination) { o.AlertInfo = "a\x7f" },
		"AlertNonBreakSp": func(o *parking.Origination) { o.AlertInfo = "a\u00a0b" },
	} {
		t.Run(name, func(t *testing.T) {
			o := testOrigination()
			mutate(&o)
			if _, err := recallOriginate(o, jobA, "pbx1"); !errors.Is(err, ErrUnsafeValue) {
				t.Fatalf("err=%v, want ErrUnsafeValue", err)
			}
		})
	}
	for _, bad := range []string{"", "pbx1,park_timeout=1", "pbx1'", "pbx 1", "pbx1;x=y", "pbx1}", "pbx1\n\napi hupall"} {
		if _, err := recallOriginate(testOrigination(), jobA, bad); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("instance %q: err=%v, want ErrUnsafeValue", bad, err)
		}
	}
	for _, ok := range []string{"sofia/gateway/gw1/5551234", "loopback/1000/default", "user/1000@example.com", "sofia/internal/1000%127.0.0.1"} {
		o := testOrigination()
		o.Dial = ok
		if _, err := recallOriginate(o, jobA, "pbx1"); err != nil {
			t.Errorf("dial %q: %v", ok, err)
		}
	}
	for _, ok := range []string{"<http://127.0.0.1/Bellcore-dr4>", "<http://127.0.0.1>;info=alert-autoanswer", "info=external"} {
		o := testOrigination()
		o.AlertInfo = ok
		if _, err := recallOriginate(o, jobA, "pbx1"); err != nil {
			t.Errorf("alert info %q: %v", ok, err)
		}
	}
}

// Ensure caller-ID names become harmless text that survives mod_sofia
// (docs/freeswitch.md#caller-id-name-mangling) and originate's quoting
// (docs/freeswitch.md#quotes-break-out-of-originate-variables).
func TestSafeCallerIDName(t *testing.T) {
	for in, want := range map[string]string{
		"Park 202 - Jane Roe":            "Park 202 - Jane Roe",
		"Parked 202 (Patient)":           "Parked 202 (Patient)",
		"Parked 202: Patient":            "Parked 202 Patient",
		"P#202/Patient":                  "P#202 Patient",
		"jane@example.com":               "jane example.com",
		"Roe, Jane":                      `Roe\, Jane`,
		"X',park_timeout=1,ignore='":     `X \,park_timeout=1\,ignore=`,
		"a,b}' &park()\n\napi hupall":    `a\,b &park()api hupall`,
		"a\r\n\r\nb":                     "ab",
		`{x}[y]^z\w"q";r$s`:              "x y z w q r s",
		"  lots   of\u00a0 space  ":      "lots of space",
		"bidi\u202eevil\u200b":           "bidievil",
		"Zoë Ñandú 李":                    "Zoë Ñandú 李",
		"bad\xffutf8":                    "badutf8",
		"'\"{}":                          "",
		"":                               "",
		strings.Repeat("a", 100):         strings.Repeat("a", 64),
		strings.Repeat(",", 70):          strings.Repeat(`\,`, 64),
		strings.Repeat("a", 63) + " bcd": strings.Repeat("a", 63),
	} {
		if got := SafeCallerIDName(in); got != want {
			t.Errorf("SafeCallerIDName(%q)=%q, want %q", in, got, want)
		}
	}
}

// Ensure caller-ID numbers keep only dialable characters.
func TestSafeCallerIDNumber(t *testing.T) {
	for in, want := range map[string]string{
		"202": "202", "+1 (555) 123-4567": "+15551234567", "*70#": "*70#", "": "0", "anonymous": "0",
		"1\n\napi hupall": "1", strings.Repeat("9", 40): strings.Repeat("9", 32), "١٢٣": "0",
	} {
		if got := SafeCallerIDNumber(in); got != want {
			t.Errorf("SafeCallerIDNumber(%q)=%q, want %q", in, got, want)
		}
	}
}

// Ensure the control builders produce FreeSWITCH's syntax and refuse what
// could be misread (a '-' first would be -bleg/-both to uuid_transfer).
func TestControlBuilders(t *testing.T) {
	for _, tc := range []struct {
		to   parking.Destination
		want string
	}{
		{parking.Destination{Extension: "1000"}, "api uuid_transfer " + uuidA + " 1000"},
		{parking.Destination{Extension: "1000", Context: "default"}, "api uuid_transfer " + uuidA + " 1000 XML default"},
		{parking.Destination{Extension: "operator", Dialplan: "XML"}, "api uuid_transfer " + uuidA + " operator XML"},
		{parking.Destination{Extension: "*70", Dialplan: "enum", Context: "public"}, "api uuid_transfer " + uuidA + " *70 enum public"},
	} {
		cmd, err := transferDest(uuidA, tc.to)
		if err != nil || cmd.BuildMessage() != tc.want {
			t.Errorf("transferDest(%+v)=%q, %v; want %q", tc.to, cmd.BuildMessage(), err, tc.want)
		}
	}
	for _, to := range []parking.Destination{
		{}, {Extension: "-both"}, {Extension: "1000", Context: "-x"}, {Extension: "1000 XML"},
		{Extension: "1000", Dialplan: "XML\n\napi hupall"}, {Extension: "a'b"},
	} {
		if _, err := transferDest(uuidA, to); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("transferDest(%+v): err=%v, want ErrUnsafeValue", to, err)
		}
	}
	if _, err := transferDest("nope", parking.Destination{Extension: "1000"}); !errors.Is(err, ErrUnsafeValue) {
		t.Errorf("transferDest bad uuid: %v", err)
	}

	if cmd, err := kill(uuidA, "ORIGINATOR_CANCEL"); err != nil || cmd.BuildMessage() != "api uuid_kill "+uuidA+" ORIGINATOR_CANCEL" {
		t.Errorf("kill: %q %v", cmd.BuildMessage(), err)
	}
	if cmd, err := kill(uuidA, ""); err != nil || cmd.BuildMessage() != "api uuid_kill "+uuidA {
		t.Errorf("kill without cause: %q %v", cmd.BuildMessage(), err)
	}
	for _, bad := range [][2]string{{uuidA, "normal clearing"}, {uuidA, "X\n\napi hupall"}, {"x", "NORMAL_CLEARING"}} {
		if _, err := kill(bad[0], bad[1]); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("kill(%q, %q): err=%v", bad[0], bad[1], err)
		}
	}
}

// Ensure a job result reaches its waiter once, and only its waiter.
func TestJobTable(t *testing.T) {
	var jobs jobTable
	if jobs.deliver(jobA, Event{}) {
		t.Fatal("delivered to nobody")
	}
	ch := jobs.add(jobA)
	if !jobs.deliver(jobA, Event{Body: []byte("+OK x\n")}) || jobs.deliver(jobA, Event{}) {
		t.Fatal("a job result must be delivered exactly once")
	}
	if ev := <-ch; string(ev.Body) != "+OK x\n" {
		t.Fatalf("got %q", ev.Body)
	}
	jobs.add(uuidA)
	jobs.remove(uuidA)
	if jobs.deliver(uuidA, Event{}) {
		t.Fatal("delivered to a removed waiter")
	}
}

// Ensure job bodies map to the parking.Switch contract.
func TestJobOutcome(t *testing.T) {
	o := testOrigination()
	if err := jobOutcome(o, Event{Body: []byte("+OK " + uuidA + "\n")}); err != nil {
		t.Fatal(err)
	}
	var cf *parking.CallFailure
	if err := jobOutcome(o, Event{Body: []byte("-ERR NO_ANSWER\n")}); !errors.As(err, &cf) || cf.Cause != "NO_ANSWER" {
		t.Fatalf("err=%v", err)
	}
	for _, body := range []string{"+OK " + uuidB + "\n", "-USAGE: originate\n", ""} {
		if err := jobOutcome(o, Event{Body: []byte(body)}); err == nil || errors.As(err, &cf) {
			t.Fatalf("body %q: err=%v, want a non-CallFailure error", body, err)
		}
	}
}

// FuzzOriginateCommand: whatever name, number, Alert-Info and dial string
// come in, the command is refused with ErrUnsafeValue or is one line whose
// {…} block, parsed as FreeSWITCH does, holds exactly parkd's variables.
func FuzzOriginateCommand(f *testing.F) {
	f.Add("Park 202 - Jane Roe", "202", "<http://127.0.0.1>;info=alert-autoanswer", "user/1000@example.com")
	f.Add("a,b}' &park()\n\napi hupall", "1\r\n\r\napi hupall", "", "user/1000")
	f.Add("X',park_timeout=1,ignore='", "'", "<http://x>',a='", "user/1000'")
	f.Add(`\`+"'"+`\,`, "", "a\\", "{a=b}user/1")
	f.Add(strings.Repeat(",", 100), strings.Repeat("9", 40), "x", "sofia/gateway/gw1/5551234")
	f.Fuzz(func(t *testing.T, name, number, alert, dial string) {
		safe := SafeCallerIDName(name)
		if strings.ContainsAny(safe, `'"{}[]:/@^;$`) || strings.ContainsFunc(safe, unicode.IsControl) {
			t.Fatalf("SafeCallerIDName(%q)=%q keeps an unsafe character", name, safe)
		}
		for i := 0; i < len(safe); i++ {
			if safe[i] == ',' && (i == 0 || safe[i-1] != '\\') {
				t.Fatalf("SafeCallerIDName(%q)=%q: unescaped comma", name, safe)
			}
			if safe[i] == '\\' && (i+1 == len(safe) || safe[i+1] != ',') {
				t.Fatalf("SafeCallerIDName(%q)=%q: a backslash escapes something else than a comma", name, safe)
			}
		}

		o := testOrigination()
		o.CallerIDName, o.CallerIDNumber, o.AlertInfo, o.Dial = name, number, alert, dial
		cmd, err := recallOriginate(o, jobA, "pbx1")
		if err != nil {
			if !errors.Is(err, ErrUnsafeValue) {
				t.Fatalf("err=%v, want ErrUnsafeValue", err)
			}
			return
		}
		line, header, ok := strings.Cut(cmd.BuildMessage(), "\r\n")
		if !ok || header != "Job-UUID: "+jobA || strings.ContainsAny(line, "\r\n") {
			t.Fatalf("not one command line plus the Job-UUID header: %q", cmd.BuildMessage())
		}
		want := recallVars
		if alert == "" {
			want = recallVarsNoAlert
		}
		if got := originateVarNames(t, line, dial); !reflect.DeepEqual(got, want) {
			t.Fatalf("variables %q, want %q in %q", got, want, line)
		}
	})
}

// originateVarNames parses a `bgapi originate {…}<dial> &park()` line as
// FreeSWITCH does and returns the names of the {…} variables. It fails the
// test unless originate sees exactly two arguments, the dial string after
// the block is dial, and the application is &park().
func originateVarNames(t *testing.T, line, dial string) []string {
	t.Helper()
	rest, ok := strings.CutPrefix(line, "bgapi originate ")
	if !ok {
		t.Fatalf("not a bgapi originate: %q", line)
	}
	argv := fsSplit(rest, ' ')
	if len(argv) != 2 || argv[1] != "&park()" {
		t.Fatalf("originate arguments %q", argv)
	}
	url := argv[0]
	// switch_find_end_paren: nesting counts, quotes do not.
	depth, end := 0, -1
	for i := 0; i < len(url) && end < 0; i++ {
		switch url[i] {
		case '{':
			depth++
		case '}':
			if depth--; depth == 0 {
				end = i
			}
		}
	}
	if !strings.HasPrefix(url, "{") || end < 0 || url[end+1:] != dial {
		t.Fatalf("dial string %q is not {vars}%s", url, dial)
	}
	// The space split above already removed the quotes in FreeSWITCH, so
	// only a backslash protects a comma here: split quote-blind.
	var names []string
	for _, kv := range fsSplit(strings.ReplaceAll(url[1:end], "'", " "), ',') {
		k, _, _ := strings.Cut(kv, "=")
		names = append(names, strings.TrimSpace(k))
	}
	return names
}

// fsSplit is switch_separate_string: it splits at delim outside quotes (a
// quote opens only when another follows), a backslash protects the next
// byte; no unescaping is needed for the checks here.
func fsSplit(s string, delim byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '\'' && (quoted || strings.IndexByte(s[i+1:], '\'') >= 0):
			quoted = !quoted
		case c == delim && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
