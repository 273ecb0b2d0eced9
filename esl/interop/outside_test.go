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
	wrongPIN      = "9999"
)

var outsidePINHash = func() string {
	h, err := passhash.Hash(outsidePIN)
	if err != nil {
		panic(err)
	}
	return h
}()

// keypad makes digits reach the switch as DTMF of call.
type keypad func(t *testing.T, call, digits string)

// recvDTMF is the keypad of the tests that need no DTMF on the wire:
// uuid_recv_dtmf queues the digits on the channel as if received from the
// caller (FreeSWITCH reports them with DTMF-Source: APP).
func (s *state) recvDTMF(t *testing.T, call, digits string) {
	t.Helper()
	if r := s.fs.api("uuid_recv_dtmf " + call + " " + digits); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("uuid_recv_dtmf: %q", r)
	}
}

// typeDigits waits for the next play_and_get_digits on call after from and
// types digits into it with press. It returns the mark to wait from for
// the next entry.
func (s *state) typeDigits(t *testing.T, from int, call, digits string, press keypad) int {
	t.Helper()
	if _, ok := s.fs.waitOK(from, 10*time.Second, is("CHANNEL_EXECUTE", call, "Application", "play_and_get_digits")); !ok {
		t.Fatalf("no play_and_get_digits on the outside call; its events: %s", s.fs.summary(from, call))
	}
	m := s.fs.mark()
	press(t, call, digits)
	return m
}

// parkForOutside parks a caller with caller-ID number by dialling *70 and
// returns its channel and slot.
func (s *state) parkForOutside(t *testing.T, number string) (call, slot string) {
	t.Helper()
	m := s.fresh(t)
	s.sipp(t, "patient", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*70",
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": number, "from_name": "Patient N"}})
	call = s.inboundCall(t, m, number)
	s.parkedWithMusic(t, m, call)
	return call, fmt.Sprint(s.waitHistory(t, call, "parked", 5*time.Second)["slot"])
}

// dialOutside calls the outside number from number with a sipp scenario
// on local SIP and RTP ports sip and rtp, and returns the mark before the
// call and its channel. Each caller of a test needs a name of its own (its
// sipp directory).
func (s *state) dialOutside(t *testing.T, name, scenario, number string, sip, rtp int) (from int, call string) {
	t.Helper()
	from = s.fresh(t)
	s.sipp(t, name, sippOpts{scenario: scenario, uac: true, service: outsideNumber,
		port: sip, mport: rtp, tone: 1000, keys: map[string]string{"from_user": number, "from_name": "Outside"}})
	return from, s.inboundCall(t, from, number)
}

// pickUpFromOutside types the slot and the right PIN on the outside call o
// and checks that it is bridged to the parked call p and recorded as
// retrieved by outside:<number>.
func (s *state) pickUpFromOutside(t *testing.T, from int, p, o, number, slot string, press keypad) {
	t.Helper()
	m := s.typeDigits(t, from, o, slot+"#", press)
	s.typeDigits(t, m, o, outsidePIN+"#", press)
	s.bridgeOf(t, from, p, o, 15*time.Second)
	row := s.waitHistory(t, p, "retrieved", 5*time.Second)
	want(t, row, "retriever", "outside:"+number)
}

// refusedFromOutside types the slot and a wrong PIN three times (the
// lockout's tries) on the outside call o and checks that the call ends
// unbridged with three pin_failed rows, the parked call p staying parked.
func (s *state) refusedFromOutside(t *testing.T, from int, p, o, slot string, press keypad) {
	t.Helper()
	at := from
	for range 3 {
		at = s.typeDigits(t, at, o, slot+"#", press)
		at = s.typeDigits(t, at, o, wrongPIN+"#", press)
	}
	s.gone(t, from, o, 20*time.Second)
	if _, ok := s.fs.waitOK(from, 0, is("CHANNEL_BRIDGE", o)); ok {
		t.Errorf("a caller with a wrong PIN was bridged")
	}
	if !s.fs.exists(p) {
		t.Errorf("the parked call is gone")
	}
	s.waitHistoryN(t, o, "pin_failed", 3, 5*time.Second)
	// The hangup event (and so the CDR) carries no digit typed.
	end, _ := s.fs.waitOK(from, 0, is("CHANNEL_HANGUP_COMPLETE", o))
	if d := end.Get("variable_digits_dialed"); strings.Contains(d, wrongPIN) {
		t.Errorf("the wrong PIN is in the hangup event: digits_dialed=%q", d)
	} else {
		t.Logf("digits_dialed at hangup: %q", d)
	}
}

// sawDTMF checks the DTMF events of call from index from on: FreeSWITCH
// read exactly digits, each reported with DTMF-Source source.
func (s *state) sawDTMF(t *testing.T, from int, call, digits, source string) {
	t.Helper()
	evs := s.fs.since(from, is("DTMF", call))
	var got strings.Builder
	var durs []string
	for _, e := range evs {
		got.WriteString(e.Get("DTMF-Digit"))
		durs = append(durs, e.Get("DTMF-Duration"))
		if src := e.Get("DTMF-Source"); src != source {
			t.Errorf("DTMF event %d: DTMF-Source %q, want %q", len(durs), src, source)
		}
	}
	if got.String() != digits {
		t.Errorf("FreeSWITCH read DTMF %q, want %q", got.String(), digits)
	}
	if len(evs) > 0 {
		t.Logf("%d DTMF events, DTMF-Source %s, durations (samples) %s, first to last %v",
			len(evs), evs[0].Get("DTMF-Source"), strings.Join(durs, " "), evs[len(evs)-1].At.Sub(evs[0].At).Round(time.Millisecond))
	}
}

// (n1) A parked call picked up from outside: slot and PIN typed, bridged,
// recorded as retrieved by outside:<number>, no digits left on the channel.
func TestN1_OutsidePickUp(t *testing.T) {
	s := need(t)
	p, slot := s.parkForOutside(t, "4801")
	m, o := s.dialOutside(t, "outside", "uac_caller.xml", "4802", retrieverSIP, retrieverRTP)
	s.pickUpFromOutside(t, m, p, o, "4802", slot, s.recvDTMF)
	for _, v := range []string{"parkd_digits", "parkd_digits_invalid", "digits_dialed"} {
		if r := strings.TrimSpace(s.fs.api("uuid_getvar " + o + " " + v)); r != "_undef_" {
			t.Errorf("%s on the outside call = %q, want unset", v, r)
		}
	}
	s.sawDTMF(t, m, o, slot+"#"+outsidePIN+"#", "APP")
}

// (n2) Three wrong PINs end the outside call; the parked call stays.
func TestN2_OutsideWrongPIN(t *testing.T) {
	s := need(t)
	p, slot := s.parkForOutside(t, "4811")
	m, o := s.dialOutside(t, "outside", "uac_caller.xml", "4812", retrieverSIP, retrieverRTP)
	s.refusedFromOutside(t, m, p, o, slot, s.recvDTMF)
}
