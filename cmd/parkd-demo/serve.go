package main

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/daemon"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/fsconf"
	"github.com/parkd/parkd/internal/passhash"
)

// Demo board users: the receptionist at extension 1000, and her supervisor.
const (
	demoAgent      = "reception"
	demoSupervisor = "supervisor"
	receptionPhone = "1000"
)

// serveLot is the lot the served demo runs: long enough a timeout that a
// newcomer has time to click Pick up, short enough that recalls happen
// while she watches.
func serveLot(lot conf.Lot) conf.Lot {
	lot.Timeout = 75 * time.Second
	lot.Recall.RingFor = 10 * time.Second
	lot.Recall.RetryAfter = 15 * time.Second
	return lot
}

// serveOptions are --serve's settings.
type serveOptions struct {
	Listen string        // the board's address
	For    time.Duration // stop after this long; 0: when ctx ends
	// Every is the shortest pause between two synthetic calls; a random
	// pause of up to as long again is added.
	Every time.Duration
}

// serveDemo runs parkd on the simulator with the board on o.Listen and a
// gentle stream of synthetic calls until ctx ends.
func serveDemo(ctx context.Context, sim *fstest.Switch, c conf.Config, o serveOptions, stdout io.Writer) error {
	agentPW, supPW := password(), password()
	agentHash, err := passhash.Hash(agentPW)
	if err != nil {
		return err
	}
	supHash, err := passhash.Hash(supPW)
	if err != nil {
		return err
	}
	c.Lots[0] = serveLot(c.Lots[0])
	c.HTTP.Listen = o.Listen
	c.HTTP.Users = []conf.HTTPUser{
		{Name: demoAgent, PasswordHash: agentHash, Role: conf.RoleAgent, Extension: receptionPhone},
		{Name: demoSupervisor, PasswordHash: supHash, Role: conf.RoleSupervisor, Extension: "1001"},
	}
	logger, err := daemon.NewLogger(conf.Log{Level: "warn", Format: "console"}, zerolog.SyncWriter(stdout))
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
	// Reception answers what rings her phone after a moment, so Pick up on
	// the board connects her; the ward phones answer recalls now and then.
	sim.Register(receptionPhone, fstest.Endpoint{AnswerAfter: 1500 * time.Millisecond})
	for i, ext := range wardPhones {
		if i%2 == 0 {
			sim.Register(ext, fstest.Endpoint{AnswerAfter: 2 * time.Second})
		} else {
			sim.Register(ext, fstest.Endpoint{NoAnswer: true})
		}
	}
	fmt.Fprintf(stdout, "\nparkd is running on the FreeSWITCH simulator; the board is at http://%s/\n\n", m.HTTPAddr())
	fmt.Fprintf(stdout, "  agent:      %-10s password %s (extension %s: Pick up rings it, and it answers)\n", demoAgent, agentPW, receptionPhone)
	fmt.Fprintf(stdout, "  supervisor: %-10s password %s (also sees the report)\n\n", demoSupervisor, supPW)
	fmt.Fprintf(stdout, "Calls arrive, are parked, picked up, recalled and abandoned on their own. Ctrl-C stops.\n")

	if o.For > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.For)
		defer cancel()
	}
	t := &traffic{sim: sim, m: m, lot: c.Lots[0], every: o.Every, rnd: rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))}
	t.run(ctx)
	return nil
}

// password is a fresh random password for a demo user.
func password() string {
	b := make([]byte, 6)
	_, _ = crand.Read(b) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b)
}

// wardPhones park calls and get their recalls.
var wardPhones = []string{"2001", "2002", "2003", "2004"}

var callers = []struct{ name, number string }{
	{"Jane Roe", "+15550100"}, {"Tom Park", "+15550111"}, {"Ann Lee", "+15550122"},
	{"Bob Lee", "+15550133"}, {"Carla Diaz", "+15550144"}, {"Omar Haddad", "+15550155"},
	{"Mei Chen", "+15550166"}, {"Lukas Brandt", "+15550177"}, {"Priya Nair", "+15550188"},
	{"Sam O'Neil", "+15550199"},
}

// traffic is the synthetic stream of calls.
type traffic struct {
	sim *fstest.Switch
	m   *daemon.Main
	lot conf.Lot
	rnd *rand.Rand
	n   int
	// every is the shortest pause between two calls.
	every time.Duration

	// desk is the caller talking to reception now, for Park my call.
	desk *fstest.Channel
	// talking holds when each bridged channel was first seen bridged, so
	// that talks end after a while.
	talking map[string]time.Time
}

