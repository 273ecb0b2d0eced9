package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parkd/parkd/esl/fstest"
)

// tracked is what the simulator saw of one channel. Guarded by tracker.mu.
type tracked struct {
	connectAt time.Time     // the simulator began to dial parkd for it
	doneAt    time.Time     // parkd's last command for it arrived
	done      chan struct{} // closed at doneAt
	lot       string
	slot      int
	parkedAt  time.Time // parkd_parked_at as parkd set it
	recalled  chan struct{}
	recalls   int // recall originates placed for it

	// What the simulator was asked on the call's socket, in order, for
	// its time to answer (simTime): a command is the simulator's from its
	// arrival until its reply is written, and a sendmsg until its
	// CHANNEL_EXECUTE_COMPLETE is. (A sendmsg that completes no
	// application, such as a hangup, stays the simulator's; parkd sends
	// those only to refuse a call.)
	cmds    []simCmd
	replied int   // replies written: the first replied of cmds have theirs
	execs   []int // indexes in cmds of sendmsgs not yet complete, oldest first
}

// simCmd is one command on a call's socket: when it arrived, and when the
// simulator was done with it (zero: not yet).
type simCmd struct {
	at, end time.Time
	exec    bool // a sendmsg: done at its EXECUTE_COMPLETE, not its reply
}

// simTime is the simulator's time to answer between the call's connection
// and parkd's last command: the time in which some command of parkd's was
// with it, each from its arrival to its answer, overlaps counted once. A
// command still unanswered at doneAt counts to doneAt. It is computed from
// the whole record, not as the hooks come: the simulator's writer reports
// a reply once its write has returned, which on a busy machine can be
// after parkd, having read the reply, sent its next command. Called with
// tracker.mu held, once doneAt is set.
func (r *tracked) simTime() time.Duration {
	var sum time.Duration
	var upTo time.Time // the counted time so far ends here
	for _, c := range r.cmds {
		if !c.at.Before(r.doneAt) {
			break
		}
		end := c.end
		if end.IsZero() || end.After(r.doneAt) {
			end = r.doneAt
		}
		from := c.at
		if from.Before(upTo) {
			from = upTo
		}
		if end.After(from) {
			sum += end.Sub(from)
			upTo = end
		}
	}
	return sum
}

// own is parkd's own time for the call's park or retrieve: from the
// connection to parkd's last command, less the simulator's time to
// answer. Called with tracker.mu held, once doneAt is set.
func (r *tracked) own() time.Duration {
	return r.doneAt.Sub(r.connectAt) - r.simTime()
}

// tracker follows parkd's commands in the simulator (fstest's OnConnect and
// OnCommand hooks).
type tracker struct {
	sim      *fstest.Switch // set once the switch is up
	simReady chan struct{}
	talk     time.Duration
	timeouts map[string]time.Duration
	ready    chan struct{} // parkd subscribed to events
	readyOne sync.Once

	mu         sync.Mutex
	calls      map[string]*tracked
	legs       map[string]string // recall leg -> parked call
	recallLate []time.Duration
	recallAt   []time.Time // when each recall's originate arrived
	// retries counts recall originates after a call's first: a failed
	// attempt's retry, due retry_after after the failure, not at the
	// deadline. Counting them as late by the retry pause is how a max
	// lateness of ~31 s appeared once (30 s retry_after).
	retries    int
	watch      inboundWatch
	parked     int
	peakParked int
	errs       []string
	nerr       int
}

func newTracker(timeouts map[string]time.Duration, talk time.Duration) *tracker {
	return &tracker{timeouts: timeouts, talk: talk, ready: make(chan struct{}), simReady: make(chan struct{}),
		calls: map[string]*tracked{}, legs: map[string]string{}}
}

// get returns uuid's record, creating it. Called with t.mu held.
func (t *tracker) get(uuid string) *tracked {
	r, ok := t.calls[uuid]
	if !ok {
		r = &tracked{done: make(chan struct{}), recalled: make(chan struct{})}
		t.calls[uuid] = r
	}
	return r
}

// lateTakes counts the calls among uuids (planned to be retrieved or
// abandoned before their deadline) whose recall was placed all the same:
// the driver, on a machine too busy to keep to the plan, came after the
// deadline. parkd then rightly wrote a recall row before the retrieve or
// abandon that cancelled it (parking: a retrieve takes a call whose recall
// rings), one the plan did not foresee. Call it once the load is over:
// every recall's originate has arrived by then.
func (t *tracker) lateTakes(uuids []string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, u := range uuids {
		if r, ok := t.calls[u]; ok && r.recalls > 0 {
			n++
		}
	}
	return n
}

func (t *tracker) rec(uuid string) *tracked {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.get(uuid)
}

func (t *tracker) fail(format string, a ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.nerr++
	if len(t.errs) < 10 {
		t.errs = append(t.errs, fmt.Sprintf(format, a...))
	}
}

func (t *tracker) onConnect(uuid string, at time.Time) {
	t.mu.Lock()
	t.get(uuid).connectAt = at
	t.mu.Unlock()
}

// executeComplete is how an EXECUTE_COMPLETE event's frame shows it.
var executeComplete = []byte("\nEvent-Name: CHANNEL_EXECUTE_COMPLETE\n")

