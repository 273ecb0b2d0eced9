package interop

import (
	"strings"
	"testing"
	"time"
)

// phoneKeys is the keypad of a caller running uac_dtmf_2833.xml or
// uac_dtmf_info.xml: an in-dialog INFO from the switch (uuid_send_info)
// carrying keys=<digits> makes the phone press them, so the digits cross
// the wire as RFC 2833 events or SIP INFO, whichever its scenario sends.
// It waits for the switch to read the first of them.
func (s *state) phoneKeys(t *testing.T, call, digits string) {
	t.Helper()
	m := s.fs.mark()
	asked := time.Now()
	if r := s.fs.api("uuid_send_info " + call + " text plain keys=" + digits); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("uuid_send_info (asking the caller's phone to press keys): %q", r)
	}
	ev, ok := s.fs.waitOK(m, 10*time.Second, is("DTMF", call))
	if !ok {
		t.Fatalf("FreeSWITCH read no DTMF within 10s after asking the phone for %d digits "+
			"(RFC 2833 from sipp needs root or CAP_NET_RAW; see the sipp screen.log); events: %s",
			len(digits), s.fs.summary(m, call))
	}
	t.Logf("phone asked for %d keys: first DTMF read %v later (DTMF-Source %s)",
		len(digits), ev.At.Sub(asked).Round(time.Millisecond), ev.Get("DTMF-Source"))
}

// dtmfType checks how FreeSWITCH negotiated DTMF with the outside caller:
// dtmf_type as the channel has it when parkd asks for the first digits.
// (Set from the caller's SDP offer in switch_core_media.c; with the vanilla
// inbound-late-negotiation the offer is read only when the call is
// answered, and the variable holds the profile's default before.)
func (s *state) dtmfType(t *testing.T, from int, call, want string) {
	t.Helper()
	ev, ok := s.fs.waitOK(from, 10*time.Second, is("CHANNEL_EXECUTE", call, "Application", "play_and_get_digits"))
	if !ok {
		t.Fatalf("no play_and_get_digits on the outside call; its events: %s", s.fs.summary(from, call))
	}
	if want == "info" && s.fs.getvar(call, "rtp_liberal_dtmf") == "true" {
		// Liberal DTMF (the vanilla vars.xml sets rtp_liberal_dtmf=true
		// globally) adds telephone-event 101 to a call that offered none
		// and calls it rfc2833, while still taking SIP INFO DTMF
		// (switch_core_media.c, sofia.c).
		t.Logf("rtp_liberal_dtmf=true: FreeSWITCH reports dtmf_type rfc2833 for a caller that offered no telephone-event")
		want = "rfc2833"
	}
	if got := ev.Get("variable_dtmf_type"); got != want {
		t.Errorf("dtmf_type of the outside call = %q, want %q", got, want)
	}
	if want == "rfc2833" {
		t.Logf("dtmf_type rfc2833, telephone-event payload type received: %s", ev.Get("variable_rtp_2833_recv_payload"))
	}
}

// (n3) RFC 2833 on the wire: a caller whose phone sends telephone-events is
// refused after three wrong PINs, then a caller with the right PIN gets the
// parked call.
func TestN3_OutsideRFC2833(t *testing.T) {
	s := need(t)
	p, slot := s.parkForOutside(t, "4821")

	m, g := s.dialOutside(t, "guesser", "uac_dtmf_2833.xml", "4822", patient2SIP, patient2RTP)
	s.dtmfType(t, m, g, "rfc2833")
	s.refusedFromOutside(t, m, p, g, slot, s.phoneKeys)
	s.sawDTMF(t, m, g, strings.Repeat(slot+"#"+wrongPIN+"#", 3), "RTP")

	m, o := s.dialOutside(t, "outside", "uac_dtmf_2833.xml", "4823", retrieverSIP, retrieverRTP)
	s.dtmfType(t, m, o, "rfc2833")
	s.pickUpFromOutside(t, m, p, o, "4823", slot, s.phoneKeys)
	s.sawDTMF(t, m, o, slot+"#"+outsidePIN+"#", "RTP")
}

// (n4) SIP INFO on the wire (application/dtmf-relay): the same two callers,
// from phones that offer no telephone-event.
func TestN4_OutsideSIPINFO(t *testing.T) {
	s := need(t)
	p, slot := s.parkForOutside(t, "4831")

	m, g := s.dialOutside(t, "guesser", "uac_dtmf_info.xml", "4832", patient2SIP, patient2RTP)
	s.dtmfType(t, m, g, "info")
	s.refusedFromOutside(t, m, p, g, slot, s.phoneKeys)
	s.sawDTMF(t, m, g, strings.Repeat(slot+"#"+wrongPIN+"#", 3), "ENDPOINT")

	m, o := s.dialOutside(t, "outside", "uac_dtmf_info.xml", "4833", retrieverSIP, retrieverRTP)
	s.dtmfType(t, m, o, "info")
	s.pickUpFromOutside(t, m, p, o, "4833", slot, s.phoneKeys)
	s.sawDTMF(t, m, o, slot+"#"+outsidePIN+"#", "ENDPOINT")
}
