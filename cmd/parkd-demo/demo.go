package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/cli"
	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/daemon"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/fsconf"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := cli.NewFlags("parkd-demo", "Run a hospital scenario: parkd against the built-in FreeSWITCH simulator, narrated.", stderr)
	db := fs.String("db", "parkd-demo.db", "SQLite `PATH` to write (must not exist yet; kept afterwards)")
	cfgPath := fs.String("c", "", "configuration `FILE` whose first lot (3 slots or more) the scenario uses; default: a reception lot 201-220 that announces slots")
	serve := fs.Bool("serve", false, "instead of the narrated scenario, keep running with a stream of synthetic calls and serve the reception board")
	listen := fs.String("listen", conf.DefaultHTTPListen, "with --serve: the board's `ADDRESS`")
	serveFor := fs.Duration("for", 0, "with --serve: stop after this `DURATION` (default: run until interrupted)")
	if err := cli.Parse(fs, args); err != nil {
		return err
	}
	lot := demoLot()
	if *cfgPath != "" {
		c, err := cli.LoadConfig(*cfgPath)
		if err != nil {
			return err
		}
		if lot = c.Lots[0]; lot.Size() < 3 {
			return fmt.Errorf("demo: lot %s has %d slot(s); the scenario needs 3", lot.Name, lot.Size())
		}
	}
	if st, err := os.Stat(*db); err == nil && st.Size() > 0 {
		return fmt.Errorf("demo: %s already exists; remove it or pass another --db", *db)
	}
	sim, err := fstest.New(fstest.Options{PlaybackTime: 700 * time.Millisecond})
	if err != nil {
		return fmt.Errorf("demo: start the FreeSWITCH simulator: %w", err)
	}
	defer sim.Close()

	c := demoConfig(sim.Addr(), *db, lot)
	if *serve {
		return serveDemo(ctx, sim, c, serveOptions{Listen: *listen, For: *serveFor, Every: 3 * time.Second}, stdout)
	}
	// parkd's log lines and the narration interleave on one writer.
	stdout = zerolog.SyncWriter(stdout)
	logger, err := daemon.NewLogger(conf.Log{Level: "info", Format: "console"}, stdout)
	if err != nil {
		return err
	}
	m := &daemon.Main{Config: c, Logger: logger}
	if err := m.Open(ctx); err != nil {
		return err
	}
	defer m.Close()
	select {
	case <-m.Client.Connected():
	case <-time.After(5 * time.Second):
		return errors.New("demo: parkd did not connect to the simulator")
	}
	d := &demo{w: stdout, m: m, sim: sim, lot: lot, start: time.Now()}
	if err := d.run(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// demoLot is the built-in scenario's lot: a reception desk's, announcing slots.
func demoLot() conf.Lot {
	lot := conf.DefaultLot()
	lot.Name, lot.Slots, lot.First, lot.Last, lot.Announce = "reception", "201-220", 201, 220, true
	// A short timeout and recall cycle so the recall scene (a missed
	// recall, then an answered one) fits the demo; every other call is
	// picked up well before the timeout. Each value is one a real config
	// accepts (ring_for is at least 5s).
	lot.Timeout = 6 * time.Second
	lot.Recall.RingFor = 5 * time.Second
	lot.Recall.RetryAfter = 2 * time.Second
	return lot
}

// maxDemoRecall is the longest wait the demo sits through to show the
// recall scene: the lot's timeout, one unanswered recall and the pause
// before the next.
const maxDemoRecall = 15 * time.Second

// answerAfter is how long reception's phone rings before she picks up the
// second recall.
const answerAfter = 1500 * time.Millisecond

// demoConfig runs the lot on loopback ports the system picks.
func demoConfig(freeswitch, db string, lot conf.Lot) conf.Config {
	c := conf.Default()
	c.ESL.Listen = "127.0.0.1:0"
	c.ESL.FreeSWITCH = freeswitch
	c.Store.Path = db
	c.Lots = []conf.Lot{lot}
	// Reception's phone has busy-lamp keys for the slots: the scenario
	// shows what they say.
	c.BLF.Enabled = true
	return c
}

// demo narrates the scenario.
type demo struct {
	w     io.Writer
	m     *daemon.Main
	sim   *fstest.Switch
	lot   conf.Lot
	start time.Time
}

func (d *demo) say(format string, args ...any) {
	fmt.Fprintf(d.w, "\n[%6.2fs] %s\n", time.Since(d.start).Seconds(), fmt.Sprintf(format, args...))
}

func (d *demo) pause() { time.Sleep(700 * time.Millisecond) }

// call places a call the dialplan hands to parkd, as fsconf's extensions do.
func (d *demo) call(name, number, dest, action, slot string, transferredBy string) (*fstest.Channel, error) {
	vars := map[string]string{"parkd_action": action, "parkd_lot": d.lot.Name, "parkd_slot": slot}
	spec := fstest.CallSpec{
		SocketAddr: d.m.ListenAddr(), CallerName: name, CallerNumber: number, Destination: dest, Vars: vars,
		BeforeSocket: fsconf.BeforeSocketApps(), AfterSocket: fsconf.FallbackApps(),
	}
	if transferredBy != "" {
		spec.Answered, spec.Callee = true, transferredBy
		spec.ReferredBy = "<sip:" + transferredBy + "@hospital.example>"
	}
	return d.sim.Call(spec)
}

func hearing(prefix string) func(fstest.ChannelState) bool {
	return func(s fstest.ChannelState) bool { return strings.HasPrefix(s.Hearing, prefix) }
}

func gone(s fstest.ChannelState) bool { return !s.Alive }

const wait = 10 * time.Second

func (d *demo) slots() {
	fmt.Fprintln(d.w, "\n  $ parkd slots")
	occ, err := d.m.DB.Occupied(context.Background())
	if err != nil {
		fmt.Fprintln(d.w, "  (cannot read the store:", err, ")")
		return
	}
	var b strings.Builder
	_ = cli.PrintSlots(&b, occ, time.Now())
	fmt.Fprint(d.w, indent(b.String()))
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}

func (d *demo) run(ctx context.Context) error {
	park, get := d.lot.ParkCode, d.lot.RetrieveCode
	first, slot := strconv.Itoa(d.lot.First), strconv.Itoa(d.lot.First+1)
	other := strconv.Itoa(d.lot.First + 2)
	d.say("St. Mary's reception. Jane Roe (+1 555 0100) calls; reception (ext 1000) answers,\n"+
		"          then blind-transfers her to %s: \"park on %s\".", park+slot, slot)
	jane, err := d.call("Jane Roe", "+15550100", park+slot, "park", slot, "1000")
	if err != nil {
		return err
	}
	if err := d.reached(jane, hearing("music:"), parking.EventParked); err != nil {
		return fmt.Errorf("jane not parked: %w", err)
	}
	d.say("Jane is parked in slot %s and hears hold music. Reception pages: \"Dr. Smith, a call on %s\".", slot, slot)
	d.lamp(slot, "confirmed")
	d.slots()
	d.pause()

	d.say("Dr. Smith dials %s from the ward phone (ext 2002).", get+slot)
	smith, err := d.call("Dr. Smith", "2002", get+slot, "retrieve", slot, "")
	if err != nil {
		return err
	}
	if err := d.reached(jane, hearing("bridge:"+smith.UUID()), parking.EventRetrieved); err != nil {
		return fmt.Errorf("jane not bridged to Dr. Smith: %w", err)
	}
	d.say("parkd answered Dr. Smith's phone and bridged it to Jane: the music stopped, they talk,\n"+
		"          and slot %s is free again.", slot)
	d.lamp(slot, "terminated")
	d.pause()

	d.say("Tom Park calls; reception transfers him to %s (the next free slot, %s).", park, first)
	tom, err := d.call("Tom Park", "+15550111", park, "park", "", "1000")
	if err != nil {
		return err
	}
	if err := d.reached(tom, hearing("music:"), parking.EventParked); err != nil {
		return fmt.Errorf("tom not parked: %w", err)
	}
	st := tom.State()
	if d.lot.Announce {
		d.say("Tom heard the slot announced (%s) and now hears music in slot %s.", announced(st.Played), st.Vars["parkd_slot"])
	} else {
		d.say("Tom hears music in slot %s (this lot does not announce slots).", st.Vars["parkd_slot"])
	}
	d.pause()

	d.say("Ann Lee is parked on %s ...", park+other)
	ann, err := d.call("Ann Lee", "+15550122", park+other, "park", other, "1000")
	if err != nil {
		return err
	}
	if err := d.reached(ann, hearing("music:"), parking.EventParked); err != nil {
		return fmt.Errorf("ann not parked: %w", err)
	}
	d.slots()
	d.pause()
	d.say("... and gives up waiting: she hangs up.")
	ann.Hangup("")
	if err := d.reached(ann, gone, parking.EventAbandoned); err != nil {
		return fmt.Errorf("ann's hangup not seen: %w", err)
	}
	d.say("Slot %s is free again at once; her call is recorded as abandoned.", other)
	d.slots()
	d.pause()

	d.say("Dr. Smith finishes and hangs up; Jane's leg ends with it (no orphaned call).")
	smith.Hangup("")
	if _, err := jane.WaitFor(wait, gone); err != nil {
		return fmt.Errorf("jane still up after Dr. Smith hung up: %w", err)
	}
	d.pause()

	d.say("A nurse dials %s with no slot: parkd gives her the caller who has waited longest.", get)
	nurse, err := d.call("Nurse Ward 3", "2003", get, "retrieve", "", "")
	if err != nil {
		return err
	}
	if err := d.reached(tom, hearing("bridge:"+nurse.UUID()), parking.EventRetrieved); err != nil {
		return fmt.Errorf("tom not bridged to the nurse: %w", err)
	}
	d.say("The nurse is talking to Tom. The lot is empty:")
	d.slots()
	nurse.Hangup("")
	if _, err := tom.WaitFor(wait, gone); err != nil {
		return err
	}
	d.pause()

	if err := d.recallScene(park, strconv.Itoa(d.lot.First+3)); err != nil {
		return err
	}
	if err := d.attendedScene(park, get); err != nil {
		return err
	}

	d.say("The history, from SQLite (%s):", d.m.Config.Store.Path)
	fmt.Fprintln(d.w, "\n  $ parkd history")
	rows, err := d.m.DB.History(ctx, store.HistoryFilter{})
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := cli.PrintHistory(&b, rows); err != nil {
		return err
	}
	fmt.Fprint(d.w, indent(b.String()))
	d.say("Done. Look at it again with: parkd history --db %s", d.m.Config.Store.Path)
	return nil
}

// recallScene parks a call nobody picks up: at the lot's timeout
// reception's phone rings with the distinctive ring and the caller's name;
// the receptionist is away and misses it, parkd records the failure and
// rings again after the lot's pause, and this time answering connects her
// to the same caller, who heard music throughout.
func (d *demo) recallScene(park, slot string) error {
	r := d.lot.Recall
	switch {
	case !r.Enabled:
		d.say("(The recall scene is skipped: lot %s does not recall.)", d.lot.Name)
		return nil
	case r.Attempts < 2:
		d.say("(The recall scene is skipped: lot %s makes %d recall(s); the scene needs 2.)", d.lot.Name, r.Attempts)
		return nil
	case d.lot.Timeout+r.RingFor+r.RetryAfter > maxDemoRecall:
		d.say("(The recall scene is skipped: lot %s recalls after %v and rings for %v, too long for a demo.)",
			d.lot.Name, d.lot.Timeout, r.RingFor)
		return nil
	}
	// Reception's phone is registered but nobody is at the desk: it rings
	// until the recall's ring time runs out.
	d.sim.Register("1000", fstest.Endpoint{NoAnswer: true})
	d.say("Bob Lee is parked on %s, and nobody picks him up ...", park+slot)
	bob, err := d.call("Bob Lee", "+15550133", park+slot, "park", slot, "1000")
	if err != nil {
		return err
	}
	if err := d.reached(bob, hearing("music:"), parking.EventParked); err != nil {
		return fmt.Errorf("bob not parked: %w", err)
	}
	first, err := d.invite(1, d.lot.Timeout+wait)
	if err != nil {
		return err
	}
	d.say("%v later reception's phone (1000) rings with Alert-Info %s,\n"+
		"          showing %q from %s. Bob still hears music.", d.lot.Timeout, first.AlertInfo, first.CallerIDName, first.CallerIDNumber)
	d.say("The receptionist is away from her desk: the phone rings for %v, unanswered.", r.RingFor)
	// She will answer the next recall. The simulator reads an endpoint when
	// an originate starts, so re-registering now leaves this ringing recall
	// unanswered and cannot be too late for the next one, however slow the
	// machine.
	d.sim.Register("1000", fstest.Endpoint{AnswerAfter: answerAfter})
	if err := d.untilEvent(bob, parking.EventRecallFailed, r.RingFor+wait); err != nil {
		return fmt.Errorf("the missed recall was not recorded: %w", err)
	}
	if _, err := bob.WaitFor(wait, hearing("music:")); err != nil {
		return fmt.Errorf("bob lost his music after the missed recall: %w", err)
	}
	d.say("parkd records the missed recall (recall_failed); Bob keeps his music,\n"+
		"          and parkd will ring reception again in %v (attempt 2 of %d).", r.RetryAfter, r.Attempts)
	d.say("The receptionist is back at her desk.")
	second, err := d.invite(2, r.RetryAfter+wait)
	if err != nil {
		return err
	}
	d.say("Reception's phone rings again, showing %q.", second.CallerIDName)
	if err := d.reached(bob, hearing("bridge:"+second.UUID), parking.EventRecalled); err != nil {
		return fmt.Errorf("bob not connected to reception: %w", err)
	}
	d.say("This time she answers and is talking to Bob again: recorded as recalled.")
	d.sim.Channel(second.UUID).Hangup("")
	if _, err := bob.WaitFor(wait, gone); err != nil {
		return err
	}
	d.pause()
	return nil
}

// lamp shows what reception's busy-lamp key for slot says once it is in
// state (confirmed: lit, early: blinking, terminated: dark).
func (d *demo) lamp(slot, state string) {
	key := d.lot.BLFPrefix + slot
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	in, err := d.sim.WaitPresence(ctx, key+"@127.0.0.1", func(in fstest.PresenceIn) bool { return in.AnswerState == state })
	if err != nil {
		fmt.Fprintf(d.w, "  (reception's key %s did not turn %s: %v)\n", key, state, err)
		return
	}
	look := map[string]string{"confirmed": "lit", "early": "blinking", "terminated": "dark"}[state]
	fmt.Fprintf(d.w, "  Reception's key %s is %s: %q\n", key, look, in.Status)
}

// attendedScene parks a call by attended transfer: reception puts the
// caller on hold, dials the park code herself (the consult call), hears
// the slot, and completes the transfer; the caller takes that slot with
// her as parker, and the consult call ends.
func (d *demo) attendedScene(park, get string) error {
	d.say("Carl Diaz calls and reception answers. This time she wants to hear the slot herself:\n"+
		"          she puts Carl on hold and dials %s on a second line (a consult call).", park)
	carl, _, err := d.sim.BridgedCall("Carl Diaz", "15550144", "1000")
	if err != nil {
		return err
	}
	consult, err := d.call("Reception", "1000", park, "park", "", "")
	if err != nil {
		return err
	}
	if err := d.reached(consult, hearing("music:"), parking.EventParked); err != nil {
		return fmt.Errorf("the consult call not parked: %w", err)
	}
	st := consult.State()
	slot := st.Vars["parkd_slot"]
	d.say("She hears the slot (%s) and completes the transfer (REFER with Replaces).", announced(st.Played))
	if err := d.sim.CompleteAttendedTransfer(carl, consult, fstest.AttendedTransfer{
		SocketAddr: d.m.ListenAddr(), Domain: "hospital.example", AfterSocket: fsconf.FallbackApps(),
		Vars: map[string]string{"parkd_action": "park", "parkd_lot": d.lot.Name, "parkd_slot": ""},
	}); err != nil {
		return err
	}
	if err := d.reached(carl, hearing("music:"), parking.EventParked); err != nil {
		return fmt.Errorf("carl not parked: %w", err)
	}
	if _, err := consult.WaitFor(wait, gone); err != nil {
		return fmt.Errorf("the consult call still up: %w", err)
	}
	d.say("Carl is parked in slot %s, the one she heard, with her as parker; her consult call is gone.", slot)
	d.lamp(slot, "confirmed")
	d.slots()
	d.pause()
	d.say("Dr. Smith dials %s and takes Carl's call.", get+slot)
	smith, err := d.call("Dr. Smith", "2002", get+slot, "retrieve", slot, "")
	if err != nil {
		return err
	}
	if err := d.reached(carl, hearing("bridge:"+smith.UUID()), parking.EventRetrieved); err != nil {
		return fmt.Errorf("carl not bridged to Dr. Smith: %w", err)
	}
	d.lamp(slot, "terminated")
	smith.Hangup("")
	if _, err := carl.WaitFor(wait, gone); err != nil {
		return err
	}
	d.pause()
	return nil
}

// invite waits up to limit for the n-th INVITE the simulator sent (from 1)
// and returns it.
func (d *demo) invite(n int, limit time.Duration) (fstest.Invite, error) {
	if err := d.until(func() bool { return len(d.sim.Invites()) >= n }, limit); err != nil {
		return fstest.Invite{}, fmt.Errorf("no recall number %d", n)
	}
	return d.sim.Invites()[n-1], nil
}

// untilEvent waits up to limit until the call's last history row is ev.
func (d *demo) untilEvent(ch *fstest.Channel, ev parking.Event, limit time.Duration) error {
	return d.until(func() bool { return d.lastEvent(ch) == ev }, limit)
}

// lastEvent is the event of the call's last history row, "" if none.
func (d *demo) lastEvent(ch *fstest.Channel) parking.Event {
	rows, err := d.m.DB.History(context.Background(), store.HistoryFilter{Call: parking.CallID(ch.UUID())})
	if err != nil || len(rows) == 0 {
		return ""
	}
	return rows[len(rows)-1].Event
}

// reached waits until the channel is in the state cond describes and its
// last history row is ev: what the caller hears and what the supervisor
// reads agree.
func (d *demo) reached(ch *fstest.Channel, cond func(fstest.ChannelState) bool, ev parking.Event) error {
	if _, err := ch.WaitFor(wait, cond); err != nil {
		return err
	}
	return d.untilEvent(ch, ev, wait)
}

// until polls cond for up to limit (default wait).
func (d *demo) until(cond func() bool, limit ...time.Duration) error {
	deadline := time.Now().Add(wait)
	if len(limit) > 0 {
		deadline = time.Now().Add(limit[0])
	}
	for !cond() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return nil
}

// announced finds the spoken slot among what a channel heard.
func announced(played []string) string {
	for _, p := range played {
		if slot, ok := strings.CutPrefix(p, "en number iterated "); ok {
			return fmt.Sprintf("said digit by digit: %s", strings.Join(strings.Split(slot, ""), " "))
		}
	}
	return "nothing"
}
