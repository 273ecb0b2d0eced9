package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/fsconf"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

const wait5s = 5 * time.Second

// harness is parkd's real Main wired to the FreeSWITCH simulator over TCP,
// with its SQLite file in a temp dir.
type harness struct {
	t   *testing.T
	sim *fstest.Switch
	m   *Main
	cfg conf.Config
}

// lot builds a lot for tests; the harness validates the whole config.
func lot(name, slots string, edit func(*conf.Lot)) conf.Lot {
	l := conf.DefaultLot()
	l.Name, l.Slots = name, slots
	if edit != nil {
		edit(&l)
	}
	return l
}

func startHarness(t *testing.T, lots ...conf.Lot) *harness {
	t.Helper()
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim, lots...)}
	h.boot()
	return h
}

// startConfig is a validated config for parkd against sim, its store in a
// temp dir, listening on a port the system picks.
func startConfig(t *testing.T, sim *fstest.Switch, lots ...conf.Lot) conf.Config {
	t.Helper()
	c := conf.Default()
	c.ESL.FreeSWITCH = sim.Addr()
	c.Store.Path = filepath.Join(t.TempDir(), "parkd.db")
	if len(lots) == 0 {
		lots = []conf.Lot{lot("main", "201-220", nil)}
	}
	c.Lots = lots
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	c.ESL.Listen = "127.0.0.1:0"
	return c
}

// boot starts a parkd on the harness's config and store.
func (h *harness) boot() {
	h.t.Helper()
	h.bootWith(nil)
}

