package esl

import (
	"bytes"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
)

// Ensure the reader takes FreeSWITCH's frames as they come: LF or CR LF line
// ends, blank lines between frames, odd header names, bodies.
func TestReader_ReadFrame(t *testing.T) {
	in := "\n\nContent-Type: auth/request\n\n" +
		"Content-Type: command/reply\r\nReply-Text: +OK accepted\r\n\r\n" +
		"Content-Type: api/response\nContent-Length: 4\n\n+OK\n" +
		"variable_fish,(sticks)~_1: x\nContent-Type: command/reply\nReply-Text: %2BOK%0A\n\n"
	r := NewReader(strings.NewReader(in))
	want := []struct{ ct, body, reply string }{
		{ct: TypeAuthRequest},
		{ct: TypeReply, reply: "+OK accepted"},
		{ct: TypeAPIResponse, body: "+OK\n"},
		{ct: TypeReply, reply: "%2BOK%0A"},
	}
	for i, w := range want {
		f, err := r.ReadFrame()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if got := f.ContentType(); got != w.ct {
			t.Errorf("frame %d: Content-Type=%q, want %q", i, got, w.ct)
		}
		if got := string(f.Body); got != w.body {
			t.Errorf("frame %d: body=%q, want %q", i, got, w.body)
		}
		if got := f.Headers.Get("reply-text"); got != w.reply {
			t.Errorf("frame %d: Reply-Text=%q, want %q", i, got, w.reply)
		}
	}
	if _, err := r.ReadFrame(); !errors.Is(err, io.EOF) {
		t.Fatalf("after last frame: err=%v, want EOF", err)
	}
}

// Ensure hostile frames give an error and never a panic or a huge allocation.
func TestReader_Hostile(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"NegativeLength", "Content-Length: -5\n\n", ErrMalformedFrame},
		{"HugeLength", "Content-Length: 99999999999\n\n", ErrFrameTooLarge},
		{"NotANumber", "Content-Length: 12a\n\n", ErrMalformedFrame},
		{"NoColon", "garbage line\n\n", ErrMalformedFrame},
		{"ShortBody", "Content-Length: 10\n\nabc", io.ErrUnexpectedEOF},
		{"TruncatedHeaders", "Content-Type: command/reply\nReply", io.ErrUnexpectedEOF},
		{"HeaderFlood", strings.Repeat("A: b\n", 9000) + "\n", ErrFrameTooLarge},
		{"LongLine", "A: " + strings.Repeat("x", 2<<20) + "\n\n", ErrFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewReader(strings.NewReader(tc.in)).ReadFrame()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err=%v, want %v", err, tc.want)
			}
		})
	}
}

// Ensure URL coding matches switch_url_encode: the transcript's values
// round-trip, existing escapes are kept, '+' survives decoding.
func TestURLCode(t *testing.T) {
	for _, tc := range []struct{ plain, enc string }{
		{"sofia/internal/patient@127.0.0.1:5071", "sofia/internal/patient%40127.0.0.1%3A5071"},
		{"+OK\n", "%2BOK%0A"},
		{"<sip:1000@127.0.0.1>", "%3Csip%3A1000%40127.0.0.1%3E"},
		{"INVITE, ACK", "INVITE,%20ACK"},
		{"{a='x'}user/1000 &park()", "%7Ba%3D'x'%7Duser/1000%20%26park()"},
	} {
		if got := URLEncode(tc.plain); got != tc.enc {
			t.Errorf("URLEncode(%q)=%q, want %q", tc.plain, got, tc.enc)
		}
		if got := URLDecode(tc.enc); got != tc.plain {
			t.Errorf("URLDecode(%q)=%q, want %q", tc.enc, got, tc.plain)
		}
	}
	if got, want := URLEncode("50%2B"), "50%2B"; got != want {
		t.Errorf("existing escape: got %q, want %q", got, want)
	}
	if got, want := URLDecode("100% a+b %zz"), "100% a+b %zz"; got != want {
		t.Errorf("bad escapes: got %q, want %q", got, want)
	}
}

