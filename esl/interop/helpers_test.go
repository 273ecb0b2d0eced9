package interop

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// Ports of the SIP endpoints (sipp -p / -mp). They avoid the FreeSWITCH
// park lab's 5070-5094 and 6000-6030.
const (
	patientSIP, patientRTP     = 5171, 6100
	retrieverSIP, retrieverRTP = 5173, 6110
	receptionSIP, receptionRTP = 5190, 6120 // registered as Users[0]
	receptionReg               = 5191
	phoneSIP, phoneRTP         = 5192, 6130 // registered as Users[1]
	phoneReg                   = 5193
	patient2SIP, patient2RTP   = 5175, 6140
)

// Ports of the Go user agents (ua_test.go); their RTP ports are in the
// capture's range too.
const (
	uaCallerSIP, uaCallerRTP       = 5194, 6150
	uaReceptionSIP, uaReceptionRTP = 5195, 6160 // Users[0]; its consult call uses uaConsultRTP
	uaConsultRTP                   = 6162
	uaRetrieverSIP, uaRetrieverRTP = 5196, 6170 // Users[1]
	uaLampsSIP                     = 5197       // Users[2], subscribes to keys
	uaParkerSIP, uaParkerRTP       = 5198, 6180 // Users[1], answers recalls
)

// fresh starts a test: the channels it creates are killed when it ends.
func (s *state) fresh(t *testing.T) int {
	t.Helper()
	select {
	case <-s.parkd.done:
		t.Fatalf("parkd (%s) is not running; see %s", s.parkd.name, s.parkd.log)
	default:
	}
	before := map[any]bool{}
	for _, r := range s.fs.channelRows() {
		before[r["uuid"]] = true
	}
	s.fs.note("=== %s", t.Name())
	m := s.fs.mark()
	t.Cleanup(func() {
		// `show channels` lags behind new channels (on a freshly started
		// switch a parked caller was missing from it, and its music then
		// went to the next test's RTP port), so the channels created
		// during the test, as the observer saw them, are killed too.
		kill := map[string]bool{}
		for _, r := range s.fs.channelRows() {
			if u, _ := r["uuid"].(string); u != "" && !before[u] {
				kill[u] = true
			}
		}
		for _, e := range s.fs.since(m, func(e obsEvent) bool { return e.Name() == "CHANNEL_CREATE" }) {
			if u := e.UniqueID(); !before[u] && s.fs.exists(u) {
				kill[u] = true
			}
		}
		for u := range kill {
			s.fs.api("uuid_kill " + u)
		}
		time.Sleep(500 * time.Millisecond)
		s.fs.note("=== end of %s", t.Name())
	})
	return m
}

// inboundCall waits for the inbound channel of a caller with caller-ID
// number and returns its UUID.
func (s *state) inboundCall(t *testing.T, from int, number string) string {
	t.Helper()
	ev := s.fs.wait(t, from, 10*time.Second, "inbound channel from "+number, func(e obsEvent) bool {
		return e.Name() == "CHANNEL_CREATE" && e.Get("Call-Direction") == "inbound" &&
			e.Get("Caller-Caller-ID-Number") == number
	})
	return ev.UniqueID()
}

// history returns parkd's history rows of call (all rows for "").
func (s *state) history(t *testing.T, call string) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := s.parkdJSON(ctx, "history")
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, r := range rows {
		if call == "" || r["call"] == call {
			out = append(out, r)
		}
	}
	return out
}

// waitHistory waits for parkd's history to hold event for call.
func (s *state) waitHistory(t *testing.T, call, event string, timeout time.Duration) map[string]any {
	t.Helper()
	return s.waitHistoryN(t, call, event, 1, timeout)
}

