package interop

import (
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/parkd/parkd/internal/passhash"
)

// httpSetup picks the address of parkd's HTTP API and makes an agent token
// for it.
func (s *state) httpSetup() error {
	addr, err := freePort()
	if err != nil {
		return err
	}
	s.httpAddr = addr
	s.httpToken = fmt.Sprintf("interop-%d", time.Now().UnixNano())
	s.httpHash, err = passhash.Hash(s.httpToken)
	return err
}

// httpConfig is the [http] section of parkd's configuration: the API on
// httpAddr with one agent token.
func (s *state) httpConfig() string {
	if s.httpAddr == "" {
		return ""
	}
	return fmt.Sprintf(`
[http]
listen = %q

[[http.token]]
name = "interop"
hash = %q
role = "agent"
`, s.httpAddr, s.httpHash)
}

// parkMyCall POSTs /api/park to parkd and returns the status and answer.
func (s *state) parkMyCall(t *testing.T, body string) (int, map[string]any) {
	t.Helper()
	return s.postAPI(t, "/api/park", body)
}

// (l) Park my call: a phone (Users[1], registered) answers a patient; the
// board parks the call through parkd's API, which finds the phone's call on
// the switch and moves the patient into the slot in place. The patient
// hears music, the phone's leg ends, a second park into the same slot is
// refused with the call left talking, and *71 retrieves the patient.
func TestL_ParkMyCall(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	agent := s.env.Users[1]
	s.register(t, agent, phoneReg, phoneSIP)
	phone := s.sipp(t, "phone", sippOpts{scenario: "uas_user_answer.xml", port: phoneSIP, mport: phoneRTP, tone: 1300})
	time.Sleep(300 * time.Millisecond)
	pat := s.sipp(t, "patient", sippOpts{scenario: "uac_caller.xml", uac: true, service: agent,
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": "4121", "from_name": "Patient L"}})
	p := s.inboundCall(t, m, "4121")
	br := s.bridgeOf(t, m, p, "", 15*time.Second)
	own := br.Get("Bridge-B-Unique-ID")
	if own == p {
		own = br.Get("Bridge-A-Unique-ID")
	}
	time.Sleep(1500 * time.Millisecond) // the listing lags behind new channels

	// Nothing to park for a phone that is not in a call.
	if status, _ := s.parkMyCall(t, `{"extension": "`+s.env.Users[2]+`"}`); status != http.StatusNotFound {
		t.Errorf("park the call of an idle phone: %d, want 404", status)
	}

	mPark := s.fs.mark()
	status, out := s.parkMyCall(t, `{"extension": "`+agent+`", "slot": 205}`)
	if status != http.StatusOK || out["call"] != p || out["slot"] != float64(205) || out["parker"] != agent || out["lot"] != "interop" {
		t.Fatalf("park my call: %d %v; want the patient %s in interop/205", status, out, p)
	}
	s.parkedWithMusic(t, mPark, p)
	s.gone(t, mPark, own, 5*time.Second)
	row := s.waitHistory(t, p, "parked", 5*time.Second)
	want(t, row, "slot", 205)
	want(t, row, "parker", agent)
	want(t, row, "caller_number", "4121")
	for name, v := range map[string]string{"parkd_lot": "interop", "parkd_slot": "205", "parkd_parker": agent, "hangup_after_bridge": "true"} {
		if got := s.fs.getvar(p, name); got != v {
			t.Errorf("uuid_getvar %s: %q, want %q", name, got, v)
		}
	}
	s.showsParked(t, p, "205")
	if fin, _ := phone.wait(10 * time.Second); !fin || len(phone.received("BYE ")) == 0 {
		t.Errorf("the agent's phone got no BYE for its leg (finished %v)", fin)
	}
	parkedAt := time.Now()
	time.Sleep(2 * time.Second)
	s.hearsAudio(t, "patient parked from the API", patientRTP, parkedAt, time.Now())

	// A second phone's call asks for the same slot: refused, and the call
	// goes on as it was.
	desk := s.env.Users[0]
	s.register(t, desk, receptionReg, receptionSIP)
	s.sipp(t, "desk", sippOpts{scenario: "uas_user_answer.xml", port: receptionSIP, mport: receptionRTP, tone: 1500})
	time.Sleep(300 * time.Millisecond)
	mRef := s.fs.mark()
	s.sipp(t, "patient2", sippOpts{scenario: "uac_caller.xml", uac: true, service: desk,
		port: patient2SIP, mport: patient2RTP, tone: 500, keys: map[string]string{"from_user": "4123", "from_name": "Patient L2"}})
	p2 := s.inboundCall(t, mRef, "4123")
	br2 := s.bridgeOf(t, mRef, p2, "", 15*time.Second)
	time.Sleep(1500 * time.Millisecond)
	mTaken := s.fs.mark()
	if status, _ := s.parkMyCall(t, `{"extension": "`+desk+`", "slot": 205}`); status != http.StatusConflict {
		t.Errorf("park into a taken slot: %d, want 409", status)
	}
	refusedAt := time.Now()
	time.Sleep(2500 * time.Millisecond)
	for _, u := range []string{br2.Get("Bridge-A-Unique-ID"), br2.Get("Bridge-B-Unique-ID")} {
		if !s.fs.exists(u) || len(s.fs.since(mTaken, is("CHANNEL_UNBRIDGE", u))) > 0 {
			t.Errorf("after a refused park, %s is no longer in its call: %s", u, s.fs.summary(mTaken, u))
		}
	}
	s.hears(t, "desk's caller after the refused park", patient2RTP, 1500, refusedAt.Add(500*time.Millisecond), refusedAt.Add(2*time.Second))
	s.fs.api("uuid_kill " + p2)

	// Retrieve from another phone.
	m2 := s.fs.mark()
	s.sipp(t, "retriever", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*71205",
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": "4122", "from_name": "Nurse"}})
	r := s.inboundCall(t, m2, "4122")
	rb := s.bridgeOf(t, m2, p, r, 10*time.Second)
	time.Sleep(3 * time.Second)
	s.hears(t, "patient after the retrieve", patientRTP, 1000, rb.At.Add(500*time.Millisecond), rb.At.Add(2500*time.Millisecond))
	s.hears(t, "retriever after the retrieve", retrieverRTP, 500, rb.At.Add(500*time.Millisecond), rb.At.Add(2500*time.Millisecond))
	row = s.waitHistory(t, p, "retrieved", 5*time.Second)
	want(t, row, "retriever", "4122")
	want(t, row, "parker", agent)
	m3 := s.fs.mark()
	s.fs.api("uuid_kill " + r)
	s.gone(t, m3, p, 5*time.Second)
	if fin, ok := pat.wait(10 * time.Second); !fin || !ok {
		t.Errorf("patient's sipp did not end cleanly (finished %v ok %v)", fin, ok)
	}
}

// (l2) Park my call for a call the phone placed: the agent's phone
// (Users[1], its own leg the inbound one) calls the desk (Users[0],
// registered, answers); parking it moves the desk's leg, the B-leg of the
// agent's bridge, into the slot, and the agent's leg ends.
func TestL2_ParkMyOutgoingCall(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	agent, desk := s.env.Users[1], s.env.Users[0]
	s.register(t, desk, receptionReg, receptionSIP)
	deskPhone := s.sipp(t, "desk", sippOpts{scenario: "uas_user_answer.xml", port: receptionSIP, mport: receptionRTP, tone: 1500})
	time.Sleep(300 * time.Millisecond)
	s.sipp(t, "agent", sippOpts{scenario: "uac_caller.xml", uac: true, service: desk,
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": agent, "from_name": "Agent"}})
	own := s.inboundCall(t, m, agent)
	br := s.bridgeOf(t, m, own, "", 15*time.Second)
	far := br.Get("Bridge-B-Unique-ID")
	if far == own {
		far = br.Get("Bridge-A-Unique-ID")
	}
	time.Sleep(1500 * time.Millisecond)

	mPark := s.fs.mark()
	status, out := s.parkMyCall(t, `{"extension": "`+agent+`"}`)
	if status != http.StatusOK || out["call"] != far || out["parker"] != agent {
		t.Fatalf("park my outgoing call: %d %v; want the desk's leg %s", status, out, far)
	}
	s.parkedWithMusic(t, mPark, far)
	s.gone(t, mPark, own, 5*time.Second)
	row := s.waitHistory(t, far, "parked", 5*time.Second)
	want(t, row, "parker", agent)
	want(t, row, "caller_number", desk)
	parkedAt := time.Now()
	time.Sleep(2 * time.Second)
	if !s.fs.exists(far) {
		t.Fatalf("the desk's leg did not survive its park: %s", s.fs.summary(mPark, far))
	}
	s.hearsAudio(t, "desk parked from the API", receptionRTP, parkedAt, time.Now())
	if got := len(deskPhone.received("BYE ")); got != 0 {
		t.Errorf("the parked desk phone got %d BYE", got)
	}
}
