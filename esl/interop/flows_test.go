package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
)

// parkByRefer is the hospital's blind transfer: a patient (caller-ID number,
// name) calls the reception phone (Users[0], registered), reception answers
// and REFERs the call to target with Referred-By naming referredBy. It
// returns the patient's channel and the two sipp endpoints.
func (s *state) parkByRefer(t *testing.T, from int, number, name, target, referredBy string) (string, *endpoint, *endpoint) {
	t.Helper()
	return s.referTo(t, from, number, name, target, referredBy, "park")
}

// referTo is parkByRefer for any of parkd's extensions: it waits for the
// transferred call to reach the one that sets parkd_action=action.
func (s *state) referTo(t *testing.T, from int, number, name, target, referredBy, action string) (string, *endpoint, *endpoint) {
	t.Helper()
	reception := s.env.Users[0]
	s.register(t, reception, receptionReg, receptionSIP)
	rec := s.sipp(t, "reception", sippOpts{scenario: "uas_reception_refer.xml", port: receptionSIP, mport: receptionRTP,
		tone: 1500, args: []string{"-d", "2000"}, keys: map[string]string{
			"refer_target":    target,
			"referred_by_hdr": "Referred-By: <sip:" + referredBy + "@" + s.env.Domain + ">",
		}})
	time.Sleep(300 * time.Millisecond)
	pat := s.sipp(t, "patient", sippOpts{scenario: "uac_caller.xml", uac: true, service: reception,
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": number, "from_name": name}})
	p := s.inboundCall(t, from, number)
	// The REFER moves the patient's channel (same UUID) into parkd's extension.
	s.fs.wait(t, from, 15*time.Second, "the REFER's transfer into parkd's "+action+" extension",
		is("CHANNEL_EXECUTE", p, "Application", "set", "Application-Data", "parkd_action="+action))
	return p, rec, pat
}

// (a) The hospital flow: REFER with Referred-By to *70202, music, parker
// recorded; *71202 from another phone is bridged, audio both ways.
func TestA_HospitalReferParkAndRetrieve(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	reception := s.env.Users[0]
	p, rec, pat := s.parkByRefer(t, m, "4101", "Patient A", "*70202", reception)

	s.parkedWithMusic(t, m, p)
	row := s.waitHistory(t, p, "parked", 5*time.Second)
	want(t, row, "lot", "interop")
	want(t, row, "slot", 202)
	want(t, row, "parker", reception)
	want(t, row, "caller_number", "4101")
	want(t, row, "caller_name", "Patient A")

	// FreeSWITCH's view of the parked call.
	for name, v := range map[string]string{"parkd_lot": "interop", "parkd_slot": "202", "parkd_parker": reception,
		"hangup_after_bridge": "true", "sip_h_Referred-By": "<sip:" + reception + "@" + s.env.Domain + ">"} {
		if got := s.fs.getvar(p, name); got != v {
			t.Errorf("uuid_getvar %s: %q, want %q", name, got, v)
		}
	}
	s.showsParked(t, p, "202")
	// Reception's side of the REFER: 202, a NOTIFY with a sipfrag, a BYE.
	if fin, ok := rec.wait(15 * time.Second); !fin || !ok {
		t.Errorf("reception's sipp did not complete its REFER dialog (finished %v ok %v)", fin, ok)
	}
	if len(rec.received("SIP/2.0 202")) == 0 || len(rec.received("NOTIFY ")) == 0 || len(rec.received("BYE ")) == 0 {
		t.Errorf("reception got no 202 / NOTIFY / BYE for its REFER")
	}
	parkedAt := time.Now()
	time.Sleep(2 * time.Second)
	s.hearsAudio(t, "parked patient", patientRTP, parkedAt, time.Now())

	// Retrieve from another phone.
	m2 := s.fs.mark()
	s.sipp(t, "retriever", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*71202",
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": "4102", "from_name": "Nurse"}})
	r := s.inboundCall(t, m2, "4102")
	br := s.bridgeOf(t, m2, p, r, 10*time.Second)
	if br.Get("Bridge-A-Unique-ID") != p {
		t.Errorf("CHANNEL_BRIDGE: Bridge-A-Unique-ID %s, want the parked call %s", br.Get("Bridge-A-Unique-ID"), p)
	}
	time.Sleep(3 * time.Second)
	s.hears(t, "parked patient after the bridge", patientRTP, 1000, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	s.hears(t, "retriever after the bridge", retrieverRTP, 500, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))

	row = s.waitHistory(t, p, "retrieved", 5*time.Second)
	want(t, row, "slot", 202)
	want(t, row, "retriever", "4102")
	want(t, row, "parker", reception)
	if w, _ := row["wait_ms"].(float64); w < 2000 {
		t.Errorf("retrieved: wait_ms %v, want at least 2000", row["wait_ms"])
	}
	if _, ok := slotOf(s.slots(t), p); ok {
		t.Errorf("parkd slots still lists the retrieved call")
	}

	// The retriever hangs up: the patient's call ends too.
	m3 := s.fs.mark()
	s.fs.api("uuid_kill " + r)
	s.gone(t, m3, p, 5*time.Second)
	if fin, ok := pat.wait(10 * time.Second); !fin || !ok {
		t.Errorf("patient's sipp did not end cleanly with a BYE (finished %v ok %v)", fin, ok)
	}
}

// (b) Auto-park into the next free slot, with the slot announced.
func TestB_AutoParkAnnouncesSlot(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	s.sipp(t, "patient", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*70",
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": "4201", "from_name": "Patient B"}})
	p := s.inboundCall(t, m, "4201")
	s.parkedWithMusic(t, m, p)
	row := s.waitHistory(t, p, "parked", 5*time.Second)
	want(t, row, "lot", "interop")
	// Nobody transferred it: the call parked itself, and its own number is
	// the parker (a self-park, like a consult call's).
	want(t, row, "parker", "4201")
	slot := fmt.Sprint(row["slot"])

	say, ok := s.fs.waitOK(m, time.Second, is("CHANNEL_EXECUTE", p, "Application", "say"))
	if !ok {
		t.Fatalf("no say on the auto-parked call; its events: %s", s.fs.summary(m, p))
	}
	if d := say.Get("Application-Data"); d != "en number iterated "+slot {
		t.Errorf("say %q, want %q", d, "en number iterated "+slot)
	}
	done, ok := s.fs.waitOK(m, time.Second, is("CHANNEL_EXECUTE_COMPLETE", p, "Application", "say"))
	if !ok {
		t.Fatalf("say never completed")
	}
	t.Logf("say completed after %v with Application-Response %q", done.At.Sub(say.At).Round(time.Millisecond), done.Get("Application-Response"))
	if a, ok := s.fs.waitOK(m, time.Second, is("CHANNEL_ANSWER", p)); !ok || a.At.After(say.At) {
		t.Errorf("the call was not answered before the announcement")
	}
	if r, ok := slotOf(s.slots(t), p); !ok || fmt.Sprint(r["slot"]) != slot {
		t.Errorf("parkd slots: %v, want the call in slot %s", r, slot)
	}
}

// (c) Retrieving an empty slot: error tone, then the retriever is hung up.
func TestC_RetrieveEmptySlot(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	ret := s.sipp(t, "retriever", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*71219",
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": "4301", "from_name": "Nurse"}})
	r := s.inboundCall(t, m, "4301")
	tone, ok := s.fs.waitOK(m, 10*time.Second, is("CHANNEL_EXECUTE", r, "Application", "playback"))
	if !ok {
		t.Fatalf("no error tone for the retriever; its events: %s", s.fs.summary(m, r))
	}
	if d := tone.Get("Application-Data"); !strings.HasPrefix(d, "tone_stream://%(250,250,480,620)") {
		t.Errorf("playback %q, want the error tone", d)
	}
	end := s.gone(t, m, r, 10*time.Second)
	t.Logf("retriever hung up %v after the tone started: %s", end.At.Sub(tone.At).Round(time.Millisecond), end.Get("Hangup-Cause"))
	if d := end.At.Sub(tone.At); d < 1500*time.Millisecond {
		t.Errorf("hung up %v after the tone started; the tone lasts 2s", d)
	}
	if fin, ok := ret.wait(10 * time.Second); !fin || !ok {
		t.Errorf("retriever's sipp did not get a clean BYE (finished %v ok %v)", fin, ok)
	}
	for _, row := range s.history(t, r) {
		if row["event"] == "retrieved" {
			t.Errorf("history records a retrieve from an empty slot: %v", row)
		}
	}
	if _, ok := s.fs.waitOK(m, 0, is("CHANNEL_BRIDGE", r)); ok {
		t.Errorf("the retriever was bridged")
	}
}

// (d) The caller hangs up while parked: slot freed, abandoned recorded.
func TestD_CallerHangsUpWhileParked(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	pat := s.sipp(t, "patient", sippOpts{scenario: "uac_caller_hangup.xml", uac: true, service: "*70205",
		port: patientSIP, mport: patientRTP, tone: 500, args: []string{"-d", "4000"},
		keys: map[string]string{"from_user": "4401", "from_name": "Patient D"}})
	p := s.inboundCall(t, m, "4401")
	s.parkedWithMusic(t, m, p)
	row := s.waitHistory(t, p, "parked", 5*time.Second)
	want(t, row, "slot", 205)
	end := s.gone(t, m, p, 10*time.Second)
	if c := end.Get("Hangup-Cause"); c != "NORMAL_CLEARING" {
		t.Errorf("Hangup-Cause %s, want NORMAL_CLEARING", c)
	}
	if d := end.Get("variable_sip_hangup_disposition"); d != "recv_bye" {
		t.Errorf("sip_hangup_disposition %s, want recv_bye", d)
	}
	row = s.waitHistory(t, p, "abandoned", 5*time.Second)
	want(t, row, "slot", 205)
	if _, ok := slotOf(s.slots(t), p); ok {
		t.Errorf("parkd slots still lists the abandoned call")
	}
	if fin, ok := pat.wait(5 * time.Second); !fin || !ok {
		t.Errorf("patient's sipp: finished %v ok %v", fin, ok)
	}
}

// (e) Timeout recall to the registered parker: the INVITE carries the lot's
// Alert-Info and caller-ID name; answering bridges the caller.
func TestE1_RecallAnswered(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	parker := s.env.Users[1]
	s.register(t, parker, phoneReg, phoneSIP)
	phone := s.sipp(t, "phone", sippOpts{scenario: "uas_user_answer.xml", port: phoneSIP, mport: phoneRTP, tone: 1300})
	p, _, _ := s.parkByRefer(t, m, "4501", "Patient E", "*72", parker)
	s.parkedWithMusic(t, m, p)
	row := s.waitHistory(t, p, "parked", 5*time.Second)
	want(t, row, "lot", "recall")
	want(t, row, "parker", parker)
	slot := fmt.Sprint(row["slot"])
	mParked := s.fs.mark()

	s.waitHistory(t, p, "recall", 10*time.Second)
	br := s.bridgeOf(t, mParked, p, "", 15*time.Second)
	other := br.Get("Bridge-B-Unique-ID")
	if other == p {
		other = br.Get("Bridge-A-Unique-ID")
	}
	time.Sleep(3 * time.Second)
	invites := phone.received("INVITE ")
	if len(invites) == 0 {
		t.Fatal("the parker's phone got no INVITE")
	}
	inv := invites[0]
	if got := inv.Headers["alert-info"]; got != alertInfo {
		t.Errorf("recall INVITE Alert-Info %q, want %q", got, alertInfo)
	}
	wantName := `"Park ` + slot + ` - Patient E"`
	if got := inv.Headers["from"]; !strings.HasPrefix(got, wantName+" <sip:"+slot+"@") {
		t.Errorf("recall INVITE From %q, want display name %s and user %s", got, wantName, slot)
	}
	s.hears(t, "patient after the recall", patientRTP, 1300, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	s.hears(t, "parker's phone after the recall", phoneRTP, 500, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	row = s.waitHistory(t, p, "recalled", 5*time.Second)
	want(t, row, "parker", parker)
	if _, ok := slotOf(s.slots(t), p); ok {
		t.Errorf("parkd slots still lists the recalled call")
	}
	m2 := s.fs.mark()
	s.fs.api("uuid_kill " + p)
	s.gone(t, m2, other, 5*time.Second)
}

// (e) Busy, then no answer: each is recorded and retried, then the call
// goes to the lot's fallback.
func TestE2_RecallBusyNoAnswerFallback(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	parker := s.env.Users[1]
	s.register(t, parker, phoneReg, phoneSIP)
	busy := s.sipp(t, "phone-busy", sippOpts{scenario: "uas_user_busy.xml", port: phoneSIP})
	p, _, _ := s.parkByRefer(t, m, "4502", "Patient F", "*72", parker)
	s.parkedWithMusic(t, m, p)
	s.waitHistory(t, p, "parked", 5*time.Second)

	if fin, _ := busy.wait(15 * time.Second); !fin {
		t.Fatalf("the first recall never reached the busy phone; history: %s", rowsText(s.history(t, p)))
	}
	noAnswer := s.sipp(t, "phone-noanswer", sippOpts{scenario: "uas_user_noanswer.xml", port: phoneSIP})
	if inv := busy.received("INVITE "); len(inv) == 0 || inv[0].Headers["alert-info"] != alertInfo {
		t.Errorf("first recall INVITE: %v, want Alert-Info %q", inv, alertInfo)
	}
	row := s.waitHistoryN(t, p, "recall_failed", 1, 5*time.Second)
	if !strings.Contains(fmt.Sprint(row["reason"]), "USER_BUSY") {
		t.Errorf("first recall_failed reason %q, want USER_BUSY", row["reason"])
	}
	row = s.waitHistoryN(t, p, "recall_failed", 2, 20*time.Second)
	if !strings.Contains(fmt.Sprint(row["reason"]), "NO_ANSWER") {
		t.Errorf("second recall_failed reason %q, want NO_ANSWER", row["reason"])
	}
	if fin, ok := noAnswer.wait(5 * time.Second); !fin || !ok || len(noAnswer.received("CANCEL ")) == 0 {
		t.Errorf("the unanswered recall was not cancelled (finished %v ok %v)", fin, ok)
	}
	s.waitHistory(t, p, "fallback", 10*time.Second)
	ev, ok := s.fs.waitOK(m, 10*time.Second, is("CHANNEL_EXECUTE", p, "Application", "park"))
	if !ok {
		t.Fatalf("the call never reached the fallback extension; events: %s", s.fs.summary(m, p))
	}
	if d := ev.Get("Caller-Destination-Number"); d != fallbackExt {
		t.Errorf("fallback: the call runs park in %q, want extension %s", d, fallbackExt)
	}
	if !s.fs.exists(p) {
		t.Errorf("the caller was hung up instead of sent to the fallback")
	}
	if _, ok := slotOf(s.slots(t), p); ok {
		t.Errorf("parkd slots still lists the call sent to the fallback")
	}
}

// (f) parkd is killed while calls are parked: they keep their music, and
// the restarted parkd retrieves one and sees the other hang up.
func TestF_KillAndRestartWhileParked(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	s.sipp(t, "patient", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*70210",
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": "4601", "from_name": "Patient G"}})
	s.sipp(t, "patient2", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*70211",
		port: patient2SIP, mport: patient2RTP, tone: 500, keys: map[string]string{"from_user": "4602", "from_name": "Patient H"}})
	p1 := s.inboundCall(t, m, "4601")
	p2 := s.inboundCall(t, m, "4602")
	s.parkedWithMusic(t, m, p1)
	s.parkedWithMusic(t, m, p2)
	s.waitHistory(t, p1, "parked", 5*time.Second)
	s.waitHistory(t, p2, "parked", 5*time.Second)

	killedAt := time.Now()
	s.fs.note("SIGKILL %s", s.parkd.name)
	s.parkd.kill()
	time.Sleep(4 * time.Second)
	for _, p := range []string{p1, p2} {
		if r := s.fs.channelRow(p); r == nil || r["application"] != "endless_playback" {
			t.Errorf("with parkd dead, show channels row of %s: %v, want endless_playback", p, r)
		}
	}
	s.hearsAudio(t, "patient 1 while parkd is dead", patientRTP, killedAt.Add(500*time.Millisecond), time.Now())
	s.hearsAudio(t, "patient 2 while parkd is dead", patient2RTP, killedAt.Add(500*time.Millisecond), time.Now())

	d, err := startDaemon(s, "parkd-2")
	if err != nil {
		t.Fatal(err)
	}
	s.parkd = d
	occ := s.slots(t)
	for p, slot := range map[string]int{p1: 210, p2: 211} {
		if r, ok := slotOf(occ, p); !ok || int(r["slot"].(float64)) != slot {
			t.Errorf("after the restart parkd slots has %v for %s, want slot %d", r, p, slot)
		}
	}

	m2 := s.fs.mark()
	s.sipp(t, "retriever", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*71210",
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": "4603", "from_name": "Nurse"}})
	r := s.inboundCall(t, m2, "4603")
	br := s.bridgeOf(t, m2, p1, r, 10*time.Second)
	time.Sleep(3 * time.Second)
	s.hears(t, "patient 1 after the retrieve", patientRTP, 1000, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	s.hears(t, "retriever", retrieverRTP, 500, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	row := s.waitHistory(t, p1, "retrieved", 5*time.Second)
	want(t, row, "retriever", "4603")
	want(t, row, "slot", 210)

	s.fs.api("uuid_kill " + p2)
	s.gone(t, m2, p2, 5*time.Second)
	row = s.waitHistory(t, p2, "abandoned", 5*time.Second)
	want(t, row, "slot", 211)
}

// (g) parkd stops while a retrieved call is in conversation: the bridge is
// FreeSWITCH's, so both sides keep talking after parkd lets go of the
// retriever's socket (SIGTERM) and after a restart, and the call ends
// normally afterwards.
func TestG_StopWhileBridged(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	s.sipp(t, "patient", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*70212",
		port: patientSIP, mport: patientRTP, tone: 500, keys: map[string]string{"from_user": "4701", "from_name": "Patient I"}})
	p := s.inboundCall(t, m, "4701")
	s.parkedWithMusic(t, m, p)
	s.waitHistory(t, p, "parked", 5*time.Second)

	m2 := s.fs.mark()
	s.sipp(t, "retriever", sippOpts{scenario: "uac_caller.xml", uac: true, service: "*71212",
		port: retrieverSIP, mport: retrieverRTP, tone: 1000, keys: map[string]string{"from_user": "4702", "from_name": "Nurse"}})
	r := s.inboundCall(t, m2, "4702")
	s.bridgeOf(t, m2, p, r, 10*time.Second)
	s.waitHistory(t, p, "retrieved", 5*time.Second)

	stoppedAt := time.Now()
	s.fs.note("SIGTERM %s while %s and %s talk", s.parkd.name, p, r)
	s.parkd.stop()
	time.Sleep(3 * time.Second)
	for _, c := range []string{p, r} {
		if !s.fs.exists(c) {
			t.Fatalf("%s hung up when parkd stopped", c)
		}
	}
	s.hears(t, "patient after parkd stopped", patientRTP, 1000, stoppedAt.Add(500*time.Millisecond), time.Now())
	s.hears(t, "retriever after parkd stopped", retrieverRTP, 500, stoppedAt.Add(500*time.Millisecond), time.Now())

	d, err := startDaemon(s, "parkd-g")
	if err != nil {
		t.Fatal(err)
	}
	s.parkd = d
	time.Sleep(time.Second) // its reconcile has run
	for _, c := range []string{p, r} {
		if !s.fs.exists(c) {
			t.Fatalf("%s hung up when parkd restarted", c)
		}
	}
	if events := s.history(t, p); len(events) != 2 {
		t.Errorf("history after the restart has %d rows, want parked and retrieved only: %v", len(events), events)
	}
	s.fs.api("uuid_kill " + r)
	s.gone(t, m2, p, 5*time.Second)
}

// (h) parkd is not running: the generated dialplan's own fallback (not
// the suite's) takes the REFER-parked call. Before the socket application
// it recorded the transferor from Referred-By in parkd_return; the socket
// fails, the caller hears the error tone and is transferred back to
// reception. parkd, started again afterwards, has no record of the call.
func TestH_ParkdDownReturnsToTransferor(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	reception := s.env.Users[0]
	s.fs.note("SIGTERM %s: the generated dialplan's fallback takes the next park", s.parkd.name)
	s.parkd.stop()
	// Nothing may listen where the dialplan's socket goes, as when parkd
	// is not running: the suite's recording proxy would take the call and
	// close it without the connect a socket application waits for, which
	// is not what the dialplan's fallback is for.
	s.outTee.close()
	t.Cleanup(func() {
		if err := s.outTee.reopen(); err != nil {
			t.Errorf("listen again for the socket application: %v", err)
			return
		}
		d, err := startDaemon(s, "parkd-h")
		if err != nil {
			t.Errorf("restart parkd: %v", err)
			return
		}
		s.parkd = d
	})

	p, _, _ := s.parkByRefer(t, m, "4801", "Patient J", "*70213", reception)
	s.fs.wait(t, m, 5*time.Second, "parkd_return set from Referred-By before the socket application",
		is("CHANNEL_EXECUTE", p, "Application", "set", "Application-Data", "parkd_return="+reception))
	sock := s.fs.wait(t, m, 5*time.Second, "the socket application", is("CHANNEL_EXECUTE", p, "Application", "socket"))
	tone := s.fs.wait(t, m, 5*time.Second, "the dialplan's error tone after the failed socket",
		is("CHANNEL_EXECUTE", p, "Application", "playback"))
	if d := tone.Get("Application-Data"); d != esl.ErrorTone {
		t.Errorf("playback %q, want the error tone %q", d, esl.ErrorTone)
	}
	if tone.At.Before(sock.At) {
		t.Errorf("the tone played before the socket application")
	}
	back, ok := s.fs.waitOK(m, 10*time.Second, is("CHANNEL_EXECUTE", p, "Application", "transfer", "Application-Data", reception))
	if !ok {
		t.Fatalf("the caller was not transferred back to %s; its events: %s", reception, s.fs.summary(m, p))
	}
	if back.At.Sub(tone.At) < 1500*time.Millisecond {
		t.Errorf("transferred back %v after the tone started; the tone lasts 2s", back.At.Sub(tone.At))
	}
	if rows := s.history(t, p); len(rows) != 0 {
		t.Errorf("parkd's history has the call it never saw: %v", rows)
	}
}
