package interop

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// attended is an attended transfer in progress: the caller (A) talks to
// reception (B, a Go phone registered as Users[0]), reception has put her
// on hold and placed a consult call to the park code, which parkd parked
// in slot.
type attended struct {
	caller, reception *ua
	aCall             *dialog // the caller's side of A–B
	bCall             *dialog // reception's side of A–B
	consult           *dialog // reception's consult call to *70
	a                 string  // the caller's channel
	bLeg              string  // the switch's leg to reception in A–B
	c                 string  // the consult call's channel
	slot              int
	consultParked     int // observer mark before the consult call
}

// startAttended runs an attended transfer up to the point where reception
// has heard the slot on her consult call.
func (s *state) startAttended(t *testing.T, m int, number, name string) *attended {
	t.Helper()
	reception := s.env.Users[0]
	at := &attended{}
	at.reception = s.newUA(t, "reception", uaReceptionSIP, reception, reception, "Reception")
	at.reception.register()
	at.caller = s.newUA(t, "caller", uaCallerSIP, "", number, name)

	type placed struct {
		d *dialog
		r *sipMsg
	}
	res := make(chan placed, 1)
	go func() {
		d, r := at.caller.invite(reception, uaCallerRTP, 500)
		res <- placed{d, r}
	}()
	at.bCall = at.reception.nextCall(15 * time.Second)
	at.bCall.answer(uaReceptionRTP, 1500)
	var pl placed
	select {
	case pl = <-res:
	case <-time.After(15 * time.Second):
		t.Fatal("the caller's INVITE was not answered")
	}
	if pl.d == nil {
		t.Fatalf("the caller's call to %s failed: %s", reception, statusOf(pl.r))
	}
	at.aCall = pl.d
	at.a = s.inboundCall(t, m, number)
	br := s.bridgeOf(t, m, at.a, "", 10*time.Second)
	at.bLeg = br.Get("Bridge-B-Unique-ID")
	if at.bLeg == at.a {
		at.bLeg = br.Get("Bridge-A-Unique-ID")
	}

	// A desk phone holds the caller before it dials the consult call.
	if r := at.bCall.hold(); r == nil || r.status != 200 {
		t.Fatalf("hold (re-INVITE a=sendonly): %s", statusOf(r))
	}

	at.consultParked = s.fs.mark()
	cons, r := at.reception.invite("*70", uaConsultRTP, 1300)
	if cons == nil {
		t.Fatalf("the consult call to *70 was not answered: %s", statusOf(r))
	}
	at.consult = cons
	at.c = s.inboundCall(t, at.consultParked, reception)
	s.parkedWithMusic(t, at.consultParked, at.c)
	row := s.waitHistory(t, at.c, "parked", 5*time.Second)
	want(t, row, "lot", "interop")
	at.slot = int(row["slot"].(float64))
	t.Logf("consult call %s parked in slot %d, parker %q", at.c, at.slot, row["parker"])

	// She hears the slot: parkd announces it on the consult call.
	say, ok := s.fs.waitOK(at.consultParked, 5*time.Second, is("CHANNEL_EXECUTE", at.c, "Application", "say"))
	if !ok {
		t.Fatalf("no slot announcement on the consult call; its events: %s", s.fs.summary(at.consultParked, at.c))
	}
	if d, w := say.Get("Application-Data"), fmt.Sprintf("en number iterated %d", at.slot); d != w {
		t.Errorf("say %q on the consult call, want %q", d, w)
	}
	if _, ok := s.fs.waitOK(at.consultParked, 10*time.Second, is("CHANNEL_EXECUTE_COMPLETE", at.c, "Application", "say")); !ok {
		t.Fatalf("the announcement on the consult call never ended")
	}
	return at
}

