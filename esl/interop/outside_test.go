package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/internal/passhash"
)

// The interop lot's outside pick-up: an extension of the default context
// (where the lab's loopback calls land), so a sipp caller can dial it.
const (
	outsideNumber = "4700"
	outsidePIN    = "4711"
)

var outsidePINHash = func() string {
	h, err := passhash.Hash(outsidePIN)
	if err != nil {
		panic(err)
	}
	return h
}()

// typeDigits waits for the next play_and_get_digits on call after from and
// types digits into it. uuid_recv_dtmf queues DTMF on the channel as if
// received from the caller (the way RFC 2833 or SIP INFO DTMF arrives),
// without a sipp scenario that sends DTMF.
func (s *state) typeDigits(t *testing.T, from int, call, digits string) int {
	t.Helper()
	if _, ok := s.fs.waitOK(from, 10*time.Second, is("CHANNEL_EXECUTE", call, "Application", "play_and_get_digits")); !ok {
		t.Fatalf("no play_and_get_digits on the outside call; its events: %s", s.fs.summary(from, call))
	}
	m := s.fs.mark()
	if r := s.fs.api("uuid_recv_dtmf " + call + " " + digits); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("uuid_recv_dtmf: %q", r)
	}
	return m
}

// (n1) A parked call picked up from outside: slot and PIN typed, bridged,
// recorded as retrieved by outside:<number>, no digits left on the channel.
func TestN1_OutsidePickUp(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	s.sipp(t, "patient", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*70",
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": "4801", "from_name": "Patient N"}})
	p := s.inboundCall(t, m, "4801")
	s.parkedWithMusic(t, m, p)
	slot := fmt.Sprint(s.waitHistory(t, p, "parked", 5*time.Second)["slot"])

	m = s.fresh(t)
	s.sipp(t, "outside", sippOpts{scenario: "uac_caller.xml", uac: true, service: outsideNumber,
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": "4802", "from_name": "Outside"}})
	o := s.inboundCall(t, m, "4802")
	m2 := s.typeDigits(t, m, o, slot+"#")
	s.typeDigits(t, m2, o, outsidePIN+"#")
	s.bridgeOf(t, m, p, o, 10*time.Second)
	row := s.waitHistory(t, p, "retrieved", 5*time.Second)
	want(t, row, "retriever", "outside:4802")
	for _, v := range []string{"parkd_digits", "parkd_digits_invalid", "digits_dialed"} {
		if r := strings.TrimSpace(s.fs.api("uuid_getvar " + o + " " + v)); r != "_undef_" {
			t.Errorf("%s on the outside call = %q, want unset", v, r)
		}
	}
}

// (n2) Three wrong PINs end the outside call; the parked call stays.
func TestN2_OutsideWrongPIN(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	s.sipp(t, "patient", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*70",
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": "4811", "from_name": "Patient N"}})
	p := s.inboundCall(t, m, "4811")
	s.parkedWithMusic(t, m, p)
	slot := fmt.Sprint(s.waitHistory(t, p, "parked", 5*time.Second)["slot"])

	m = s.fresh(t)
	s.sipp(t, "outside", sippOpts{scenario: "uac_caller.xml", uac: true, service: outsideNumber,
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": "4812", "from_name": "Guesser"}})
	o := s.inboundCall(t, m, "4812")
	at := m
	for range 3 {
		at = s.typeDigits(t, at, o, slot+"#")
		at = s.typeDigits(t, at, o, "9999#")
	}
	s.gone(t, m, o, 20*time.Second)
	if _, ok := s.fs.waitOK(m, 0, is("CHANNEL_BRIDGE", o)); ok {
		t.Errorf("a caller with a wrong PIN was bridged")
	}
	if !s.fs.exists(p) {
		t.Errorf("the parked call is gone")
	}
	s.waitHistoryN(t, o, "pin_failed", 3, 5*time.Second)
	// The hangup event (and so the CDR) carries no digit typed.
	end, _ := s.fs.waitOK(m, 0, is("CHANNEL_HANGUP_COMPLETE", o))
	if d := end.Get("variable_digits_dialed"); strings.Contains(d, "9999") {
		t.Errorf("the wrong PIN is in the hangup event: digits_dialed=%q", d)
	} else {
		t.Logf("digits_dialed at hangup: %q", d)
	}
}
