package interop

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// postAPI POSTs body to parkd's HTTP API at path with the agent token and
// returns the status and the JSON answer.
func (s *state) postAPI(t *testing.T, path, body string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+s.httpAddr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.httpToken)
	// A pickup answers once the phone answered: up to the lot's ring time.
	resp, err := (&http.Client{Timeout: 45 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	t.Logf("POST %s %s: %s %s", path, body, resp.Status, strings.TrimSpace(string(b)))
	return resp.StatusCode, out
}

// (m) Pick up from the board: a patient parked by REFER; a pickup to a
// phone that is not registered is refused with the patient still parked
// and hearing music; a pickup to a registered phone rings it without the
// recall's distinctive ring, bridges the patient when it answers (audio
// both ways), and records retrieved with the board as the retriever.
func TestM_PickupFromBoard(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	reception, agent, away := s.env.Users[0], s.env.Users[1], s.env.Users[2]
	p, _, pat := s.parkByRefer(t, m, "4131", "Patient M", "*70203", reception)
	s.parkedWithMusic(t, m, p)
	s.waitHistory(t, p, "parked", 5*time.Second)

	// A phone that is not registered: refused, the patient stays parked.
	mAway := s.fs.mark()
	if status, out := s.postAPI(t, "/api/calls/"+p+"/pickup", `{"extension": "`+away+`"}`); status != http.StatusConflict ||
		!strings.Contains(strings.ToLower(out["error"].(string)), "still parked") {
		t.Errorf("pickup to an unregistered phone: %d %v, want 409 saying the call is still parked", status, out)
	}
	if _, ok := slotOf(s.slots(t), p); !ok || !s.fs.exists(p) {
		t.Fatalf("after a failed pickup the patient is no longer parked: %s", s.fs.summary(mAway, p))
	}
	if bridged := s.fs.since(mAway, is("CHANNEL_BRIDGE", p)); len(bridged) > 0 {
		t.Errorf("a failed pickup bridged the patient")
	}
	refusedAt := time.Now()
	time.Sleep(1500 * time.Millisecond)
	s.hearsAudio(t, "patient after a failed pickup", patientRTP, refusedAt, time.Now())

	// The agent's phone, registered and answering.
	s.register(t, agent, phoneReg, phoneSIP)
	phone := s.sipp(t, "phone", sippOpts{scenario: "uas_user_answer.xml", port: phoneSIP, mport: phoneRTP, tone: 1300})
	time.Sleep(300 * time.Millisecond)
	mPick := s.fs.mark()
	status, out := s.postAPI(t, "/api/calls/"+p+"/pickup", `{"extension": "`+agent+`"}`)
	if status != http.StatusOK || out["event"] != "retrieved" || out["call"] != p {
		t.Fatalf("pickup to %s: %d %v, want 200 retrieved", agent, status, out)
	}
	br := s.bridgeOf(t, mPick, p, "", 15*time.Second)
	other := br.Get("Bridge-B-Unique-ID")
	if other == p {
		other = br.Get("Bridge-A-Unique-ID")
	}
	invites := phone.received("INVITE ")
	if len(invites) == 0 {
		t.Fatal("the agent's phone got no INVITE")
	}
	if got := invites[0].Headers["alert-info"]; got == alertInfo {
		t.Errorf("pickup INVITE carries the recall's distinctive ring %q", got)
	}
	if got := invites[0].Headers["from"]; !strings.Contains(got, "Patient M") {
		t.Errorf("pickup INVITE From %q, want the parked caller's name", got)
	}
	time.Sleep(3 * time.Second)
	s.hears(t, "patient after the pickup", patientRTP, 1300, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	s.hears(t, "agent's phone after the pickup", phoneRTP, 500, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	row := s.waitHistory(t, p, "retrieved", 5*time.Second)
	want(t, row, "retriever", "web:token:interop")
	want(t, row, "parker", reception)
	want(t, row, "slot", 203)
	if _, ok := slotOf(s.slots(t), p); ok {
		t.Errorf("parkd slots still lists the picked-up call")
	}

	// The agent hangs up: the patient's call ends too.
	m2 := s.fs.mark()
	s.fs.api("uuid_kill " + other)
	s.gone(t, m2, p, 5*time.Second)
	if fin, ok := pat.wait(10 * time.Second); !fin || !ok {
		t.Errorf("patient's sipp did not end cleanly (finished %v ok %v)", fin, ok)
	}
}