// Ensure an event serialized like FreeSWITCH parses back to the same headers and body.
func TestEvent_RoundTrip(t *testing.T) {
	ev := Event{Headers: Headers{
		{"Event-Name", "BACKGROUND_JOB"},
		{"Job-UUID", "5e7c0a00-0000-4000-8000-0000000000a2"},
		{"Job-Command-Arg", "{origination_caller_id_name='Parked 202: Patient'}user/1000 &park()"},
		{"Job-Owner-UUID", ""},
	}, Body: []byte("-ERR NO_ANSWER\n")}
	f := EventFrame(ev)
	wire := AppendFrame(nil, f)
	got, err := NewReader(bytes.NewReader(wire)).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseEvent(got.Body)
	if err != nil {
		t.Fatal(err)
	}
	if back.Name() != "BACKGROUND_JOB" || back.Get("Job-Command-Arg") != ev.Headers[2].Value {
		t.Fatalf("headers did not round-trip: %+v", back.Headers)
	}
	if got, want := back.Get("Job-Owner-UUID"), "_undef_"; got != want {
		t.Errorf("empty value=%q, want %q", got, want)
	}
	if got, want := string(back.Body), "-ERR NO_ANSWER\n"; got != want {
		t.Errorf("body=%q, want %q", got, want)
	}
	if back.Headers.Get("Content-Length") != "" {
		t.Errorf("inner Content-Length leaked into the event headers")
	}
}

// FuzzReadFrame: no input makes the reader panic, loop, or accept a negative length.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte("Content-Type: api/response\nContent-Length: 4\n\n+OK\n"))
	f.Add([]byte("Content-Length: -1\n\n"))
	f.Add([]byte("Event-Name: X\nContent-Length: 3\n\nabc"))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := NewReaderLimits(bytes.NewReader(data), Limits{MaxHeaderBytes: 4096, MaxHeaders: 64, MaxBody: 4096})
		for i := 0; i < 100; i++ {
			fr, err := r.ReadFrame()
			if err != nil {
				return
			}
			if len(fr.Body) > 4096 {
				t.Fatalf("body of %d bytes over the limit", len(fr.Body))
			}
			_, _ = ParseEvent(fr.Body)
		}
	})
}

// FuzzURLCode: decoding what was encoded gives the input back.
func FuzzURLCode(f *testing.F) {
	f.Add("sofia/internal/patient@127.0.0.1:5071")
	f.Add("%41%")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "%") {
			return // existing escapes are deliberately kept, so no round trip
		}
		if got := URLDecode(URLEncode(s)); got != s {
			t.Fatalf("round trip of %q gave %q", s, got)
		}
	})
}

// Ensure commands are read as FreeSWITCH's listener reads them: the first
// line is the command, the rest are headers, a body follows Content-Length.
func TestReader_ReadCommand(t *testing.T) {
	in := "api uuid_bridge a b\r\n\r\n" +
		"sendmsg u\ncall-command: execute\nexecute-app-name: answer\nevent-lock: true\n\n" +
		"sendmsg u\nContent-Type: text/plain\nContent-Length: 5\n\nhello"
	r := NewReader(strings.NewReader(in))
	c, err := r.ReadCommand()
	if err != nil || c.Line != "api uuid_bridge a b" || len(c.Headers) != 0 {
		t.Fatalf("first: %+v, %v", c, err)
	}
	c, err = r.ReadCommand()
	if err != nil || c.Line != "sendmsg u" || c.Headers.Get("Execute-App-Name") != "answer" {
		t.Fatalf("second: %+v, %v", c, err)
	}
	c, err = r.ReadCommand()
	if err != nil || string(c.Body) != "hello" {
		t.Fatalf("third: %+v, %v", c, err)
	}
}

