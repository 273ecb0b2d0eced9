package esl_test

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// markedCall makes a channel that carries parkd's marks as a park by
// instance writes them and hears the park's music, without a parkd: the
// socket application finds nobody at dead and the dialplan goes on to the
// music. A survey cannot tell it from a call parkd parked.
func markedCall(t *testing.T, sim *fstest.Switch, dead, instance string, slot int) *fstest.Channel {
	t.Helper()
	ch, _ := sim.Call(fstest.CallSpec{
		SocketAddr: dead, CallerNumber: "555" + strconv.Itoa(slot), Answered: true,
		Vars: map[string]string{esl.VarInstance: instance, esl.VarLot: "main", esl.VarSlot: strconv.Itoa(slot),
			esl.VarParker: "1000", esl.VarParkedAt: "2026-12-01T09:00:00.000Z"},
		AfterSocket: []string{"endless_playback local_stream://moh"},
	})
	if ch == nil {
		t.Fatal("no channel")
	}
	return ch
}

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string { t.Helper(); return deadAddrB(t) }

func deadAddrB(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// getvars counts the uuid_getvar the switch has received.
func getvars(sim *fstest.Switch) int {
	n := 0
	for _, c := range sim.Commands() {
		if strings.HasPrefix(c, "in: api uuid_getvar ") {
			n++
		}
	}
	return n
}

// Ensure a survey of many channels, more than its pipeline holds at once,
// reports each as before: the calls parkd knows with whether they are
// still parked (two uuid_getvar each: the instance and the current
// application), the calls it does not know with all their marks, to be
// adopted (eight), nobody else's (one); and that a known call gone from
// the switch is not reported.
func TestClient_SurveyManyChannels(t *testing.T) {
	sim, c := startSwitch(t)
	c.Instance = "pbx1"
	dead := deadAddr(t)
	const knownN, unknownN, otherN, talkN = 400, 150, 60, 60
	var known []parking.CallID
	for i := range knownN {
		known = append(known, parking.CallID(markedCall(t, sim, dead, "pbx1", 1000+i).UUID()))
	}
	unknown := map[parking.CallID]int{}
	for i := range unknownN {
		unknown[parking.CallID(markedCall(t, sim, dead, "pbx1", 2000+i).UUID())] = 2000 + i
	}
	for i := range otherN {
		markedCall(t, sim, dead, "pbx2", 3000+i)
	}
	for range talkN {
		if _, _, err := sim.Talk(fstest.TalkSpec{FromUser: "2001", FromName: "Other call", ToUser: "2002"}); err != nil {
			t.Fatal(err)
		}
	}
	// One known call hangs up, and one more parkd knows never existed.
	gone := sim.Channel(string(known[0]))
	gone.Hangup("NORMAL_CLEARING")
	if _, err := gone.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.Alive }); err != nil {
		t.Fatal(err)
	}
	known = append(known, parking.CallID(esl.NewUUID()))

	before := getvars(sim)
	chans, err := c.Survey(ctxT(t, 20*time.Second), known)
	if err != nil {
		t.Fatal(err)
	}
	got := map[parking.CallID]parking.Channel{}
	for _, ch := range chans {
		if _, dup := got[ch.Call]; dup {
			t.Errorf("%s reported twice", ch.Call)
		}
		got[ch.Call] = ch
	}
	if len(got) != knownN-1+unknownN {
		t.Errorf("%d channels reported, want %d known (one of them gone) and %d to adopt", len(got), knownN-1, unknownN)
	}
	for _, k := range known[1:knownN] {
		if ch, ok := got[k]; !ok || !ch.Parked || ch.Bridged || ch.RecallFor != "" {
			t.Fatalf("known call %s: %+v (found %v), want it parked", k, ch, ok)
		}
	}
	for _, k := range []parking.CallID{known[0], known[knownN]} {
		if ch, ok := got[k]; ok {
			t.Errorf("a known call no longer on the switch was reported: %+v", ch)
		}
	}
	want := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for call, slot := range unknown {
		ch, ok := got[call]
		if !ok || !ch.Parked || ch.Slot != slot || ch.Lot != "main" || ch.Parker != "1000" || !ch.ParkedAt.Equal(want) {
			t.Fatalf("call to adopt %s: %+v (found %v), want main/%d parked by 1000 at %v", call, ch, ok, slot, want)
		}
	}
	// The cost: per channel, what its branch reads. Known: instance and
	// application. To adopt: instance, recall mark, slot, lot, parker,
	// domain, application, parked-at. Another instance's or nobody's: the
	// instance. A known call that is gone answers its first read with
	// -ERR, and the other is read with it.
	wantReads := (knownN+1)*2 + unknownN*8 + otherN + 2*talkN
	if n := getvars(sim) - before; n != wantReads {
		t.Errorf("%d uuid_getvar, want %d", n, wantReads)
	}
}