// bootWith is boot with set, if not nil, changing the daemon's options
// (pacing, backoffs) before it opens.
func (h *harness) bootWith(set func(*Main)) {
	h.t.Helper()
	m := &Main{Config: h.cfg, Logger: zerolog.New(zerolog.NewTestWriter(h.t)).Level(zerolog.InfoLevel),
		ReconnectBackoff: 20 * time.Millisecond}
	if set != nil {
		set(m)
	}
	if err := m.Open(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	h.m = m
	h.t.Cleanup(func() {
		if h.m == m {
			m.Close()
		}
	})
	select {
	case <-m.Client.Connected():
	case <-time.After(wait5s):
		h.t.Fatal("parkd did not connect to the simulator")
	}
}

// stop shuts parkd down gracefully.
func (h *harness) stop() {
	h.t.Helper()
	if err := h.m.Close(); err != nil {
		h.t.Fatal(err)
	}
	h.m = nil
}

type callOpt func(*fstest.CallSpec)

func transferredBy(parker string) callOpt {
	return func(s *fstest.CallSpec) {
		s.Answered, s.Callee, s.ReferredBy = true, parker, "<sip:"+parker+"@127.0.0.1>"
	}
}

func caller(name, number string) callOpt {
	return func(s *fstest.CallSpec) { s.CallerName, s.CallerNumber = name, number }
}

func (h *harness) call(action, lotName, slot string, opts ...callOpt) *fstest.Channel {
	h.t.Helper()
	spec := fstest.CallSpec{
		SocketAddr: h.m.ListenAddr(), CallerName: "Patient", CallerNumber: "5550100",
		Destination: "*7x" + slot,
		Vars:        map[string]string{"parkd_action": action, "parkd_lot": lotName, "parkd_slot": slot},
		AfterSocket: fsconf.FallbackApps(),
	}
	for _, o := range opts {
		o(&spec)
	}
	ch, err := h.sim.Call(spec)
	if err != nil {
		h.t.Fatal(err)
	}
	return ch
}

func (h *harness) park(slot string, opts ...callOpt) *fstest.Channel {
	h.t.Helper()
	ch := h.call("park", "main", slot, append([]callOpt{transferredBy("1000")}, opts...)...)
	h.waitFor(ch, "parked with music", parked)
	return ch
}

func (h *harness) waitFor(ch *fstest.Channel, what string, cond func(fstest.ChannelState) bool) fstest.ChannelState {
	h.t.Helper()
	st, err := ch.WaitFor(wait5s, cond)
	if err != nil {
		h.t.Fatalf("%s: %v", what, err)
	}
	return st
}

func parked(s fstest.ChannelState) bool {
	return s.Alive && strings.HasPrefix(s.Hearing, "music:") && !s.SocketConnected
}
func bridgedTo(ch *fstest.Channel) func(fstest.ChannelState) bool {
	return func(s fstest.ChannelState) bool { return s.Alive && s.Hearing == "bridge:"+ch.UUID() }
}
func hungUp(s fstest.ChannelState) bool { return !s.Alive }

// refusedAndReturned: the error tone, then sent back to the parker.
func refusedAndReturned(parker string) func(fstest.ChannelState) bool {
	return func(s fstest.ChannelState) bool {
		return slices.Contains(s.Played, esl.ErrorTone) && s.Destination == parker && !s.SocketConnected
	}
}

// refusedAndHungUp: the error tone, then hung up.
func refusedAndHungUp(s fstest.ChannelState) bool {
	return slices.Contains(s.Played, esl.ErrorTone) && !s.Alive
}

func (h *harness) history(call string) []parking.Event {
	h.t.Helper()
	rows, err := h.m.DB.History(context.Background(), store.HistoryFilter{Call: parking.CallID(call)})
	if err != nil {
		h.t.Fatal(err)
	}
	var out []parking.Event
	for _, r := range rows {
		out = append(out, r.Event)
	}
	return out
}

func (h *harness) lastRow(call string) store.HistoryRow {
	h.t.Helper()
	rows, err := h.m.DB.History(context.Background(), store.HistoryFilter{Call: parking.CallID(call)})
	if err != nil || len(rows) == 0 {
		h.t.Fatalf("no history for %s: %v", call, err)
	}
	return rows[len(rows)-1]
}

func (h *harness) occupied() []parking.Occupant {
	h.t.Helper()
	occ, err := h.m.DB.Occupied(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return occ
}

// eventually polls cond, for what the switch does asynchronously.
func (h *harness) eventually(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(wait5s)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Ensure the hospital flow end to end: a blind-transferred caller is parked
// in the slot asked for with music and the receptionist as parker, stays
// parked after parkd's socket closes, is retrieved by another phone with the
// retriever answered first, and both legs end together.
func TestE2E_ParkAndRetrieve(t *testing.T) {
	h := startHarness(t)
	jane := h.park("202", caller("Jane Roe", "+15550100"))
	st := jane.State()
	if st.Vars["parkd_slot"] != "202" || st.Vars["parkd_lot"] != "main" || st.Vars["parkd_parker"] != "1000" || st.Vars["parkd_parked_at"] == "" {
		t.Fatalf("park facts not on the channel: %v", st.Vars)
	}
	if occ := h.occupied(); len(occ) != 1 || occ[0].Slot != 202 || occ[0].Parker != "1000" || occ[0].Caller.Name != "Jane Roe" {
		t.Fatalf("occupancy=%+v", occ)
	}

	smith := h.call("retrieve", "main", "202", caller("Dr. Smith", "2002"))
	h.waitFor(jane, "jane bridged to Dr. Smith", bridgedTo(smith))
	h.waitFor(smith, "Dr. Smith bridged to jane", bridgedTo(jane))
	if !smith.State().Answered {
		t.Fatal("retriever not answered before the bridge")
	}
	h.eventually("retrieved recorded", func() bool {
		return slices.Equal(h.history(jane.UUID()), []parking.Event{parking.EventParked, parking.EventRetrieved})
	})
	if r := h.lastRow(jane.UUID()); r.Retriever != "2002" || r.Parker != "1000" {
		t.Fatalf("retrieved row=%+v", r)
	}
	if len(h.occupied()) != 0 {
		t.Fatal("slot not freed")
	}

	smith.Hangup("")
	h.waitFor(jane, "jane hung up with Dr. Smith", hungUp)
}

// Ensure the parked leg hanging up ends the retriever's leg too.
func TestE2E_RetrievedCallerHangsUp(t *testing.T) {
	h := startHarness(t)
	jane := h.park("203")
	r := h.call("retrieve", "main", "203")
	h.waitFor(jane, "bridged", bridgedTo(r))
	h.eventually("retrieved recorded", func() bool {
		return slices.Equal(h.history(jane.UUID()), []parking.Event{parking.EventParked, parking.EventRetrieved})
	})
	jane.Hangup("")
	h.waitFor(r, "retriever hung up with the caller", hungUp)
	if got, want := h.history(jane.UUID()), []parking.Event{parking.EventParked, parking.EventRetrieved}; !slices.Equal(got, want) {
		t.Fatalf("history after hangup=%v, want %v (no abandoned after a retrieve)", got, want)
	}
}

// Ensure parked calls keep their music when parkd exits, and a new parkd
// re-adopts and retrieves them.
func TestE2E_SurvivesParkdExit(t *testing.T) {
	h := startHarness(t)
	jane := h.park("205")
	h.stop()
	time.Sleep(50 * time.Millisecond)
	if st := jane.State(); !parked(st) {
		t.Fatalf("after parkd exit: %v", st)
	}
	h.boot()
	r := h.call("retrieve", "main", "205")
	h.waitFor(jane, "bridged after restart", bridgedTo(r))
}

// Ensure a park into the next free slot announces the slot before the music.
func TestE2E_AutoParkAnnounced(t *testing.T) {
	h := startHarness(t, lot("main", "201-220", func(l *conf.Lot) { l.Announce = true }))
	h.park("201")
	tom := h.park("")
	st := tom.State()
	if st.Vars["parkd_slot"] != "202" {
		t.Fatalf("auto park took slot %q, want 202", st.Vars["parkd_slot"])
	}
	i := slices.Index(st.Played, "en number iterated 202")
	j := slices.Index(st.Played, "local_stream://moh")
	if i < 0 || j < i {
		t.Fatalf("played=%q: want the slot said, then music", st.Played)
	}
}

// Ensure a parked caller who hangs up frees the slot at once and is
// recorded as abandoned, although parkd's socket to it is long closed.
func TestE2E_Abandon(t *testing.T) {
	h := startHarness(t)
	ann := h.park("207")
	ann.Hangup("")
	h.eventually("slot freed", func() bool { return len(h.occupied()) == 0 })
	if got, want := h.history(ann.UUID()), []parking.Event{parking.EventParked, parking.EventAbandoned}; !slices.Equal(got, want) {
		t.Fatalf("history=%v, want %v", got, want)
	}
	h.park("207") // reusable
}

// Ensure retrieving an empty slot gives the error tone and a hangup.
func TestE2E_RetrieveEmpty(t *testing.T) {
	h := startHarness(t)
	r := h.call("retrieve", "main", "210")
	h.waitFor(r, "refused", refusedAndHungUp)
}

// Ensure two racing retrievers: exactly one is bridged, the others hear the
// error, and uuid_bridge goes out once.
func TestE2E_RetrieveRace(t *testing.T) {
	h := startHarness(t)
	jane := h.park("211")
	var rs []*fstest.Channel
	var wg sync.WaitGroup
	var mu sync.Mutex
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ch := h.call("retrieve", "main", "211", caller("R", fmt.Sprint(3000+i)))
			mu.Lock()
			rs = append(rs, ch)
			mu.Unlock()
		}()
	}
	wg.Wait()
	h.eventually("one bridged, others refused", func() bool {
		bridged, refused := 0, 0
		for _, r := range rs {
			st := r.State()
			if st.Alive && strings.HasPrefix(st.Hearing, "bridge:") {
				bridged++
			} else if refusedAndHungUp(st) {
				refused++
			}
		}
		return bridged == 1 && refused == 3
	})
	bridges := 0
	for _, c := range h.sim.Commands() {
		if strings.Contains(c, "uuid_bridge "+jane.UUID()) {
			bridges++
		}
	}
	if bridges != 1 {
		t.Fatalf("%d uuid_bridge commands for the parked call, want 1", bridges)
	}
}

// parkAtOnce parks n calls into lot main at slot (empty: any free slot)
// at the same time, all transferred by 1000, and returns their channels.
func (h *harness) parkAtOnce(n int, slot string) []*fstest.Channel {
	chans := make([]*fstest.Channel, n)
	var wg sync.WaitGroup
	for i := range chans {
		wg.Go(func() { chans[i] = h.call("park", "main", slot, transferredBy("1000")) })
	}
	wg.Wait()
	return chans
}

// parkedOrReturned counts the calls parked and the calls refused and sent
// back to 1000.
func parkedOrReturned(chans []*fstest.Channel) (p, ret int) {
	for _, ch := range chans {
		st := ch.State()
		switch {
		case parked(st):
			p++
		case refusedAndReturned("1000")(st):
			ret++
		}
	}
	return p, ret
}

// Ensure parks racing for one slot never share it: one parks, the others
// hear the error tone and go back to the receptionist.
func TestE2E_ParkRace(t *testing.T) {
	h := startHarness(t)
	chans := h.parkAtOnce(8, "212")
	h.eventually("one parked, seven returned", func() bool {
		p, ret := parkedOrReturned(chans)
		return p == 1 && ret == 7
	})
	if occ := h.occupied(); len(occ) != 1 {
		t.Fatalf("occupancy=%+v", occ)
	}
}

// Ensure simultaneous auto-parks fill a lot with distinct slots and refuse
// the calls that do not fit.
func TestE2E_AutoParkFill(t *testing.T) {
	h := startHarness(t, lot("main", "201-205", nil))
	chans := h.parkAtOnce(9, "")
	h.eventually("five parked, four returned", func() bool {
		p, ret := parkedOrReturned(chans)
		return p == 5 && ret == 4
	})
	seen := map[int]bool{}
	for _, o := range h.occupied() {
		if seen[o.Slot] {
			t.Fatalf("slot %d held twice", o.Slot)
		}
		seen[o.Slot] = true
	}
	if len(seen) != 5 {
		t.Fatalf("%d slots held, want 5", len(seen))
	}
}

// Ensure the lots' policies: on_occupied = next moves and announces,
// on_full = overflow:<lot> spills into the other lot.
func TestE2E_Policies(t *testing.T) {
	main := lot("main", "201-202", func(l *conf.Lot) { l.OnOccupied = "next"; l.OnFull = "overflow:spill" })
	spill := lot("spill", "901-901", func(l *conf.Lot) { l.ParkCode, l.RetrieveCode = "*80", "*81" })
	h := startHarness(t, main, spill)
	h.park("201")
	moved := h.park("201")
	if st := moved.State(); st.Vars["parkd_slot"] != "202" || !slices.Contains(st.Played, "en number iterated 202") {
		t.Fatalf("next: slot %q, played %q", st.Vars["parkd_slot"], st.Played)
	}
	spilled := h.park("")
	if st := spilled.State(); st.Vars["parkd_lot"] != "spill" || st.Vars["parkd_slot"] != "901" {
		t.Fatalf("overflow: %v", st.Vars)
	}
	full := h.call("park", "main", "", transferredBy("1000"))
	h.waitFor(full, "refused when everything is full", refusedAndReturned("1000"))
	if got := h.lastRow(full.UUID()); got.Event != parking.EventRejected {
		t.Fatalf("last row=%+v, want rejected", got)
	}
}

// Ensure bad requests are refused politely and change nothing: parks hear
// the tone and go back to the parker, retrieves hear it and hang up.
func TestE2E_BadInput(t *testing.T) {
	h := startHarness(t)
	for _, tc := range []struct {
		name, action, lot, slot string
		rejectedRow             bool
	}{
		{name: "UnknownLot", action: "park", lot: "nope", slot: "201", rejectedRow: true},
		{name: "SlotOutOfRange", action: "park", lot: "main", slot: "999", rejectedRow: true},
		{name: "SlotNotDigits", action: "park", lot: "main", slot: "20a"},
		{name: "SlotInjection", action: "park", lot: "main", slot: "201\n\napi hupall"},
		{name: "LotInjection", action: "park", lot: "main' x", slot: "201"},
		{name: "NoAction", action: "", lot: "main", slot: "201"},
		{name: "RetrieveUnknownLot", action: "retrieve", lot: "nope", slot: "201"},
		{name: "RetrieveNotDigits", action: "retrieve", lot: "main", slot: "x"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := h.call(tc.action, tc.lot, tc.slot, transferredBy("1000"))
			if tc.action == "retrieve" {
				h.waitFor(ch, "refused", refusedAndHungUp)
			} else {
				h.waitFor(ch, "returned", refusedAndReturned("1000"))
			}
			if len(h.occupied()) != 0 {
				t.Fatal("a slot was taken")
			}
			rows := h.history(ch.UUID())
			if tc.rejectedRow && !slices.Equal(rows, []parking.Event{parking.EventRejected}) {
				t.Fatalf("history=%v, want one rejected row", rows)
			}
			if !tc.rejectedRow && len(rows) != 0 {
				t.Fatalf("history=%v, want none", rows)
			}
		})
	}
	for _, c := range h.sim.Commands() {
		if strings.Contains(c, "hupall") {
			t.Fatalf("injected command reached the switch: %q", c)
		}
	}
}