// run parks a call every few seconds (keeping a handful parked), and now
// and then retrieves one from a ward phone or lets a caller give up; the
// recalls come from the lot's timeout. Talks end after a while.
func (t *traffic) run(ctx context.Context) {
	t.talking = map[string]time.Time{}
	for {
		t.deskCall()
		select {
		case <-ctx.Done():
			return
		case <-time.After(t.every + time.Duration(t.rnd.Int64N(int64(t.every)+1))):
		}
		t.endTalks()
		parked := t.m.Service.Occupants()
		switch r := t.rnd.IntN(10); {
		case len(parked) < 3 || (r < 5 && len(parked) < 8):
			t.park()
		case r < 8:
			o := parked[t.rnd.IntN(len(parked))]
			t.retrieve(ctx, o.Slot)
		default:
			o := parked[t.rnd.IntN(len(parked))]
			if ch := t.sim.Channel(string(o.Call)); ch != nil {
				ch.Hangup("")
			}
		}
	}
}

// park sends the next caller to the lot as if a ward phone had
// blind-transferred it there.
func (t *traffic) park() {
	c := callers[t.n%len(callers)]
	t.n++
	by := wardPhones[t.rnd.IntN(len(wardPhones))]
	vars := map[string]string{"parkd_action": "park", "parkd_lot": t.lot.Name}
	_, _ = t.sim.Call(fstest.CallSpec{
		SocketAddr: t.m.ListenAddr(), CallerName: c.name, CallerNumber: c.number, Destination: t.lot.ParkCode,
		Vars: vars, AfterSocket: fsconf.FallbackApps(), Answered: true, Callee: by,
		ReferredBy: "<sip:" + by + "@hospital.example>",
	})
}

// retrieve dials the retrieve code for slot from a ward phone, which talks
// for a few seconds and hangs up.
func (t *traffic) retrieve(ctx context.Context, slot int) {
	by := wardPhones[t.rnd.IntN(len(wardPhones))]
	s := strconv.Itoa(slot)
	vars := map[string]string{"parkd_action": "retrieve", "parkd_lot": t.lot.Name, "parkd_slot": s}
	ch, err := t.sim.Call(fstest.CallSpec{
		SocketAddr: t.m.ListenAddr(), CallerName: "Ward " + by, CallerNumber: by, Destination: t.lot.RetrieveCode + s,
		Vars: vars, BeforeSocket: fsconf.BeforeSocketApps(), AfterSocket: fsconf.FallbackApps(),
	})
	if err != nil {
		return
	}
	talk := time.Duration(4+t.rnd.IntN(6)) * time.Second
	go func() {
		select {
		case <-ctx.Done():
		case <-time.After(talk):
		}
		ch.Hangup("")
	}()
}

// deskCall keeps a caller talking to reception whenever she has none, so
// that Park my call on the board always has a call to park.
func (t *traffic) deskCall() {
	if t.desk != nil && t.desk.State().Alive {
		return
	}
	c := callers[t.n%len(callers)]
	t.n++
	number := c.number[1:] // the simulator's bridged calls take plain numbers
	t.desk, _, _ = t.sim.BridgedCall(c.name, number, receptionPhone)
}

// talkFor is how long a bridged call (a retrieve or a recall answered, a
// pick-up from the board) talks before the simulator hangs it up.
const talkFor = 20 * time.Second

// endTalks hangs up the calls bridged longer than talkFor, except the
// caller at reception's desk, who waits to be parked.
func (t *traffic) endTalks() {
	now := time.Now()
	seen := map[string]bool{}
	for _, st := range t.sim.Channels() {
		if !st.Alive || st.BridgedTo == "" || (t.desk != nil && (st.UUID == t.desk.UUID() || st.BridgedTo == t.desk.UUID())) {
			continue
		}
		seen[st.UUID] = true
		since, ok := t.talking[st.UUID]
		if !ok {
			t.talking[st.UUID] = now
			continue
		}
		if now.Sub(since) > talkFor {
			if ch := t.sim.Channel(st.UUID); ch != nil {
				ch.Hangup("")
			}
		}
	}
	for id := range t.talking {
		if !seen[id] {
			delete(t.talking, id)
		}
	}
}