// (i) Attended-transfer park: the caller ends up in the slot reception
// heard on her consult call, with reception as parker; the consult call is
// gone and recorded as replaced; another phone retrieves the caller.
func TestI_AttendedTransferPark(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	reception := s.env.Users[0]
	at := s.startAttended(t, m, "4901", "Caller I")

	mRefer := s.fs.mark()
	referAt := time.Now()
	s.fs.note("REFER with Replaces: %s replaces consult %s (slot %d)", at.a, at.c, at.slot)
	r := at.bCall.referReplaces("*70", at.consult)
	if r == nil || r.status != 202 {
		t.Fatalf("REFER with Replaces: %s", statusOf(r))
	}
	if line, ok := at.bCall.waitReferFinal(15 * time.Second); !ok {
		t.Errorf("no final NOTIFY sipfrag for the REFER: %s", line)
	} else {
		t.Logf("REFER NOTIFY sipfrag: %s", line)
	}

	// The consult call ends; parkd records its stay as replaced.
	end := s.gone(t, mRefer, at.c, 10*time.Second)
	t.Logf("consult channel hung up %v after the REFER: %s", end.At.Sub(referAt).Round(time.Millisecond), end.Get("Hangup-Cause"))
	rep := s.waitHistory(t, at.c, "replaced", 10*time.Second)
	want(t, rep, "slot", at.slot)

	// Who is parked in the slot now, as parkd sees it.
	occ := s.waitOccupant(t, "interop", at.slot, at.c, 10*time.Second)
	survivor, _ := occ["call"].(string)
	if survivor != at.a {
		t.Errorf("slot %d holds %s; the caller's channel was %s (a new channel survived the transfer?)", at.slot, survivor, at.a)
	}
	s.parkedWithMusic(t, mRefer, survivor)
	row := s.waitHistory(t, survivor, "parked", 5*time.Second)
	want(t, row, "lot", "interop")
	want(t, row, "slot", at.slot)
	want(t, row, "parker", reception)
	want(t, row, "caller_number", "4901")
	want(t, row, "caller_name", "Caller I")

	// Reception's two calls are over; the caller's is not.
	if !at.consult.waitEnded(10 * time.Second) {
		t.Errorf("reception's consult call was not hung up")
	}
	if !at.bCall.waitEnded(10 * time.Second) {
		t.Errorf("reception's call with the caller was not hung up after the transfer")
	}
	if !at.aCall.up() {
		t.Fatalf("the caller's call ended (%s)", at.aCall.endReason)
	}
	parkedAt := time.Now()
	time.Sleep(2 * time.Second)
	s.hearsAudio(t, "caller parked by attended transfer", uaCallerRTP, parkedAt, time.Now())

	s.saveAttendedCapture(t, mRefer, at, survivor)

	// Retrieve from another phone.
	m2 := s.fs.mark()
	ret := s.newUA(t, "retriever", uaRetrieverSIP, s.env.Users[1], s.env.Users[1], "Nurse")
	rd, rr := ret.invite(fmt.Sprintf("*71%d", at.slot), uaRetrieverRTP, 1000)
	if rd == nil {
		t.Fatalf("retrieve *71%d: %s", at.slot, statusOf(rr))
	}
	rc := s.inboundCall(t, m2, s.env.Users[1])
	br := s.bridgeOf(t, m2, survivor, rc, 10*time.Second)
	time.Sleep(3 * time.Second)
	s.hears(t, "caller after the retrieve", uaCallerRTP, 1000, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	s.hears(t, "retriever", uaRetrieverRTP, 500, br.At.Add(500*time.Millisecond), br.At.Add(2500*time.Millisecond))
	row = s.waitHistory(t, survivor, "retrieved", 5*time.Second)
	want(t, row, "slot", at.slot)
	want(t, row, "parker", reception)
	rd.bye()
	if !at.aCall.waitEnded(10 * time.Second) {
		t.Errorf("the caller was not hung up when the retriever hung up")
	}
}

// (i2) Reception hangs up the consult call instead of completing the
// transfer: the slot is free again and the caller is still with her.
func TestI2_AttendedTransferAbandoned(t *testing.T) {
	s := need(t)
	m := s.fresh(t)
	at := s.startAttended(t, m, "4902", "Caller I2")

	mBye := s.fs.mark()
	if r := at.consult.bye(); r == nil || r.status != 200 {
		t.Errorf("BYE on the consult call: %s", statusOf(r))
	}
	s.gone(t, mBye, at.c, 10*time.Second)
	row := s.waitHistory(t, at.c, "abandoned", 10*time.Second)
	want(t, row, "slot", at.slot)
	for _, o := range s.slots(t) {
		if int(o["slot"].(float64)) == at.slot && o["lot"] == "interop" {
			t.Errorf("slot %d still occupied after the consult call hung up: %v", at.slot, o)
		}
	}
	// Off hold: the caller and reception hear each other again.
	if r := at.bCall.inDialogInvite("sendrecv"); r == nil || r.status != 200 {
		t.Fatalf("unhold (re-INVITE a=sendrecv): %s", statusOf(r))
	}
	back := time.Now()
	time.Sleep(3 * time.Second)
	if !at.aCall.up() || !at.bCall.up() || !s.fs.exists(at.a) {
		t.Fatalf("the caller's call with reception ended")
	}
	s.hears(t, "caller back with reception", uaCallerRTP, 1500, back.Add(time.Second), time.Now())
	s.hears(t, "reception back with the caller", uaReceptionRTP, 500, back.Add(time.Second), time.Now())
	if rows := s.history(t, at.a); len(rows) != 0 {
		t.Errorf("parkd's history has the caller, who was never parked: %s", rowsText(rows))
	}
}

// waitOccupant waits until parkd's slots list a call other than not in
// lot/slot and returns its row.
func (s *state) waitOccupant(t *testing.T, lot string, slot int, not string, timeout time.Duration) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		occ := s.slots(t)
		for _, o := range occ {
			if o["lot"] == lot && int(o["slot"].(float64)) == slot && o["call"] != not {
				return o
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("parkd slots: nobody but %s in %s/%d within %v: %v", not, lot, slot, timeout, occ)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// saveAttendedCapture writes what the switch did in the attended transfer
// into the run directory (and, with PARKD_INTEROP_UPDATE=1, into the
// repository's test data): the connect reply of the caller's new socket
// connection, scrubbed, and an abridged sequence of the sockets and
// events of the caller's and the consult call's channels.
func (s *state) saveAttendedCapture(t *testing.T, from int, at *attended, survivor string) {
	t.Helper()
	conns := s.outboundConns(t)
	var reentry *eslConn
	var involved []*eslConn
	for _, c := range conns {
		switch c.uuid {
		case at.c:
			involved = append(involved, c)
		case survivor:
			involved = append(involved, c)
			reentry = c
		}
	}
	if reentry == nil {
		t.Errorf("no outbound socket connection of the caller's channel %s among %d recorded", survivor, len(conns))
		return
	}
	connect := scrubCapture(string(reentry.connectReply), s)
	var b strings.Builder
	b.WriteString("# Real FreeSWITCH, captured by the parkd interop suite (esl/interop, TestI_AttendedTransferPark).\n")
	b.WriteString("# Attended transfer into a parked consult call: reception (" + s.env.Users[0] + ") called *70 (consult, C), was parked,\n")
	b.WriteString("# then sent REFER with Refer-To <sip:*70@domain?Replaces=<C's dialog>> in her call with the caller (A).\n")
	fmt.Fprintf(&b, "# A = %s (the caller's channel), B = %s (the switch's leg to reception), C = %s (the consult call); slot %d.\n", at.a, at.bLeg, at.c, at.slot)
	if survivor != at.a {
		fmt.Fprintf(&b, "# The channel parked after the transfer is %s, not A.\n", survivor)
	}
	b.WriteString("# parkd's outbound sockets of C and of A (re-entry), then FreeSWITCH's events of both channels from the REFER on.\n")
	for _, c := range involved {
		b.WriteString(c.abridged())
	}
	b.WriteString("== observer (events from the REFER on)\n")
	for _, e := range s.fs.since(from, func(e obsEvent) bool {
		u := e.UniqueID()
		return (u == at.a || u == at.c || u == survivor || u == at.bLeg) && !noise(e)
	}) {
		label := map[string]string{at.a: "A", at.c: "C", at.bLeg: "B", survivor: "A"}[e.UniqueID()]
		b.WriteString(abridgeEvent(label, e))
	}
	s.saveTestdata(t, "../testdata/connect-attended-transfer.txt", connect)
	s.saveTestdata(t, "../fstest/testdata/attended-transfer.txt", scrubCapture(b.String(), s))
}