// Ensure parkd notices a dropped inbound connection, reconnects, and
// catches a hangup it missed meanwhile by reconciling.
func TestE2E_InboundReconnect(t *testing.T) {
	h := startHarness(t)
	ann := h.park("213")
	kept := h.park("214")
	h.sim.DropInbound()
	ann.Hangup("") // its CHANNEL_HANGUP_COMPLETE reaches no one
	h.eventually("reconnected and reconciled", func() bool {
		ev := h.history(ann.UUID())
		return len(ev) == 2 && ev[1] == parking.EventLost
	})
	r := h.call("retrieve", "main", "214")
	h.waitFor(kept, "the other call still retrievable", bridgedTo(r))
}

// Ensure a call from a switch outside esl.allow is never parked: it hears
// the error tone and goes back to its parker, as a bad request does.
func TestE2E_NotAllowed(t *testing.T) {
	h := startHarness(t)
	h.stop()
	h.cfg.ESL.Allow = []string{"10.0.0.0/8"}
	h.boot()
	ch := h.call("park", "main", "201", transferredBy("1000"))
	// Refused like a bad request, never by closing the socket before its
	// connect: the real switch would then keep the call parked, silent.
	st := h.waitFor(ch, "refused and returned to the parker", refusedAndReturned("1000"))
	if got := st.Vars[esl.VarRefused]; got != esl.RefusedNotAllowed {
		t.Errorf("%s=%q, want %q", esl.VarRefused, got, esl.RefusedNotAllowed)
	}
	if len(h.occupied()) != 0 {
		t.Fatal("a refused connection parked a call")
	}
}

func storeFilter(call string) store.HistoryFilter {
	return store.HistoryFilter{Call: parking.CallID(call)}
}
