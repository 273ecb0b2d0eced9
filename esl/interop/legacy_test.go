package interop

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// legacyDialplan is a park and a retrieve extension that hand the call to
// parkd unanswered, as `parkd fsconf` wrote them before it answered first,
// and as a hand-written or FusionPBX dialplan may still do.
func legacyDialplan(listen string) string {
	return fmt.Sprintf(`<include>
  <!-- parkd interop suite, TestQ: extensions that do not answer before socket. Removed when the test ends. -->
  <extension name="parkd_interop_legacy_park">
    <condition field="destination_number" expression="^\*77(\d+)$">
      <action application="set" data="parkd_action=park"/>
      <action application="set" data="parkd_lot=interop"/>
      <action application="set" data="parkd_slot=$1"/>
      <action application="socket" data="%[1]s async full"/>
      <action application="hangup" data="NORMAL_TEMPORARY_FAILURE"/>
    </condition>
  </extension>
  <extension name="parkd_interop_legacy_retrieve">
    <condition field="destination_number" expression="^\*78(\d+)$">
      <action application="set" data="parkd_action=retrieve"/>
      <action application="set" data="parkd_lot=interop"/>
      <action application="set" data="parkd_slot=$1"/>
      <action application="socket" data="%[1]s async full"/>
      <action application="hangup" data="NORMAL_TEMPORARY_FAILURE"/>
    </condition>
  </extension>
</include>
`, listen)
}

// (q) Calls that reach parkd unanswered (a dialplan without answer before
// socket): parkd answers each with uuid_answer, never with an answer
// application; the caller who dialled the park code hears its slot and
// the music, and the retriever is bridged to it with audio both ways.
func TestQ_UnansweredCallsAnsweredByParkd(t *testing.T) {
	s := need(t)
	path := filepath.Join(s.env.DialplanDir, "00_parkd_legacy.xml")
	if err := os.WriteFile(path, []byte(legacyDialplan(s.env.Listen)), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(path); s.fs.api("reloadxml") })
	if r := s.fs.api("reloadxml"); !strings.HasPrefix(r, "+OK") {
		t.Fatalf("reloadxml: %q", r)
	}
	m := s.fresh(t)
	s.sipp(t, "patient", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*77216",
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": "4901", "from_name": "Patient Q"}})
	p := s.inboundCall(t, m, "4901")
	s.parkedWithMusic(t, m, p)
	row := s.waitHistory(t, p, "parked", 5*time.Second)
	want(t, row, "slot", 216)
	if _, ok := s.fs.waitOK(m, time.Second, is("CHANNEL_EXECUTE", p, "Application", "say")); !ok {
		t.Errorf("the call that parked itself did not hear its slot; its events: %s", s.fs.summary(m, p))
	}

	m2 := s.fs.mark()
	s.sipp(t, "retriever", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*78216",
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": "4902", "from_name": "Nurse"}})
	r := s.inboundCall(t, m2, "4902")
	br := s.bridgeOf(t, m2, p, r, 10*time.Second)
	if br.Get("Bridge-A-Unique-ID") != p {
		t.Errorf("CHANNEL_BRIDGE: Bridge-A-Unique-ID %s, want the parked call %s", br.Get("Bridge-A-Unique-ID"), p)
	}
	for _, c := range []struct {
		who, uuid string
		from      int
	}{{"patient", p, m}, {"retriever", r, m2}} {
		if _, ok := s.fs.waitOK(c.from, 0, is("CHANNEL_ANSWER", c.uuid)); !ok {
			t.Errorf("the %s was never answered; its events: %s", c.who, s.fs.summary(c.from, c.uuid))
		}
		if ev, ok := s.fs.waitOK(c.from, 0, is("CHANNEL_EXECUTE", c.uuid, "Application", "answer")); ok {
			t.Errorf("the %s was answered by an answer application (%s), want uuid_answer from the API", c.who, ev.Get("Application-UUID"))
		}
	}
	time.Sleep(3 * time.Second)
	s.hears(t, "parked patient after the bridge", patientRTP, 1000, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	s.hears(t, "retriever after the bridge", retrieverRTP, 500, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	row = s.waitHistory(t, p, "retrieved", 5*time.Second)
	want(t, row, "retriever", "4902")
	m3 := s.fs.mark()
	s.fs.api("uuid_kill " + r)
	s.gone(t, m3, p, 5*time.Second)
}
