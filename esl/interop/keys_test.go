package interop

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// vanillaParkRE finds the vanilla default.xml's `park` extension
// (`^park\+(\d+)$` to valet/fifo), which answers park+<slot> before
// parkd's extensions in default/*.xml are reached.
var (
	vanillaParkRE    = regexp.MustCompile(`expression="\^?park\\\+`) // the vanilla extension has no ^
	defaultIncludeRE = regexp.MustCompile(`<X-PRE-PROCESS\s+cmd="include"\s+data="default/\*\.xml"\s*/>`)
)

// needKeys skips a key test when FreeSWITCH's own dialplan would take
// park+<slot> before parkd's extensions: the suite does not edit the
// operator's default.xml.
func (s *state) needKeys(t *testing.T) {
	t.Helper()
	confDir := strings.TrimSpace(s.fs.api("global_getvar conf_dir"))
	path := filepath.Join(confDir, "dialplan", "default.xml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Logf("cannot read %s (%v): not checking for an extension that shadows park+<slot>", path, err)
		return
	}
	park := vanillaParkRE.FindIndex(b)
	if park == nil {
		return
	}
	inc := defaultIncludeRE.FindIndex(b)
	if inc == nil || park[0] < inc[0] {
		t.Skipf("%s has an extension matching ^park\\+ (the vanilla `park` extension for valet/fifo) before the include of default/*.xml: "+
			"it answers park+<slot> instead of parkd. Remove or disable it to run the key tests; the suite does not edit your dialplan.", path)
	}
}

// (k1) One key, both uses: a call blind-transferred to park+<slot> parks
// there; a phone dialling park+<slot> retrieves it.
func TestK1_KeyParksAndRetrieves(t *testing.T) {
	s := need(t)
	s.needKeys(t)
	m := s.fresh(t)
	reception := s.env.Users[0]
	p, _, _ := s.referTo(t, m, "4931", "Caller L", "park+207", reception, "key")
	s.parkedWithMusic(t, m, p)
	row := s.waitHistory(t, p, "parked", 5*time.Second)
	want(t, row, "lot", "interop")
	want(t, row, "slot", 207)
	want(t, row, "parker", reception)
	parkedAt := time.Now()
	time.Sleep(2 * time.Second)
	s.hearsAudio(t, "caller parked by the key", patientRTP, parkedAt, time.Now())

	m2 := s.fs.mark()
	s.sipp(t, "retriever", sippOpts{scenario: "uac_caller.xml", uac: true, service: "park+207",
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": "4932", "from_name": "Nurse"}})
	r := s.inboundCall(t, m2, "4932")
	br := s.bridgeOf(t, m2, p, r, 10*time.Second)
	time.Sleep(3 * time.Second)
	s.hears(t, "caller after the key retrieve", patientRTP, 1000, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	s.hears(t, "retriever by the key", retrieverRTP, 500, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	row = s.waitHistory(t, p, "retrieved", 5*time.Second)
	want(t, row, "slot", 207)
	want(t, row, "retriever", "4932")
}

// (k2) Dialling an empty slot's key never parks the person dialling: error
// tone, then hangup, as for *71 on an empty slot.
func TestK2_KeyEmptySlotErrorTone(t *testing.T) {
	s := need(t)
	s.needKeys(t)
	m := s.fresh(t)
	ret := s.sipp(t, "dialler", sippOpts{scenario: "uac_caller.xml", uac: true, service: "park+208",
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": "4933", "from_name": "Nurse"}})
	r := s.inboundCall(t, m, "4933")
	s.fs.wait(t, m, 10*time.Second, "parkd's key extension", is("CHANNEL_EXECUTE", r, "Application", "set", "Application-Data", "parkd_action=key"))
	tone, ok := s.fs.waitOK(m, 10*time.Second, is("CHANNEL_EXECUTE", r, "Application", "playback"))
	if !ok {
		t.Fatalf("no error tone for the dialler; its events: %s", s.fs.summary(m, r))
	}
	if d := tone.Get("Application-Data"); !strings.HasPrefix(d, "tone_stream://%(250,250,480,620)") {
		t.Errorf("playback %q, want the error tone", d)
	}
	s.gone(t, m, r, 10*time.Second)
	if fin, ok := ret.wait(10 * time.Second); !fin || !ok {
		t.Errorf("the dialler's sipp did not get a clean BYE (finished %v ok %v)", fin, ok)
	}
	for _, row := range s.history(t, r) {
		t.Errorf("history records the dialler of an empty key: %v", row)
	}
	if _, ok := slotOf(s.slots(t), r); ok {
		t.Errorf("the dialler of an empty key was parked")
	}
}

// Ensure the check for the vanilla `park` extension finds it as the
// vanilla dialplan writes it today (no ^) and anchored, and nothing else.
// (It needs no switch, but runs with the suite: TestMain exits early
// without one.)
func TestVanillaParkRE(t *testing.T) {
	for _, c := range []struct {
		line string
		want bool
	}{
		{`<condition field="destination_number" expression="park\+(\d+)">`, true},
		{`<condition field="destination_number" expression="^park\+(\d+)$">`, true},
		{`<condition field="destination_number" expression="^parking$">`, false},
		{`<condition field="destination_number" expression="^\*70(\d*)$">`, false},
	} {
		if got := vanillaParkRE.MatchString(c.line); got != c.want {
			t.Errorf("%s: matched %v, want %v", c.line, got, c.want)
		}
	}
}