// Ensure a command whose lines mix LF and CR LF is read as the real switch
// reads it (it cuts lines at CR when there is one): the lines up to the
// first one ending in CR LF are one command line, so a sendevent built that
// way carries no headers.
func TestReader_ReadCommandMixedEndings(t *testing.T) {
	for _, tc := range []struct {
		name, in, line string
		headers        int
	}{
		{name: "CRLF", in: "sendevent PRESENCE_IN\r\nproto: park\r\nfrom: a@b\r\n\r\n", line: "sendevent PRESENCE_IN", headers: 2},
		{name: "LF", in: "sendevent PRESENCE_IN\nproto: park\nfrom: a@b\n\n", line: "sendevent PRESENCE_IN", headers: 2},
		{name: "LFThenCRLFEnd", in: "sendevent PRESENCE_IN\nproto: park\nfrom: a@b\r\n\r\n",
			line: "sendevent PRESENCE_IN\nproto: park\nfrom: a@b"},
		{name: "LFThenCRLFBlank", in: "sendevent PRESENCE_IN\nproto: park\n\r\n", line: "sendevent PRESENCE_IN\nproto: park"},
		{name: "CRLFThenLF", in: "sendevent PRESENCE_IN\r\nproto: park\nfrom: a@b\n\n", line: "sendevent PRESENCE_IN", headers: 2},
		{name: "LeadingBlankLines", in: "\n\r\napi status\r\n\r\n", line: "api status"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewReader(strings.NewReader(tc.in)).ReadCommand()
			if err != nil || c.Line != tc.line || len(c.Headers) != tc.headers {
				t.Fatalf("read %q: line %q, %d headers, %v; want %q, %d", tc.in, c.Line, len(c.Headers), err, tc.line, tc.headers)
			}
		})
	}
}

// FuzzAppendEventFrame holds the one-buffer event frame to the two-step
// one it replaced: same bytes, and a frame ReadFrame and ParseEvent read
// back to the same headers.
func FuzzAppendEventFrame(f *testing.F) {
	f.Add("CHANNEL_ANSWER", "variable_x", "a b:c%41%", "")
	f.Add("BACKGROUND_JOB", "Job-UUID", "", "+OK 1234\n")
	f.Add("X", "Y", strings.Repeat("é;", 3000), "body")
	f.Fuzz(func(t *testing.T, name, hname, hval, body string) {
		if hname == "" || strings.ContainsAny(hname+name, ":\r\n") {
			return // header names come from code, not from callers
		}
		ev := Event{Headers: Headers{{Name: "Event-Name", Value: name}, {Name: hname, Value: hval}}, Body: []byte(body)}
		want := AppendFrame(nil, EventFrame(ev))
		if got := AppendEventFrame(nil, ev); !bytes.Equal(got, want) {
			t.Fatalf("AppendEventFrame:\n%q\nwant\n%q", got, want)
		}
		if got := AppendEventFrame([]byte("x"), ev); !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Fatalf("AppendEventFrame after a prefix: %q", got)
		}
	})
}

