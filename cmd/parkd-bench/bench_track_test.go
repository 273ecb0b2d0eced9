package main

import (
	"testing"
	"time"
)

// Ensure the tracker counts the simulator's time to answer as the
// simulator's: from a command's arrival until its reply is written (for a
// pipelined batch, until the last reply), and for a sendmsg until its
// EXECUTE_COMPLETE; the rest of a park or retrieve is parkd's own.
func TestTracker_SimulatorTime(t *testing.T) {
	const call = "5e7c0a00-0000-4000-8000-0000000000a1"
	t0 := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	event := func(name string) []byte {
		return []byte("Content-Length: 30\nContent-Type: text/event-plain\n\nEvent-Name: " + name + "\nUnique-ID: x\n\n")
	}
	tr := newTracker(map[string]time.Duration{"main": time.Minute}, 0)
	tr.onConnect(call, ms(0))
	tr.onCommand(call, "connect", ms(1))                                 // parkd: 1 ms
	tr.onWrite(call, []byte("Content-Type: command/reply"), true, ms(3)) // simulator: 2 ms
	tr.onCommand(call, "myevents plain", ms(4))                          // parkd: 1 ms
	tr.onCommand(call, "linger 30", ms(4))
	tr.onWrite(call, nil, true, ms(5))
	tr.onWrite(call, nil, true, ms(7))                                                          // simulator: 3 ms, to the batch's last reply
	tr.onCommand(call, "sendmsg "+call, ms(8))                                                  // parkd: 1 ms
	tr.onWrite(call, nil, true, ms(9))                                                          // the reply: the simulator still has the ball
	tr.onWrite(call, event("CHANNEL_ANSWER"), false, ms(10))                                    // not the one awaited
	tr.onWrite(call, event("CHANNEL_EXECUTE_COMPLETE"), false, ms(12))                          // simulator: 4 ms
	tr.onCommand(call, "api uuid_bridge "+call+" 5e7c0a00-0000-4000-8000-0000000000b2", ms(15)) // parkd: 3 ms; done
	tr.onWrite(call, nil, true, ms(16))                                                         // after done: not counted

	r := tr.rec(call)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if total := r.doneAt.Sub(r.connectAt); total != 15*time.Millisecond {
		t.Fatalf("end to end %v, want 15ms", total)
	}
	if got := r.simTime(); got != 9*time.Millisecond {
		t.Fatalf("simulator's time %v, want 9ms (2 + 3 + 4)", got)
	}
	if got := r.own(); got != 6*time.Millisecond {
		t.Fatalf("parkd's own %v, want 6ms", got)
	}
}

// Ensure the simulator's time does not depend on the order in which its
// hooks report: its writer reports a reply once the write has returned,
// and on a busy machine parkd may have read that reply and sent its next
// command, even its last, before the report. Counted as each hook came,
// such a call's whole wait on the simulator was parkd's own (a park of
// 0.76 ms end to end counted as 0.76 ms own, with 0.46 ms of it the
// simulator's). Pipelined commands overlap and count once.
func TestTracker_SimulatorTimeLateReports(t *testing.T) {
	const call = "5e7c0a00-0000-4000-8000-0000000000a1"
	t0 := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	tr := newTracker(map[string]time.Duration{"main": time.Minute}, 0)
	tr.onConnect(call, ms(0))
	tr.onCommand(call, "connect", ms(1))        // parkd: 1 ms
	tr.onCommand(call, "myevents plain", ms(1)) // the setup, posted behind it
	tr.onCommand(call, "linger 30", ms(1))
	// parkd reads the connect reply (written at 4) and sends the park's
	// two commands in one write; the simulator reports its replies after.
	tr.onCommand(call, "api uuid_setvar_multi "+call+" parkd_lot=main;parkd_slot=201;parkd_parked_at=2026-11-22T06:00:00.000Z", ms(6))
	tr.onCommand(call, "api uuid_transfer "+call+" endless_playback:local_stream://moh inline", ms(6)) // done
	tr.onWrite(call, nil, true, ms(4))                                                                 // connect: simulator 3 ms
	tr.onWrite(call, nil, true, ms(5))                                                                 // myevents
	tr.onWrite(call, nil, true, ms(5))                                                                 // linger: the setup overlaps the connect; 1 ms more
	tr.onWrite(call, nil, true, ms(7))                                                                 // after done: not counted

	r := tr.rec(call)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if !isClosed(r.done) || !r.doneAt.Equal(ms(6)) {
		t.Fatalf("done at %v, want the transfer's arrival at 6 ms", r.doneAt)
	}
	if got := r.simTime(); got != 4*time.Millisecond {
		t.Fatalf("simulator's time %v, want 4ms (connect 1-4, setup to 5)", got)
	}
	if got := r.own(); got != 2*time.Millisecond {
		t.Fatalf("parkd's own %v, want 2ms (0-1 and 5-6)", got)
	}
}

// Ensure recall lateness is measured from a call's deadline to its first
// recall only: a second recall, placed retry_after after a failed first,
// is counted as a retry, not as a recall thirty seconds late.
func TestTracker_RecallRetryIsNotLateness(t *testing.T) {
	const call = "5e7c0a00-0000-4000-8000-0000000000a1"
	t0 := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	tr := newTracker(map[string]time.Duration{"main": time.Minute}, 0)
	tr.onCommand(call, "api uuid_setvar_multi "+call+" parkd_lot=main;parkd_slot=201;parkd_parked_at=2026-11-22T06:00:00.000Z", t0)
	originate := func(leg string, at time.Time) {
		tr.onCommand("in", "bgapi originate {origination_uuid="+leg+",parkd_recall_for="+call+"}user/1000 &park()", at)
	}
	originate("5e7c0a00-0000-4000-8000-0000000000b1", t0.Add(time.Minute+3*time.Millisecond))
	originate("5e7c0a00-0000-4000-8000-0000000000b2", t0.Add(time.Minute+31*time.Second))
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.recallLate) != 1 || tr.recallLate[0] != 3*time.Millisecond || tr.retries != 1 {
		t.Fatalf("lateness %v, retries %d; want [3ms] and 1", tr.recallLate, tr.retries)
	}
}

// Ensure a call planned to be retrieved before its deadline, whose
// retrieve came after it (the driver fell behind on a busy machine), is
// counted as a late take: parkd placed its recall first, and the history
// check then expects that call's recall row (steady once ended with
// `history: 299 "recall" rows, want 297` for two of them). A call planned
// to be retrieved that saw no recall is not counted.
func TestTracker_LateTakes(t *testing.T) {
	const late, onTime = "5e7c0a00-0000-4000-8000-0000000000a1", "5e7c0a00-0000-4000-8000-0000000000a2"
	t0 := time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)
	tr := newTracker(map[string]time.Duration{"main": 2 * time.Second}, 0)
	for i, call := range []string{late, onTime} {
		tr.onCommand(call, "api uuid_setvar_multi "+call+" parkd_lot=main;parkd_slot=20"+string(rune('1'+i))+";parkd_parked_at=2026-11-22T06:00:00.000Z", t0)
	}
	tr.onCommand("in", "bgapi originate {origination_uuid=5e7c0a00-0000-4000-8000-0000000000b1,parkd_recall_for="+late+"}user/1000 &park()",
		t0.Add(2*time.Second))
	if got := tr.lateTakes([]string{late, onTime}); got != 1 {
		t.Fatalf("late takes %d, want 1", got)
	}
	if got := tr.lateTakes([]string{onTime}); got != 0 {
		t.Fatalf("late takes %d, want 0", got)
	}
}