// onWrite follows the simulator's answers on a call's socket: a reply ends
// the oldest command without one, and an EXECUTE_COMPLETE the oldest
// sendmsg still running.
func (t *tracker) onWrite(conn string, frame []byte, reply bool, at time.Time) {
	if conn == "in" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.calls[conn]
	if !ok {
		return
	}
	switch {
	case reply && r.replied < len(r.cmds):
		if c := &r.cmds[r.replied]; !c.exec {
			c.end = at
		}
		r.replied++
	case !reply && len(r.execs) > 0 && bytes.Contains(frame, executeComplete):
		r.cmds[r.execs[0]].end = at
		r.execs = r.execs[1:]
	}
}

// varOf returns the value of name=... in an originate's {...} block.
func varOf(line, name string) string {
	i := strings.Index(line, name+"=")
	if i < 0 {
		return ""
	}
	v := line[i+len(name)+1:]
	if j := strings.IndexAny(v, ",}"); j >= 0 {
		v = v[:j]
	}
	return v
}

func (t *tracker) onCommand(conn, line string, at time.Time) {
	if conn != "in" {
		t.mu.Lock()
		r := t.get(conn)
		exec := strings.HasPrefix(line, "sendmsg")
		if isClosed(r.done) {
			// After parkd's last command (exit, say): nothing to time.
		} else if exec {
			r.execs = append(r.execs, len(r.cmds))
			r.cmds = append(r.cmds, simCmd{at: at, exec: true})
		} else {
			r.cmds = append(r.cmds, simCmd{at: at})
		}
		t.mu.Unlock()
	}
	f := strings.Fields(line)
	if len(f) < 2 {
		return
	}
	if conn == "in" {
		t.watchCommand(f, at)
		switch {
		case f[0] == "event":
			t.readyOne.Do(func() { close(t.ready) })
		case f[0] == "bgapi" && f[1] == "originate":
			call, leg := varOf(line, "parkd_recall_for"), varOf(line, "origination_uuid")
			t.mu.Lock()
			defer t.mu.Unlock()
			r := t.get(call)
			t.legs[leg] = call
			if r.recalls++; r.recalls > 1 {
				t.retries++
				return
			}
			if to, ok := t.timeouts[r.lot]; ok && !r.parkedAt.IsZero() {
				t.recallLate = append(t.recallLate, at.Sub(r.parkedAt.Add(to)))
				t.recallAt = append(t.recallAt, at)
			}
		case f[0] == "api" && len(f) >= 4 && f[1] == "uuid_bridge":
			// A recall: parked call, recall leg. The parker talks, then
			// hangs up; hangup_after_bridge ends the caller's leg too.
			call, leg := f[2], f[3]
			t.mu.Lock()
			r := t.get(call)
			if t.legs[leg] == call && !isClosed(r.recalled) {
				close(r.recalled)
				t.parked--
			}
			t.mu.Unlock()
			time.AfterFunc(t.talk, func() {
				<-t.simReady
				if ch := t.sim.Channel(leg); ch != nil {
					ch.Hangup("")
				}
			})
		}
		return
	}
	if f[0] != "api" || len(f) < 3 {
		return
	}
	switch f[1] {
	case "uuid_setvar_multi":
		// api uuid_setvar_multi <uuid> name=value;name=value...
		if len(f) < 4 {
			return
		}
		_, list, _ := strings.Cut(line, f[2]+" ")
		t.mu.Lock()
		defer t.mu.Unlock()
		r := t.get(f[2])
		for kv := range strings.SplitSeq(list, ";") {
			name, value, _ := strings.Cut(kv, "=")
			switch name {
			case "parkd_lot":
				r.lot = value
			case "parkd_slot":
				r.slot, _ = strconv.Atoi(value)
			case "parkd_parked_at":
				r.parkedAt, _ = time.Parse("2006-01-02T15:04:05.000Z", value)
			}
		}
	case "uuid_transfer":
		if len(f) >= 4 && strings.HasPrefix(f[3], "endless_playback:") {
			t.mu.Lock()
			defer t.mu.Unlock()
			r := t.get(f[2])
			if isClosed(r.done) {
				return // a second park of the same channel: not in these scenarios
			}
			r.doneAt = at
			close(r.done)
			t.parked++
			t.peakParked = max(t.peakParked, t.parked)
		}
	case "uuid_bridge":
		if len(f) >= 4 {
			t.mu.Lock()
			defer t.mu.Unlock()
			r := t.get(conn)
			if !isClosed(r.done) {
				r.doneAt = at
				close(r.done)
			}
		}
	}
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func (t *tracker) unparked() {
	t.mu.Lock()
	t.parked--
	t.mu.Unlock()
}

// inboundWatch follows parkd's inbound connection while it starts (see
// parkdProc.restart): when it authenticated, when its survey began (`api
// show calls`), the last command it sent, and how many. Guarded by
// tracker.mu.
type inboundWatch struct {
	on               bool
	auth, show, last time.Time
	commands         int
}

// watchInbound starts watching parkd's inbound connection afresh.
func (t *tracker) watchInbound() {
	t.mu.Lock()
	t.watch = inboundWatch{on: true}
	t.mu.Unlock()
}

// stopWatching ends the watch and returns what it saw.
func (t *tracker) stopWatching() inboundWatch {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := t.watch
	t.watch.on = false
	return w
}

// watchCommand notes one inbound command (its words f) for the watch.
func (t *tracker) watchCommand(f []string, at time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	w := &t.watch
	if !w.on {
		return
	}
	switch {
	case f[0] == "auth" && w.auth.IsZero():
		w.auth = at
	case f[0] == "api" && f[1] == "show" && w.show.IsZero():
		w.show = at
	}
	w.last = at
	w.commands++
}