// Ensure a survey works when `show calls` is longer than the 16 MiB any
// other frame may be: FreeSWITCH sends an api answer whole, however many
// channels it lists. The listing here is made long by long caller names
// on a few thousand bridged calls, rather than by tens of thousands of
// channels, to keep the test quick; the frame is the same.
func TestClient_SurveyListingOver16MiB(t *testing.T) {
	sim, c := startSwitch(t)
	c.Instance = "pbx1"
	dead := deadAddr(t)
	parked := markedCall(t, sim, dead, "pbx1", 201)
	name := strings.Repeat("Long caller name ", 1000) // 17 KB, in two columns of the pair's row
	pairs := 0
	for size := 0; size <= esl.DefaultLimits.MaxBody+1<<20; size += 2 * len(name) {
		if _, _, err := sim.Talk(fstest.TalkSpec{FromUser: "2001", FromName: name, ToUser: "2002"}); err != nil {
			t.Fatal(err)
		}
		pairs++
	}
	chans, err := c.Survey(ctxT(t, 60*time.Second), []parking.CallID{parking.CallID(parked.UUID())})
	if err != nil {
		t.Fatalf("survey with %d bridged pairs listed: %v", pairs, err)
	}
	if len(chans) != 1 || chans[0].Call != parking.CallID(parked.UUID()) || !chans[0].Parked {
		t.Fatalf("surveyed %v, want the parked call", chans)
	}
	select {
	case <-c.Connected():
	default:
		t.Fatal("the inbound connection was dropped")
	}
	if n := listingSize(t, sim); n <= esl.DefaultLimits.MaxBody {
		t.Fatalf("show calls: %d bytes; the test needs more than %d", n, esl.DefaultLimits.MaxBody)
	}
}

// listingSize is the Content-Length of the switch's answer to `api show
// calls as json`, asked on a connection of its own.
func listingSize(t *testing.T, sim *fstest.Switch) int {
	t.Helper()
	nc, err := net.Dial("tcp", sim.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(time.Minute))
	r := esl.NewReaderLimits(nc, esl.InboundLimits)
	for _, cmd := range []string{"", "auth ClueCon\n\n", "api show calls as json\n\n"} {
		if cmd != "" {
			if _, err := nc.Write([]byte(cmd)); err != nil {
				t.Fatal(err)
			}
		}
		f, err := r.ReadFrame()
		if err != nil {
			t.Fatal(err)
		}
		if f.ContentType() == esl.TypeAPIResponse {
			return len(f.Body)
		}
	}
	t.Fatal("no api/response to show calls")
	return 0
}

// Ensure a call parkd holds that carries a recall mark (a recall leg that
// was parked itself, after its parker took the call and was transferred
// into the park) is reported as the parked call it is, not as a stray
// recall leg, which the reconcile would hang up.
func TestClient_SurveyKnownCallWithRecallMark(t *testing.T) {
	sim, c := startSwitch(t)
	c.Instance = "pbx1"
	ch, _ := sim.Call(fstest.CallSpec{
		SocketAddr: deadAddr(t), CallerNumber: "1000", Answered: true,
		Vars: map[string]string{esl.VarInstance: "pbx1", esl.VarLot: "main", esl.VarSlot: "202",
			esl.VarRecallFor: esl.NewUUID(), esl.VarParkedAt: "2026-12-01T09:00:00.000Z"},
		AfterSocket: []string{"endless_playback local_stream://moh"},
	})
	if _, err := ch.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return strings.HasPrefix(s.Hearing, "music:") }); err != nil {
		t.Fatal(err)
	}
	chans, err := c.Survey(ctxT(t, 5*time.Second), []parking.CallID{parking.CallID(ch.UUID())})
	if err != nil {
		t.Fatal(err)
	}
	if len(chans) != 1 || !chans[0].Parked || chans[0].RecallFor != "" {
		t.Fatalf("surveyed %+v, want the call parked and no recall leg", chans)
	}
}
