package fstest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// Differences from a real FreeSWITCH found by the interop suite
// (esl/interop); transcripts in testdata/interop-*.txt.

// A refused recall (486) reports the leg's CHANNEL_HANGUP_COMPLETE before
// the BACKGROUND_JOB; an unanswered one the BACKGROUND_JOB first. Both legs
// carry sip_hangup_disposition.
func TestInteropOriginateFailureOrder(t *testing.T) {
	s := Start(t, Options{})
	s.Register("1001", Endpoint{Busy: true})
	s.Register("1002", Endpoint{NoAnswer: true})
	c := dialInbound(t, s)
	c.cmd("event plain BACKGROUND_JOB CHANNEL_HANGUP_COMPLETE")

	for _, tc := range []struct {
		user, body, disp, term, failure string
		want                            []string
	}{
		{"1001", "-ERR USER_BUSY\n", "recv_refuse", "486", "486", []string{"CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB"}},
		{"1002", "-ERR NO_ANSWER\n", "send_cancel", "", "487", []string{"BACKGROUND_JOB", "CHANNEL_HANGUP_COMPLETE"}},
	} {
		c.send("bgapi originate {originate_timeout=0.1}user/"+tc.user+" &park()", "Job-UUID: j-"+tc.user)
		if f := c.next(); f.Headers.Get("Reply-Text") != "+OK Job-UUID: j-"+tc.user {
			t.Fatalf("reply %v", f.Headers)
		}
		var got []string
		for len(got) < 2 {
			ev := c.event(c.read())
			got = append(got, ev.Name())
			switch ev.Name() {
			case "BACKGROUND_JOB":
				if string(ev.Body) != tc.body {
					t.Errorf("%s: job body %q, want %q", tc.user, ev.Body, tc.body)
				}
			case "CHANNEL_HANGUP_COMPLETE":
				if d := ev.Get("variable_sip_hangup_disposition"); d != tc.disp {
					t.Errorf("%s: sip_hangup_disposition %q, want %q", tc.user, d, tc.disp)
				}
				if v := ev.Get("variable_sip_term_status"); v != tc.term {
					t.Errorf("%s: sip_term_status %q, want %q", tc.user, v, tc.term)
				}
				if v := ev.Get("variable_sip_invite_failure_status"); v != tc.failure {
					t.Errorf("%s: sip_invite_failure_status %q, want %q", tc.user, v, tc.failure)
				}
			}
		}
		if got[0] != tc.want[0] || got[1] != tc.want[1] {
			t.Errorf("%s: order %v, want %v", tc.user, got, tc.want)
		}
	}
}

// After `uuid_transfer <uuid> endless_playback:<music> inline`, show
// channels' dest is the inline string; initial_dest keeps the number dialled.
func TestInteropShowChannelsAfterInlineTransfer(t *testing.T) {
	s := Start(t, Options{})
	p := newParkd(t)
	ch, c, _ := p.call(s, CallSpec{CallerNumber: "4101", Destination: "*70202", Answered: true})
	if got := c.api("uuid_transfer " + ch.UUID() + " endless_playback:local_stream://moh inline"); got != "+OK\n" {
		t.Fatalf("uuid_transfer: %q", got)
	}
	waitFor(t, ch, "music", func(st ChannelState) bool { return st.Application == "endless_playback" })
	time.Sleep(10 * time.Millisecond)
	var v struct {
		Rows []map[string]string `json:"rows"`
	}
	if err := json.Unmarshal([]byte(c.api("show channels as json")), &v); err != nil || len(v.Rows) != 1 {
		t.Fatalf("show channels: %v %v", err, v)
	}
	r := v.Rows[0]
	if r["dest"] != "endless_playback:local_stream://moh" || r["initial_dest"] != "*70202" ||
		r["application"] != "endless_playback" || r["application_data"] != "local_stream://moh" {
		t.Errorf("row dest=%q initial_dest=%q application=%q application_data=%q", r["dest"], r["initial_dest"], r["application"], r["application_data"])
	}
}

// Ensure "show calls as json" has the real FreeSWITCH's columns, and a
// bridged pair is one row with the second leg in b_uuid (seen on the
// interop FreeSWITCH: rows for 11111111-… with b_uuid 22222222-…).
func TestShowCalls_Bridged(t *testing.T) {
	s := Start(t, Options{PlaybackTime: 5 * time.Millisecond})
	c := dialInbound(t, s)
	a, b := "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	for i, leg := range []string{a, b} {
		user := []string{"1001", "1002"}[i]
		s.Register(user, Endpoint{})
		if got := c.api("originate {origination_uuid=" + leg + "}user/" + user + " &park()"); got != "+OK "+leg+"\n" {
			t.Fatalf("originate: %q", got)
		}
	}
	if got := c.api("uuid_bridge " + a + " " + b); !strings.HasPrefix(got, "+OK") {
		t.Fatalf("uuid_bridge: %q", got)
	}
	var v struct {
		Rows []map[string]string `json:"rows"`
	}
	if err := json.Unmarshal([]byte(c.api("show calls as json")), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Rows) != 1 || v.Rows[0]["uuid"] != a || v.Rows[0]["b_uuid"] != b {
		t.Fatalf("rows=%v, want one row %s with b_uuid %s", v.Rows, a, b)
	}
	if _, ok := v.Rows[0]["application"]; ok {
		t.Fatal("show calls has no application column in the real FreeSWITCH")
	}
	if len(v.Rows[0]) != len(callFields) {
		t.Fatalf("%d columns, want %d", len(v.Rows[0]), len(callFields))
	}
}