// Ensure Lookup prefers the exact spelling, falls back to the first
// case-insensitive match (FreeSWITCH compares names with strcasecmp), and
// reports a missing header.
func TestHeaders_Lookup(t *testing.T) {
	h := Headers{{"unique-id", "folded"}, {"Event-Name", "X"}, {"Unique-ID", "exact"}, {"UNIQUE-ID", "later"}}
	for _, tc := range []struct {
		name, want string
		ok         bool
	}{
		{"Unique-ID", "exact", true},
		{"UNIQUE-id", "folded", true},
		{"event-name", "X", true},
		{"Unique-IDs", "", false},
		{"", "", false},
	} {
		if got, ok := h.Lookup(tc.name); got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// Ensure MaxAPIBody lets an api/response body grow past MaxBody and nothing
// else: events, command replies and notices keep MaxBody, an api/response
// stops at MaxAPIBody, and a MaxAPIBody below MaxBody changes nothing.
func TestReader_APIBodyLimit(t *testing.T) {
	l := Limits{MaxHeaderBytes: 4096, MaxHeaders: 64, MaxBody: 16, MaxAPIBody: 64}
	frame := func(ct string, n int) string {
		return "Content-Type: " + ct + "\nContent-Length: " + strconv.Itoa(n) + "\n\n" + strings.Repeat("x", n)
	}
	for _, tc := range []struct {
		name   string
		limits Limits
		in     string
		want   error // nil: read whole
	}{
		{"APIResponseOverMaxBody", l, frame(TypeAPIResponse, 40), nil},
		{"APIResponseAtMaxAPIBody", l, frame(TypeAPIResponse, 64), nil},
		{"APIResponseOverMaxAPIBody", l, frame(TypeAPIResponse, 65), ErrFrameTooLarge},
		{"APIResponseHeaderCase", l, "content-type: api/response\nContent-Length: 40\n\n" + strings.Repeat("x", 40), nil},
		{"EventOverMaxBody", l, frame(TypeEventPlain, 17), ErrFrameTooLarge},
		{"EventAtMaxBody", l, frame(TypeEventPlain, 16), nil},
		{"ReplyOverMaxBody", l, frame(TypeReply, 17), ErrFrameTooLarge},
		{"NoticeOverMaxBody", l, frame(TypeDisconnect, 17), ErrFrameTooLarge},
		{"NoContentType", l, "Content-Length: 17\n\n" + strings.Repeat("x", 17), ErrFrameTooLarge},
		{"APIResponseWithoutMaxAPIBody", Limits{MaxHeaderBytes: 4096, MaxHeaders: 64, MaxBody: 16}, frame(TypeAPIResponse, 17), ErrFrameTooLarge},
		{"MaxAPIBodyBelowMaxBody", Limits{MaxHeaderBytes: 4096, MaxHeaders: 64, MaxBody: 16, MaxAPIBody: 8}, frame(TypeAPIResponse, 16), nil},
		{"APIResponseShortBody", l, "Content-Type: api/response\nContent-Length: 64\n\nabc", io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewReaderLimits(strings.NewReader(tc.in), tc.limits).ReadFrame()
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("err=%v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("err=%v, want the frame", err)
			}
			n, _ := strconv.Atoi(f.Headers.Get("Content-Length"))
			if len(f.Body) != n || strings.Trim(string(f.Body), "x") != "" {
				t.Fatalf("body of %d bytes %q, want %d x", len(f.Body), clip(string(f.Body)), n)
			}
		})
	}
}

// Ensure the inbound limits are the defaults with a larger api/response
// body only, so that a switch's events and replies are held to what they
// always were.
func TestInboundLimits(t *testing.T) {
	want := DefaultLimits
	want.MaxAPIBody = InboundLimits.MaxAPIBody
	if InboundLimits != want || InboundLimits.MaxAPIBody <= 256<<20 {
		t.Fatalf("InboundLimits=%+v, want DefaultLimits %+v with MaxAPIBody above 256 MiB", InboundLimits, DefaultLimits)
	}
}

// Ensure a long body is read whole and in order whatever is allocated
// before it arrives, and that one cut short is an error, not a short body.
func TestReadBody_Grows(t *testing.T) {
	body := make([]byte, 1000)
	for i := range body {
		body[i] = byte(i * 7)
	}
	for _, first := range []int{0, 1, 7, 999, 1000, 5000} {
		got, err := readBody(&pieces{b: body, n: 3}, len(body), first)
		if err != nil || !bytes.Equal(got, body) {
			t.Fatalf("first=%d: %d bytes, err %v; want the %d bytes sent", first, len(got), err, len(body))
		}
		if _, err := readBody(&pieces{b: body[:500], n: 3}, len(body), first); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
			t.Fatalf("first=%d: short body: err %v, want EOF", first, err)
		}
	}
}

// pieces reads b n bytes at a time.
type pieces struct {
	b []byte
	n int
}

func (p *pieces) Read(b []byte) (int, error) {
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	k := copy(b[:min(len(b), p.n)], p.b)
	p.b = p.b[k:]
	return k, nil
}
