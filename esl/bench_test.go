package esl

import (
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
)

// Benchmarks of the hot paths of a call's socket: reading FreeSWITCH's
// frames, parsing the channel data and building the commands parkd sends.

// BenchmarkParseRequest parses a real connect reply (a blind-transferred
// call) into a park request, as Server.handle does after decoding it.
func BenchmarkParseRequest(b *testing.B) {
	h := readConnect(b, "connect-refer.txt",
		Header{Name: "variable_parkd_action", Value: "park"}, Header{Name: "variable_parkd_lot", Value: "main"})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseRequest(h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkReadConnect reads and URL-decodes the same connect reply from
// the wire form, as a call's socket does.
func BenchmarkReadConnect(b *testing.B) {
	data, err := os.ReadFile("testdata/connect-refer.txt")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := NewReader(bytes.NewReader(data)).ReadFrame()
		if err != nil {
			b.Fatal(err)
		}
		decodeValues(f.Headers)
	}
}

// BenchmarkParseEvent parses a channel event with all its variables, the
// kind a call's socket receives a dozen of per park.
func BenchmarkParseEvent(b *testing.B) {
	h := readConnect(b, "connect-refer.txt")
	ev := Event{Headers: append(Headers{{Name: "Event-Name", Value: "CHANNEL_EXECUTE_COMPLETE"}}, h...)}
	body := ev.AppendPlain(nil)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseEvent(body); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBuilders builds what a park and a retrieve send: the park
// variables, the music transfer and the bridge.
func BenchmarkBuilders(b *testing.B) {
	const a, c = "5e7c0a00-0000-4000-8000-0000000000a1", "5e7c0a00-0000-4000-8000-0000000000b2"
	at := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC).Format("2006-01-02T15:04:05.000Z")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := setVars(a, [][2]string{{"parkd_lot", "main"}, {"parkd_slot", "202"}, {"parkd_parked_at", at}, {"hangup_after_bridge", "true"}, {"parkd_parker", "1000"}}); err != nil {
			b.Fatal(err)
		}
		if _, err := transferInline(a, "local_stream://moh"); err != nil {
			b.Fatal(err)
		}
		if _, err := bridge(a, c); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRecallOriginate builds a recall's originate command.
func BenchmarkRecallOriginate(b *testing.B) {
	o := parking.Origination{
		Leg: "5e7c0a00-0000-4000-8000-0000000000a1", Parked: "5e7c0a00-0000-4000-8000-0000000000b2", Lot: "main", Slot: 202,
		Dial: "user/1000@example.com", AlertInfo: "<http://127.0.0.1>;info=alert-autoanswer",
		CallerIDName: "Park 202 - Jane Roe, Ward 3", CallerIDNumber: "+1 (555) 0100", RingFor: 15 * time.Second,
	}
	b.ReportAllocs()
	for b.Loop() {
		cmd, err := recallOriginate(o, "5e7c0a00-0000-4000-8000-0000000000c3", "pbx1")
		if err != nil {
			b.Fatal(err)
		}
		_ = cmd.BuildMessage()
	}
}
