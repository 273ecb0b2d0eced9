package esl

import (
	"strings"
	"testing"
)

// Ensure the Call-ID of an attended transfer's Replaces is read from the
// Refer-To FreeSWITCH leaves on the transferred channel, escaped or not, and
// that anything else gives "".
func TestReplacesCallID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		// FACTS.md E10, after the event's own URL-decoding.
		{`<sip:*70@127.0.0.1?Replaces=a84b4c76e66710%40pc33.example.com%3Bto-tag%3D1234%3Bfrom-tag%3D5678>`, "a84b4c76e66710@pc33.example.com"},
		{`<sip:*70@127.0.0.1?Replaces=a84b4c76e66710@pc33.example.com;to-tag=1234;from-tag=5678>`, "a84b4c76e66710@pc33.example.com"},
		{`sip:*70@pbx?replaces=1-2253%40127.0.0.1%3Bto-tag%3Dx`, "1-2253@127.0.0.1"},
		{`<sip:*70@pbx?Require=replaces&Replaces=abc%3Bto-tag%3D1>`, "abc"},
		{`<sip:*70202@127.0.0.1>`, ""},
		{``, ""},
		{`<sip:*70@h?Replaces=>`, ""},
		{`<sip:*70@h?Replaces=%ZZ>`, ""},
		{`<sip:*70@h?Replaces=a%0Db%3Bto-tag%3D1>`, ""},
		{`<sip:*70@h?Replaces=a%20b>`, ""},
		{`<sip:*70@h?Replaces=a@b@c>`, ""},
		{`<sip:*70@h?Replaces=@b>`, ""},
		{`<sip:*70@h?Replaces=` + strings.Repeat("a", MaxCallIDLen+1) + `>`, ""},
		{`<sip:*70@h?Replaces=` + strings.Repeat("a", MaxCallIDLen) + `>`, strings.Repeat("a", MaxCallIDLen)},
	} {
		if got := ReplacesCallID(tc.in); got != tc.want {
			t.Errorf("ReplacesCallID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// Ensure a transferred channel's request carries its own dialog and the
// dialog it replaces, and a direct dial parks itself with its own number as
// parker.
func TestParseRequest_TransferFacts(t *testing.T) {
	base := func(extra ...Header) Headers {
		// Headers.Get takes the first: extra goes first to override.
		return append(extra, Headers{
			{"Unique-ID", "0c9f5a1e-8a7b-4c1d-9e2f-3a4b5c6d7e8f"},
			{"variable_parkd_action", "park"},
			{"Caller-Caller-ID-Number", "1001"},
			{"variable_sip_call_id", "own-1@10.0.0.5"},
		}...)
	}
	req, err := ParseRequest(base(
		Header{"variable_sip_h_Referred-By", "<sip:1000@pbx.example>"},
		Header{"variable_sip_refer_to", "<sip:*70@pbx.example?Replaces=b-2%40pbx%3Bto-tag%3D1%3Bfrom-tag%3D2>"}))
	if err != nil || !req.Transferred || req.Dialog != "own-1@10.0.0.5" || req.Replaces != "b-2@pbx" || req.Parker != "1000" {
		t.Fatalf("attended: req=%+v err=%v", req, err)
	}
	req, err = ParseRequest(base())
	if err != nil || req.Transferred || req.Parker != "1001" || req.Replaces != "" {
		t.Fatalf("direct: req=%+v err=%v", req, err)
	}
	req, err = ParseRequest(base(Header{"variable_transfer_history", "1795314537:596a:bl_xfer:*70202/default/XML"}))
	if err != nil || !req.Transferred {
		t.Fatalf("history: req=%+v err=%v", req, err)
	}
	req, err = ParseRequest(base(Header{"variable_transfer_history", "1795314537:596a:uuid_br:0c9f"}))
	if err != nil || req.Transferred {
		t.Fatalf("a bridge is no transfer: req=%+v err=%v", req, err)
	}
	req, err = ParseRequest(base(Header{"variable_sip_call_id", "bad\r\nid"}))
	if err != nil || req.Dialog != "" {
		t.Fatalf("garbage Call-ID kept: req=%+v err=%v", req, err)
	}
}

// FuzzReplacesCallID: whatever a Refer-To holds, the Call-ID returned is
// empty or valid: bounded, no control characters, no spaces.
func FuzzReplacesCallID(f *testing.F) {
	f.Add(`<sip:*70@127.0.0.1?Replaces=a84b4c76e66710%40pc33.example.com%3Bto-tag%3D1234%3Bfrom-tag%3D5678>`)
	f.Add(`<sip:*70@h?Replaces=a@b;to-tag=1>`)
	f.Add(`<sip:*70@h?Replaces=%00>`)
	f.Fuzz(func(t *testing.T, referTo string) {
		id := ReplacesCallID(referTo)
		if id == "" {
			return
		}
		if !ValidCallID(id) || len(id) > MaxCallIDLen || strings.ContainsAny(id, " \t\r\n\x00;") {
			t.Fatalf("unsafe Call-ID %q from %q", id, referTo)
		}
	})
}