// waitHistoryN waits for the n-th row of event for call.
func (s *state) waitHistoryN(t *testing.T, call, event string, n int, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var seen []map[string]any
		for _, r := range s.history(t, call) {
			if r["event"] == event {
				seen = append(seen, r)
			}
		}
		if len(seen) >= n {
			return seen[n-1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("parkd history: no %s #%d for %s within %v; rows: %s", event, n, call, timeout, rowsText(s.history(t, call)))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// slots returns parkd's occupancy (`parkd slots --json`).
func (s *state) slots(t *testing.T) []map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rows, err := s.parkdJSON(ctx, "slots")
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

func slotOf(rows []map[string]any, call string) (map[string]any, bool) {
	for _, r := range rows {
		if r["call"] == call {
			return r, true
		}
	}
	return nil, false
}

func rowsText(rows []map[string]any) string {
	var b strings.Builder
	for _, r := range rows {
		fmt.Fprintf(&b, "\n  %v %v/%v parker=%v retriever=%v reason=%q", r["event"], r["lot"], r["slot"], r["parker"], r["retriever"], r["reason"])
	}
	return b.String()
}

// want compares a history field.
func want(t *testing.T, row map[string]any, field string, v any) {
	t.Helper()
	got := row[field]
	if f, ok := got.(float64); ok {
		got = int(f)
	}
	if fmt.Sprint(got) != fmt.Sprint(v) {
		t.Errorf("history %v: %s = %v, want %v", row["event"], field, got, v)
	}
}

// hears checks that port received a tone near hz between from and to.
func (s *state) hears(t *testing.T, who string, port int, hz float64, from, to time.Time) {
	t.Helper()
	a := s.cap.heard(port, from, to)
	if a.Packets < 20 || a.RMS < 0.05 || math.Abs(a.Hz-hz) > hz*0.1 {
		t.Errorf("%s (RTP port %d) should hear %.0f Hz: got %v", who, port, hz, a)
	} else {
		t.Logf("%s hears %v", who, a)
	}
}

// hearsAudio checks that port received audible RTP between from and to.
func (s *state) hearsAudio(t *testing.T, who string, port int, from, to time.Time) audio {
	t.Helper()
	a := s.cap.heard(port, from, to)
	if a.Packets < 20 || a.RMS < 0.01 {
		t.Errorf("%s (RTP port %d) should hear music: got %v", who, port, a)
	} else {
		t.Logf("%s hears %v", who, a)
	}
	return a
}

// parkedWithMusic waits until FreeSWITCH plays the lot's music on uuid
// through parkd's inline endless_playback.
func (s *state) parkedWithMusic(t *testing.T, from int, uuid string) obsEvent {
	t.Helper()
	ev, ok := s.fs.waitOK(from, 15*time.Second, is("CHANNEL_EXECUTE", uuid, "Application", "endless_playback"))
	if !ok {
		t.Fatalf("FreeSWITCH never played music on %s; its events: %s", uuid, s.fs.summary(from, uuid))
	}
	if d := ev.Get("Application-Data"); d != "local_stream://moh" {
		t.Errorf("endless_playback %q, want local_stream://moh", d)
	}
	return ev
}

// bridgeOf waits for FreeSWITCH's CHANNEL_BRIDGE between a and b (either order).
func (s *state) bridgeOf(t *testing.T, from int, a, b string, timeout time.Duration) obsEvent {
	t.Helper()
	ev, ok := s.fs.waitOK(from, timeout, func(e obsEvent) bool {
		if e.Name() != "CHANNEL_BRIDGE" {
			return false
		}
		x, y := e.Get("Bridge-A-Unique-ID"), e.Get("Bridge-B-Unique-ID")
		return (x == a && (b == "" || y == b)) || (y == a && (b == "" || x == b))
	})
	if !ok {
		t.Fatalf("FreeSWITCH: no CHANNEL_BRIDGE of %s and %s within %v; events of %s: %s", a, b, timeout, a, s.fs.summary(from, a))
	}
	return ev
}

// gone waits for uuid's CHANNEL_HANGUP_COMPLETE.
func (s *state) gone(t *testing.T, from int, uuid string, timeout time.Duration) obsEvent {
	t.Helper()
	ev, ok := s.fs.waitOK(from, timeout, is("CHANNEL_HANGUP_COMPLETE", uuid))
	if !ok {
		t.Fatalf("FreeSWITCH: %s did not hang up within %v; events: %s", uuid, timeout, s.fs.summary(from, uuid))
	}
	return ev
}

// showsParked checks `show channels as json` for the parked call. The
// channels table is written by FreeSWITCH's SQL queue, so it may lag the
// events; it is polled for a few seconds.
func (s *state) showsParked(t *testing.T, uuid, slot string) {
	t.Helper()
	start := time.Now()
	var r map[string]any
	for time.Since(start) < 6*time.Second {
		r = s.fs.channelRow(uuid)
		if r != nil && r["application"] == "endless_playback" {
			t.Logf("show channels shows the parked call in endless_playback after %v: dest=%v state=%v callstate=%v application_data=%v",
				time.Since(start).Round(10*time.Millisecond), r["dest"], r["state"], r["callstate"], r["application_data"])
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("show channels: parked call row after %v: application=%v application_data=%v dest=%v state=%v callstate=%v; want application endless_playback",
		time.Since(start).Round(10*time.Millisecond), r["application"], r["application_data"], r["dest"], r["state"], r["callstate"])
}
