package interop

import (
	"bufio"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// inboundEvents reads parkd_inbound_events_total from parkd's /metrics:
// how many events the switch has sent parkd's inbound connection.
func (s *state) inboundEvents(t *testing.T) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+s.httpAddr+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+s.httpToken)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "parkd_inbound_events_total "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("parkd_inbound_events_total %q: %v", v, err)
			}
			return int(n)
		}
	}
	t.Fatalf("/metrics has no parkd_inbound_events_total (status %s)", resp.Status)
	return 0
}

// (p) Calls parkd never touched cost it nothing: fifty ordinary calls to a
// registered phone, answered and hung up, send no event on parkd's inbound
// connection (the switch filters its hangups to the channels marked
// parkd_instance), while a parked caller's hangup still does and frees the
// slot (the filter sees the variable parkd sets on a call it parks).
func TestP_OrdinaryCallsSendNoEvents(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	phone := s.env.Users[1]
	s.register(t, phone, phoneReg, phoneSIP)
	uas := s.sipp(t, "phone", sippOpts{scenario: "uas_user_answer.xml", port: phoneSIP, mport: phoneRTP, tone: 1300,
		args: []string{"-m", "50"}})
	time.Sleep(300 * time.Millisecond)
	before := s.inboundEvents(t)

	uac := s.sipp(t, "callers", sippOpts{scenario: "uac_caller_hangup.xml", uac: true, service: phone,
		port: patientSIP, mport: patientRTP, tone: 500,
		keys: map[string]string{"from_user": "4601", "from_name": "Ordinary"},
		args: []string{"-m", "50", "-r", "10", "-d", "300"}})
	if fin, ok := uac.wait(60 * time.Second); !fin || !ok {
		t.Fatalf("the fifty ordinary calls did not all complete (finished %v ok %v)", fin, ok)
	}
	if fin, _ := uas.wait(10 * time.Second); !fin {
		t.Errorf("the phone's sipp did not finish its fifty calls")
	}
	// The last calls' HANGUP_COMPLETE events reach the observer a little
	// after sipp has its 200 OK to the BYE; on a busy machine, later still.
	hangups := 0
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		hangups = len(s.fs.since(m, func(e obsEvent) bool { return e.Name() == "CHANNEL_HANGUP_COMPLETE" }))
		if hangups >= 100 || time.Now().After(deadline) {
			break
		}
	}
	if hangups < 100 {
		t.Fatalf("the switch reported %d hangups, want at least 100 (two legs per call)", hangups)
	}

	// A parked caller who hangs up: its hangup reaches parkd (the slot is
	// freed, abandoned recorded), and it comes after the fifty calls'.
	m2 := s.fs.mark()
	s.sipp(t, "patient", sippOpts{scenario: "uac_caller_hangup.xml", uac: true, service: "*70206",
		port: patient2SIP, mport: patient2RTP, tone: 500, args: []string{"-d", "3000"},
		keys: map[string]string{"from_user": "4602", "from_name": "Patient P"}})
	p := s.inboundCall(t, m2, "4602")
	s.parkedWithMusic(t, m2, p)
	s.waitHistory(t, p, "parked", 5*time.Second)
	s.waitHistory(t, p, "abandoned", 10*time.Second)

	got := s.inboundEvents(t) - before
	t.Logf("%d hangups on the switch; parkd's inbound connection received %d events", hangups, got)
	if got > 3 {
		// The parked call's hangup, and at most a background job or two
		// (none is expected): never one per ordinary call.
		t.Errorf("parkd's inbound connection received %d events for 50 ordinary calls and one parked call, want at most 3", got)
	}
}
