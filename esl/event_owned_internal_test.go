package esl

import (
	"reflect"
	"testing"
)

// Ensure parseEventOwned, which the Conn's reader uses on the bodies it
// owns, reads events exactly as ParseEvent does, with an inner body, %XX
// escapes, blank lines before the block, and errors alike; and that the
// event does not change when the body it was parsed from is reused only
// through ParseEvent's copy.
func TestParseEventOwned_SameAsParseEvent(t *testing.T) {
	h := readConnect(t, "connect-refer.txt")
	full := Event{Headers: append(Headers{{Name: "Event-Name", Value: "CHANNEL_EXECUTE_COMPLETE"}}, h...)}
	withBody := Event{Headers: Headers{{Name: "Event-Name", Value: "BACKGROUND_JOB"}, {Name: "Job-UUID", Value: "a b%c"}},
		Body: []byte("+OK 5e7c0a00\n")}
	bodies := [][]byte{
		full.AppendPlain(nil),
		withBody.AppendPlain(nil),
		[]byte("\n\nEvent-Name: CHANNEL_ANSWER\r\nUnique-ID: x%20y\r\n\r\n"),
		[]byte("Event-Name: CHANNEL_ANSWER\n"),  // no blank line: unexpected EOF
		[]byte("Event-Name CHANNEL_ANSWER\n\n"), // no colon
		[]byte("Content-Length: 9\n\nshort\n"),  // body cut short
		{},
		nil,
	}
	for i, b := range bodies {
		want, werr := ParseEvent(b)
		got, gerr := parseEventOwned(append([]byte(nil), b...))
		if !reflect.DeepEqual(got, want) || (werr == nil) != (gerr == nil) || (werr != nil && werr.Error() != gerr.Error()) {
			t.Errorf("body %d: parseEventOwned = %v, %v; ParseEvent = %v, %v", i, got, gerr, want, werr)
		}
	}
}

// Ensure decodeValues decodes each value exactly as URLDecode does,
// escapes, malformed escapes and plain values mixed, and that the values
// it decoded into its shared buffer stay as they are while later ones are
// decoded behind them.
func TestDecodeValues_SameAsURLDecode(t *testing.T) {
	h := readConnect(t, "connect-refer.txt")
	raw := Headers{{"a", "plain"}, {"b", "x%20y%3Az"}, {"c", "%"}, {"d", "100%"}, {"e", "%zz%41"}, {"f", ""}, {"g", "%E2%82%AC"}}
	for _, f := range h {
		raw = append(raw, Header{f.Name, URLEncode(f.Value)})
	}
	got := append(Headers(nil), raw...)
	decodeValues(got)
	for i := range raw {
		if want := URLDecode(raw[i].Value); got[i].Value != want {
			t.Fatalf("%s: decodeValues %q, URLDecode %q", raw[i].Name, got[i].Value, want)
		}
	}
}
