package parking

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
)

// The stress test is seeded and reproducible as far as its schedule goes:
// run r of seed s always draws the same lots, phones and operations. Which
// of two goroutines woken at the same fake instant runs first is up to the
// scheduler (that is the point: the race detector sees every interleaving
// the scheduler picks), so a failure prints the schedule too.
var (
	stressSeed = flag.Uint64("stress.seed", 1, "TestStress: seed of the randomized schedules")
	stressRuns = flag.Int("stress.runs", 0, "TestStress: number of randomized runs (0: 2000, 200 with -short)")
	stressRun  = flag.Int("stress.run", -1, "TestStress: run only this run number of -stress.seed")
)

// Ensure that whatever mix of concurrent parks, retrieves, hangups, recalls,
// fallbacks, store failures and a shutdown hits the Service, no slot holds
// two calls, no call holds two slots, no parked call is bridged twice (nor to
// another parked caller), every call's history is a legal sequence, and the
// store's occupancy, the Service's table and the switch's channels agree.

// errLegBusy is a stress leg's refusal of a second app while it is bridged
// elsewhere, as FreeSWITCH refuses to run two at once.
var errLegBusy = errors.New("is busy")

func TestStress(t *testing.T) {
	runs := *stressRuns
	if runs <= 0 {
		runs = 2000
		if testing.Short() {
			runs = 200
		}
	}
	first, last := 0, runs-1
	if *stressRun >= 0 {
		first, last = *stressRun, *stressRun
	}
	start := time.Now()
	var ops, parks, retrieves int
	for run := first; run <= last; run++ {
		var st stressStats
		synctest.Test(t, func(t *testing.T) { st = stressOnce(t, *stressSeed, run) })
		if t.Failed() {
			t.Fatalf("reproduce with: go test -race -run 'TestStress$' ./parking/ -stress.seed=%d -stress.run=%d", *stressSeed, run)
		}
		ops, parks, retrieves = ops+st.ops, parks+st.parked, retrieves+st.retrieved
	}
	t.Logf("seed %d: %d runs, %d operations (%d calls parked, %d retrieved) in %v",
		*stressSeed, last-first+1, ops, parks, retrieves, time.Since(start).Round(time.Millisecond))
}

type stressStats struct {
	ops, parked, retrieved int
}

// world is what the fake FreeSWITCH knows that the fakes do not: which
// channels hung up, and which parked calls left their slot (bridged to
// someone or transferred), in the order it happened.
type world struct {
	svc *Service

	mu     sync.Mutex
	rng    *rand.Rand
	gone   map[CallID]bool
	left   map[CallID]string    // parked call -> how it left: "bridged to X", "transferred"
	since  map[CallID]time.Time // when it hung up or left
	legs   map[CallID]*stressLeg
	bad    []string // violations seen as they happened
	calls  []CallID // parked-call candidates, in creation order
	retrvs []CallID
}

func (w *world) chance(p float64) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.rng.Float64() < p
}

func (w *world) isGone(c CallID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gone[c]
}

func (w *world) violation(format string, args ...any) {
	w.mu.Lock()
	w.bad = append(w.bad, fmt.Sprintf(format, args...))
	w.mu.Unlock()
}

// leave records that a parked call left its slot; leaving twice is the bug
// this test exists for.
func (w *world) leave(c CallID, how string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if prev, ok := w.left[c]; ok {
		w.bad = append(w.bad, fmt.Sprintf("%s left its slot twice: %s, then %s", c, prev, how))
		return
	}
	w.left[c] = how
	w.since[c] = time.Now()
}

// stressLeg is a fakeLeg whose channel can hang up (then every operation
// fails with ErrCallGone) and whose answer, hold and bridge take time.
type stressLeg struct {
	*fakeLeg
	w     *world
	delay map[string]time.Duration
}

func (l *stressLeg) step(ctx context.Context, method string) error {
	if d := l.delay[method]; d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	l.w.mu.Lock()
	defer l.w.mu.Unlock()
	if l.w.gone[l.id] {
		return ErrCallGone
	}
	if how := l.w.left[l.id]; how != "" {
		return fmt.Errorf("%s: %w: %s", l.id, errLegBusy, how)
	}
	return nil
}

func (l *stressLeg) Answer(ctx context.Context) error {
	if err := l.step(ctx, "answer"); err != nil {
		return err
	}
	return l.fakeLeg.Answer(ctx)
}

func (l *stressLeg) Announce(ctx context.Context, slot int) error {
	if err := l.step(ctx, "announce"); err != nil {
		return err
	}
	return l.fakeLeg.Announce(ctx, slot)
}

func (l *stressLeg) Hold(ctx context.Context, h Hold) error {
	if err := l.step(ctx, "hold"); err != nil {
		return err
	}
	return l.fakeLeg.Hold(ctx, h)
}

// Bridge fails like uuid_bridge when either channel is gone, and when this
// channel is itself in a bridge or gone elsewhere (a parked caller that was
// retrieved cannot dial the retrieve code).
func (l *stressLeg) Bridge(ctx context.Context, parked CallID) error {
	if err := l.step(ctx, "bridge"); err != nil {
		return err
	}
	l.w.mu.Lock()
	gone, busy := l.w.gone[parked], l.w.left[l.id]
	l.w.mu.Unlock()
	if gone {
		return fmt.Errorf("%w: %s", ErrCallGone, parked)
	}
	if busy != "" {
		return fmt.Errorf("%s: %w: %s", l.id, errLegBusy, busy)
	}
	l.w.svc.mu.Lock()
	_, self := l.w.svc.calls[l.id]
	l.w.svc.mu.Unlock()
	if self {
		l.w.violation("retriever %s is bridged to %s while it is itself parked", l.id, parked)
	}
	if err := l.fakeLeg.Bridge(ctx, parked); err != nil {
		return err
	}
	l.w.leave(parked, "bridged to retriever "+string(l.id))
	return nil
}

func (l *stressLeg) Refuse(ctx context.Context, returnTo string) error {
	if l.w.isGone(l.id) {
		return ErrCallGone
	}
	return l.fakeLeg.Refuse(ctx, returnTo)
}

// stressSwitch is the fakeSwitch with gone channels and flaky bridges and
// transfers.
type stressSwitch struct {
	*fakeSwitch
	w *world
}

func (s *stressSwitch) Bridge(ctx context.Context, parked, leg CallID) error {
	if s.w.isGone(parked) {
		return fmt.Errorf("%w: %s", ErrCallGone, parked)
	}
	if s.w.chance(0.1) {
		return errors.New("-ERR the parker hung up right after answering")
	}
	if err := s.fakeSwitch.Bridge(ctx, parked, leg); err != nil {
		return err
	}
	s.w.leave(parked, "bridged to recall leg "+string(leg))
	return nil
}

func (s *stressSwitch) Transfer(ctx context.Context, call CallID, to Destination) error {
	if s.w.isGone(call) {
		return fmt.Errorf("%w: %s", ErrCallGone, call)
	}
	if s.w.chance(0.1) {
		return errors.New("-ERR transfer failed")
	}
	if err := s.fakeSwitch.Transfer(ctx, call, to); err != nil {
		return err
	}
	s.w.leave(call, "transferred to "+to.String())
	return nil
}

// syncBuffer is a log sink many goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// stressOp is one scheduled operation.
type stressOp struct {
	at   time.Duration
	desc string
	do   func()
}

// stressOnce runs one randomized schedule in the caller's bubble and checks
// the invariants.
func stressOnce(t *testing.T, seed uint64, run int) stressStats {
	rng := rand.New(rand.NewPCG(seed, uint64(run)))
	w := &world{
		rng:  rand.New(rand.NewPCG(seed^0x5eed, uint64(run))),
		gone: map[CallID]bool{}, left: map[CallID]string{}, since: map[CallID]time.Time{}, legs: map[CallID]*stressLeg{},
	}
	bg := context.Background()
	t0 := time.Now()

	// The lots: a small main lot, sometimes overflowing into a second one.
	recall := func() RecallConfig {
		return RecallConfig{
			Enabled: rng.Float64() < 0.85, Dial: "user/{parker}", CallerIDNumber: "{slot}",
			RingFor:    time.Duration(2+rng.IntN(3)) * time.Second,
			RetryAfter: time.Duration(1+rng.IntN(4)) * time.Second,
			Attempts:   2,
		}
	}
	fallback := func() Destination {
		if rng.IntN(2) == 0 {
			return Destination{Extension: "operator"}
		}
		return Destination{}
	}
	n := 4 + rng.IntN(3)
	main := LotConfig{
		Name: "main", First: 201, Last: 200 + n, Music: "moh",
		Timeout:     time.Duration(4+rng.IntN(9)) * time.Second,
		Announce:    rng.IntN(2) == 0,
		NextIfTaken: rng.IntN(3) == 0,
		Recall:      recall(), Fallback: fallback(),
	}
	over := LotConfig{
		Name: "over", First: 301, Last: 302, Music: "moh2",
		Timeout: time.Duration(4+rng.IntN(9)) * time.Second, Recall: recall(), Fallback: fallback(),
	}
	lots := []LotConfig{main}
	if rng.IntN(2) == 0 {
		if rng.IntN(2) == 0 {
			lots[0].OverflowTo = "over"
		}
		lots = append(lots, over)
	}
	parkers := []string{"1000", "1001", "1002", ""}

	// The switch and its phones.
	fs := &fakeSwitch{live: map[CallID]bool{}, phones: map[string]phone{}}
	sw := &stressSwitch{fakeSwitch: fs, w: w}
	randomPhone := func() (phone, string) {
		switch rng.IntN(5) {
		case 0:
			return phone{fail: "USER_BUSY"}, "busy"
		case 1:
			return phone{}, "never answers"
		case 2:
			if rng.IntN(3) == 0 {
				return phone{lost: errors.New("connection to FreeSWITCH lost")}, "outcome lost"
			}
			fallthrough
		default:
			d := time.Duration(rng.IntN(5)) * time.Second
			return phone{answerAfter: d}, fmt.Sprintf("answers after %v", d)
		}
	}
	var setup []string
	for _, p := range parkers[:3] {
		ph, desc := randomPhone()
		fs.phones["user/"+p] = ph
		setup = append(setup, p+" "+desc)
	}

	st := newMemStore()
	svc, err := NewService(lots, sw, st)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	svc.Logger = zerolog.New(logs)
	if err := svc.Open(bg); err != nil {
		t.Fatal(err)
	}
	w.svc = svc

	// The schedule.
	var (
		stats    stressStats
		schedule []stressOp
		calls    int
		resMu    sync.Mutex
		results  []string
	)
	note := func(format string, args ...any) {
		resMu.Lock()
		results = append(results, fmt.Sprintf("%6v ", time.Since(t0).Round(time.Millisecond))+fmt.Sprintf(format, args...))
		resMu.Unlock()
	}
	newLegFor := func(prefix string) *stressLeg {
		calls++
		id := CallID(fmt.Sprintf("%s%d", prefix, calls))
		l := &stressLeg{fakeLeg: newLeg(string(id)), w: w, delay: map[string]time.Duration{}}
		for _, m := range []string{"answer", "hold", "bridge", "announce"} {
			if rng.IntN(5) == 0 {
				l.delay[m] = time.Duration(rng.IntN(4)) * time.Second
			}
		}
		w.legs[id] = l
		if prefix == "c" {
			w.calls = append(w.calls, id)
		} else {
			w.retrvs = append(w.retrvs, id)
		}
		return l
	}
	pickLot := func() (string, int) {
		l := lots[rng.IntN(len(lots))]
		switch rng.IntN(20) {
		case 0:
			return "nope", 1
		case 1:
			return l.Name, l.Last + 1
		}
		return l.Name, l.First + rng.IntN(l.Last-l.First+1)
	}
	parkAt := map[CallID]time.Duration{}
	parkOp := func(at time.Duration, lotName string, slot int) {
		leg := newLegFor("c")
		parkAt[leg.id] = at
		parker := parkers[rng.IntN(len(parkers))]
		if lotName == "main" && rng.IntN(2) == 0 {
			lotName = "" // the default lot
		}
		schedule = append(schedule, stressOp{at: at, desc: fmt.Sprintf("park %s into %q/%d by %q delays %v", leg.id, lotName, slot, parker, leg.delay), do: func() {
			occ, err := svc.Park(bg, ParkRequest{Leg: leg, Caller: Caller{Name: "N " + string(leg.id), Number: "555"}, Parker: parker, Lot: lotName, Slot: slot})
			note("park %s %q/%d -> %s/%d %v", leg.id, lotName, slot, occ.Lot, occ.Slot, err)
			switch {
			case err == nil:
				resMu.Lock()
				stats.parked++
				resMu.Unlock()
				if !slices.ContainsFunc(leg.calls(), func(s string) bool { return strings.HasPrefix(s, fmt.Sprintf("hold %s/%d ", occ.Lot, occ.Slot)) }) {
					w.violation("park of %s returned %s/%d without holding it there: %q", leg.id, occ.Lot, occ.Slot, leg.calls())
				}
			case errors.Is(err, ErrSlotTaken), errors.Is(err, ErrLotFull), errors.Is(err, ErrBadSlot),
				errors.Is(err, ErrUnknownLot), errors.Is(err, ErrCallGone), errors.Is(err, ErrClosed),
				errors.Is(err, ErrAlreadyParked): // the duplicate won the race
			case errors.Is(err, errLegBusy): // the channel is bridged elsewhere
			default:
				w.violation("park of %s: unexpected error %v", leg.id, err)
			}
		}})
	}
	retrieveOp := func(at time.Duration, lotName string, slot int, leg *stressLeg) {
		if leg == nil {
			leg = newLegFor("r")
		}
		schedule = append(schedule, stressOp{at: at, desc: fmt.Sprintf("retrieve %q/%d by %s delays %v", lotName, slot, leg.id, leg.delay), do: func() {
			before := len(leg.fakeLeg.calls())
			occ, err := svc.Retrieve(bg, RetrieveRequest{Leg: leg, Retriever: "r-" + string(leg.id), Lot: lotName, Slot: slot})
			note("retrieve %s %q/%d -> %s %v", leg.id, lotName, slot, occ.Call, err)
			switch {
			case err == nil:
				resMu.Lock()
				stats.retrieved++
				resMu.Unlock()
				if got := leg.fakeLeg.calls()[before:]; !slices.Contains(got, "bridge "+string(occ.Call)) {
					w.violation("retrieve by %s returned %s without bridging it: %q", leg.id, occ.Call, got)
				}
			case errors.Is(err, ErrSlotEmpty), errors.Is(err, ErrBadSlot), errors.Is(err, ErrUnknownLot),
				errors.Is(err, ErrClosed), errors.Is(err, ErrCallGone), errors.Is(err, ErrAlreadyParked):
			default:
				if !errors.Is(err, errLegBusy) {
					w.violation("retrieve by %s: unexpected error %v", leg.id, err)
				}
			}
		}})
	}
	hangupOp := func(at time.Duration) {
		schedule = append(schedule, stressOp{at: at, desc: "hangup of a random call", do: func() {
			w.mu.Lock()
			pool := append(append([]CallID(nil), w.calls...), w.retrvs...)
			if len(pool) == 0 {
				w.mu.Unlock()
				return
			}
			c := pool[w.rng.IntN(len(pool))]
			cause := "NORMAL_CLEARING"
			if w.rng.IntN(30) == 0 {
				cause = "SYSTEM_SHUTDOWN"
			}
			w.gone[c] = true
			if _, ok := w.since[c]; !ok {
				w.since[c] = time.Now()
			}
			w.mu.Unlock()
			note("hangup %s %s", c, cause)
			svc.Hangup(bg, c, cause)
		}})
	}

	const horizon = 40
	nops := 8 + rng.IntN(25)
	for range nops {
		at := time.Duration(rng.IntN(horizon)) * time.Second
		switch k := rng.IntN(100); {
		case k < 22: // directed park
			l, s := pickLot()
			parkOp(at, l, s)
		case k < 35: // auto park
			parkOp(at, lots[rng.IntN(len(lots))].Name, 0)
		case k < 40: // parks racing for one slot
			l, s := pickLot()
			for range 2 + rng.IntN(3) {
				parkOp(at, l, s)
			}
		case k < 42: // a park racing a duplicate of itself
			parkOp(at, "main", 0)
			dup := w.legs[w.calls[len(w.calls)-1]]
			dup.delay["answer"] = time.Second // the second claim comes while the first answers
			schedule[len(schedule)-1].desc += " (answer delayed 1s)"
			schedule = append(schedule, stressOp{at: at, desc: "duplicate park of " + string(dup.id), do: func() {
				_, err := svc.Park(bg, ParkRequest{Leg: dup, Parker: "1000"})
				note("dup park %s %v", dup.id, err)
				// Either the original holds the call (ErrAlreadyParked) or
				// it was refused, and then so is its duplicate.
				for _, ok := range []error{ErrAlreadyParked, ErrCallGone, ErrClosed, ErrLotFull, ErrSlotTaken} {
					if err == nil || errors.Is(err, ok) {
						return
					}
				}
				w.violation("duplicate park of %s: %v", dup.id, err)
			}})
		case k < 56: // retrieve a slot
			l, s := pickLot()
			retrieveOp(at, l, s, nil)
		case k < 64: // retrieve the longest waiting
			retrieveOp(at, lots[rng.IntN(len(lots))].Name, 0, nil)
		case k < 70: // retrievers racing for one slot
			l, s := pickLot()
			for range 2 + rng.IntN(2) {
				retrieveOp(at, l, s, nil)
			}
		case k < 73: // a parked caller dialling the retrieve code
			var earlier []CallID
			for c, pat := range parkAt {
				if pat < at {
					earlier = append(earlier, c)
				}
			}
			if len(earlier) > 0 {
				slices.Sort(earlier)
				retrieveOp(at, "main", 0, w.legs[earlier[rng.IntN(len(earlier))]])
			}
		case k < 88:
			hangupOp(at)
		case k < 93: // the parker's phone changes behaviour
			p := parkers[rng.IntN(3)]
			ph, desc := randomPhone()
			schedule = append(schedule, stressOp{at: at, desc: "phone " + p + " now " + desc, do: func() {
				fs.mu.Lock()
				fs.phones["user/"+p] = ph
				fs.mu.Unlock()
			}})
		default: // the disk fails for a while, then recovers
			d := time.Duration(1+rng.IntN(15)) * time.Second
			schedule = append(schedule,
				stressOp{at: at, desc: "store fails", do: func() {
					st.mu.Lock()
					st.fail = errDisk
					st.mu.Unlock()
				}},
				stressOp{at: at + d, desc: "store recovers", do: func() {
					st.mu.Lock()
					st.fail = nil
					st.mu.Unlock()
					_ = svc.Flush(bg)
				}})
		}
	}
	end := time.Duration(horizon+10+rng.IntN(30)) * time.Second
	shutdownAt := end
	if rng.IntN(5) == 0 {
		shutdownAt = time.Duration(rng.IntN(horizon)) * time.Second
	}
	sort.SliceStable(schedule, func(i, j int) bool { return schedule[i].at < schedule[j].at })
	stats.ops = len(schedule)

	fail := func(format string, args ...any) {
		t.Helper()
		var b strings.Builder
		fmt.Fprintf(&b, "seed %d run %d: %s\n", seed, run, fmt.Sprintf(format, args...))
		fmt.Fprintf(&b, "lots: %+v\nphones: %v\nshutdown at %v, end %v\nschedule:\n", lots, setup, shutdownAt, end)
		for _, op := range schedule {
			fmt.Fprintf(&b, "  %6v %s\n", op.at, op.desc)
		}
		resMu.Lock()
		fmt.Fprintf(&b, "outcomes:\n  %s\n", strings.Join(results, "\n  "))
		resMu.Unlock()
		for _, r := range st.rows() {
			fmt.Fprintf(&b, "  row %-13s %s %s/%d %s\n", r.Event, r.Call, r.Lot, r.Slot, r.Reason)
		}
		fmt.Fprintf(&b, "service log:\n%s", logs.String())
		t.Fatal(b.String())
	}

	// Run it: every operation on its own goroutine at its time, a sampler
	// checking the slot table every second, and the shutdown.
	var opsWG sync.WaitGroup
	for _, op := range schedule {
		opsWG.Add(1)
		go func() {
			defer opsWG.Done()
			time.Sleep(op.at)
			op.do()
		}()
	}
	samplerDone := make(chan struct{})
	var sampled []string
	go func() {
		defer close(samplerDone)
		for i := time.Duration(0); i <= end; i += time.Second {
			if msg := tableProblem(svc.Occupants()); msg != "" && len(sampled) < 5 {
				sampled = append(sampled, fmt.Sprintf("at %v: %s", i, msg))
			}
			if msg := countProblem(svc); msg != "" && len(sampled) < 5 {
				sampled = append(sampled, fmt.Sprintf("at %v: %s", i, msg))
			}
			if msg := ringingForNobody(fs, w); msg != "" && len(sampled) < 5 {
				sampled = append(sampled, fmt.Sprintf("at %v: %s", i, msg))
			}
			time.Sleep(time.Second)
		}
	}()
	var shutErr error
	shutDone := make(chan struct{})
	go func() {
		defer close(shutDone)
		time.Sleep(shutdownAt)
		note("shutdown")
		sctx, cancel := context.WithTimeout(bg, time.Minute)
		defer cancel()
		shutErr = svc.Shutdown(sctx)
		note("shutdown done: %v", shutErr)
	}()
	<-samplerDone
	opsWG.Wait()
	<-shutDone
	synctest.Wait()

	// Settle: the disk is back, every row is written.
	st.mu.Lock()
	st.fail = nil
	st.mu.Unlock()
	if err := svc.Flush(bg); err != nil {
		fail("final flush: %v", err)
	}
	if shutErr != nil && !strings.Contains(shutErr.Error(), "history rows not written") {
		fail("shutdown: %v", shutErr)
	}
	synctest.Wait()

	if len(sampled) > 0 {
		fail("inconsistent during the run: %v", sampled)
	}
	if msg := stressCheck(svc, fs, st, w, logs.String()); msg != "" {
		fail("%s", msg)
	}
	return stats
}

// ringingForNobody reports a recall leg still ringing a second or more
// after its caller hung up or was taken by someone else: it should have
// been cancelled at once.
func ringingForNobody(fs *fakeSwitch, w *world) string {
	fs.mu.Lock()
	parked := map[CallID]CallID{}
	for _, o := range fs.placed {
		parked[o.Leg] = o.Parked
	}
	var ringing []CallID
	for leg := range fs.ringing {
		ringing = append(ringing, leg)
	}
	fs.mu.Unlock()
	slices.Sort(ringing)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, leg := range ringing {
		c := parked[leg]
		if at, ok := w.since[c]; ok && time.Since(at) >= time.Second {
			how := w.left[c]
			if w.gone[c] {
				how = "hung up"
			}
			return fmt.Sprintf("recall leg %s still rings %v after %s %s", leg, time.Since(at), c, how)
		}
	}
	return ""
}

// tableProblem reports two calls in one slot or one call in two slots.
func tableProblem(occ []Occupant) string {
	slots := map[string]CallID{}
	calls := map[CallID]string{}
	for _, o := range occ {
		k := fmt.Sprintf("%s/%d", o.Lot, o.Slot)
		if c, ok := slots[k]; ok {
			return fmt.Sprintf("slot %s holds %s and %s", k, c, o.Call)
		}
		if s, ok := calls[o.Call]; ok {
			return fmt.Sprintf("call %s holds %s and %s", o.Call, s, k)
		}
		slots[k], calls[o.Call] = o.Call, k
	}
	return ""
}

// countProblem says which lot's counts of calls (occupied, being parked)
// differ from its slots, if any.
func countProblem(svc *Service) string {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	lots := slices.Clone(svc.lots)
	for _, l := range svc.retired {
		lots = append(lots, l)
	}
	for _, l := range lots {
		occupied, parking := 0, 0
		for _, e := range append(slices.Clone(l.slots), slices.Collect(maps.Values(l.held))...) {
			if e != nil {
				occupied++
				if e.state == stateParking {
					parking++
				}
			}
		}
		if occupied != l.occupied || parking != l.parking {
			return fmt.Sprintf("lot %s counts %d calls, %d being parked; its slots hold %d, %d being parked",
				l.cfg.key(), l.occupied, l.parking, occupied, parking)
		}
	}
	return ""
}

// stressCheck checks the invariants once everything settled; "" if they hold.
func stressCheck(svc *Service, fs *fakeSwitch, st *memStore, w *world, logs string) string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	w.mu.Lock()
	problems = append(problems, w.bad...)
	w.mu.Unlock()

	// (a), (b): the Service's table and the store's.
	occ := svc.Occupants()
	if msg := tableProblem(occ); msg != "" {
		bad("service: %s", msg)
	}
	if msg := countProblem(svc); msg != "" {
		bad("service: %s", msg)
	}
	st.mu.Lock()
	stored := make([]Occupant, 0, len(st.occ))
	for _, o := range st.occ {
		stored = append(stored, o)
	}
	st.mu.Unlock()
	if msg := tableProblem(stored); msg != "" {
		bad("store: %s", msg)
	}
	if strings.Contains(logs, "store refused the transition") {
		bad("the store refused a transition (two calls in one slot reached it)")
	}

	// (e): the store's occupancy is the Service's.
	byCall := map[CallID]Occupant{}
	for _, o := range stored {
		byCall[o.Call] = o
	}
	for _, o := range occ {
		s, ok := byCall[o.Call]
		switch {
		case !ok:
			bad("%s is parked in %s/%d but has no occupancy row", o.Call, o.Lot, o.Slot)
		case s.Lot != o.Lot || s.Slot != o.Slot || s.Parker != o.Parker || s.Attempts != o.Attempts || !s.ParkedAt.Equal(o.ParkedAt):
			bad("%s: occupancy row %+v, service %+v", o.Call, s, o)
		}
		delete(byCall, o.Call)
	}
	for c, o := range byCall {
		bad("occupancy row for %s in %s/%d, but the service does not hold it", c, o.Lot, o.Slot)
	}

	// (c): bridges. Every bridge a retriever or the switch made, by parked call.
	_, killed, swBridged, transfers := fs.snapshot()
	bridges := map[CallID][]string{}
	w.mu.Lock()
	legs := make(map[CallID]*stressLeg, len(w.legs))
	for id, l := range w.legs {
		legs[id] = l
	}
	left := make(map[CallID]string, len(w.left))
	for c, how := range w.left {
		left[c] = how
	}
	gone := make(map[CallID]bool, len(w.gone))
	for c, g := range w.gone {
		gone[c] = g
	}
	w.mu.Unlock()
	rows := st.rows()
	everParked := map[CallID]bool{}
	for _, r := range rows {
		if r.Event == EventParked {
			everParked[r.Call] = true
		}
	}
	for id, l := range legs {
		l.mu.Lock()
		b := append([]CallID(nil), l.bridged...)
		l.mu.Unlock()
		for _, p := range b {
			bridges[p] = append(bridges[p], "retriever "+string(id))
		}
	}
	for _, pair := range swBridged {
		bridges[pair[0]] = append(bridges[pair[0]], "recall leg "+string(pair[1]))
		if everParked[pair[1]] {
			bad("parked caller %s bridged to parked caller %s", pair[0], pair[1])
		}
	}
	for c, by := range bridges {
		if len(by) > 1 {
			bad("%s bridged %d times: %v", c, len(by), by)
		}
	}

	// Every answered recall leg is bridged to its caller or hung up: no
	// parker is left holding a silent line, and none is still ringing.
	bridgedLegs := map[CallID]bool{}
	for _, pair := range swBridged {
		bridgedLegs[pair[1]] = true
	}
	fs.mu.Lock()
	for leg, up := range fs.live {
		if up && !bridgedLegs[leg] {
			bad("recall leg %s answered, then left up without a bridge (killed %v)", leg, slices.Contains(killed, leg))
		}
	}
	for leg := range fs.ringing {
		bad("recall leg %s still ringing after shutdown", leg)
	}
	fs.mu.Unlock()

	// (d): every call's history is legal and agrees with what the switch did.
	hist := map[CallID][]Transition{}
	var order []CallID
	for _, r := range rows {
		if _, ok := hist[r.Call]; !ok {
			order = append(order, r.Call)
		}
		hist[r.Call] = append(hist[r.Call], r)
	}
	parkedNow := map[CallID]bool{}
	for _, o := range occ {
		parkedNow[o.Call] = true
	}
	transferred := map[CallID]int{}
	for _, x := range transfers {
		c, _, _ := strings.Cut(x, " -> ")
		transferred[CallID(c)]++
	}
	for _, c := range order {
		h := hist[c]
		msg, terminal, open := historyProblem(h, svc)
		if msg != "" {
			bad("%s: %s: %s", c, msg, eventsOf(h))
			continue
		}
		switch {
		case open && !parkedNow[c]:
			bad("%s: history %s ends parked, but the call holds no slot", c, eventsOf(h))
		case !open && parkedNow[c]:
			bad("%s: history %s is closed, but the call still holds a slot", c, eventsOf(h))
		}
		// What the history says happened is what the switch did.
		nb := len(bridges[c])
		if want := terminal == EventRetrieved || terminal == EventRecalled; want != (nb == 1) {
			bad("%s: history %s, but bridged %d times %v", c, eventsOf(h), nb, bridges[c])
		}
		if want := terminal == EventFallback; want != (transferred[c] == 1) {
			bad("%s: history %s, but transferred %d times", c, eventsOf(h), transferred[c])
		}
		if terminal == EventAbandoned && !gone[c] {
			bad("%s: history %s, but the caller never hung up", c, eventsOf(h))
		}
	}
	for c := range bridges {
		if _, ok := hist[c]; !ok {
			bad("%s bridged %v without any history", c, bridges[c])
		}
	}

	// The switch's view: every call still parked got its music and is still
	// there: not hung up, not bridged, not transferred.
	for _, o := range occ {
		l := legs[o.Call]
		if l == nil {
			bad("%s occupies %s/%d but no such call was made", o.Call, o.Lot, o.Slot)
			continue
		}
		held := slices.ContainsFunc(l.fakeLeg.calls(), func(s string) bool {
			return strings.HasPrefix(s, fmt.Sprintf("hold %s/%d ", o.Lot, o.Slot))
		})
		if !held || gone[o.Call] || left[o.Call] != "" {
			bad("%s occupies %s/%d, but on the switch: held=%v hung up=%v left=%q", o.Call, o.Lot, o.Slot, held, gone[o.Call], left[o.Call])
		}
	}
	if n := svc.Pending(); n != 0 {
		bad("%d history rows still pending after the store recovered", n)
	}
	if len(problems) > 12 {
		problems = append(problems[:12], fmt.Sprintf("... and %d more", len(problems)-12))
	}
	return strings.Join(problems, "\n")
}

func eventsOf(h []Transition) []Event {
	out := make([]Event, len(h))
	for i, r := range h {
		out[i] = r.Event
	}
	return out
}

// historyProblem checks one call's rows. A call's history is a series of
// lives (a call may be parked again once it left, e.g. transferred back):
// each is "rejected" alone, "abandoned" alone (the caller left while being
// parked), or "parked", then any number of "recall"
// followed by "recall_failed", then at most one terminal (retrieved,
// recalled, abandoned, fallback, lost) directly after "parked",
// "recall" or "recall_failed"; "recalled" only right after "recall". Only
// the last life may be open (no terminal). Every row of a life names the
// slot it was parked in. It returns the terminal of the last life and
// whether that life is open.
func historyProblem(h []Transition, svc *Service) (msg string, terminal Event, open bool) {
	var (
		prev     Event // "" between lives
		slot     string
		attempts int
		lives    int
	)
	for i, r := range h {
		here := fmt.Sprintf("%s/%d", r.Lot, r.Slot)
		leftWhileParking := r.Event == EventAbandoned && (prev == "" || isTerminal(prev) || prev == EventRejected)
		if r.Event != EventParked && r.Event != EventRejected && !leftWhileParking && here != slot {
			return fmt.Sprintf("row %d (%s) in %s, parked in %s", i, r.Event, here, slot), "", false
		}
		switch r.Event {
		case EventRejected:
			if prev != "" && !isTerminal(prev) && prev != EventRejected {
				return fmt.Sprintf("row %d: rejected in the middle of a park", i), "", false
			}
		case EventParked:
			if prev != "" && !isTerminal(prev) && prev != EventRejected {
				return fmt.Sprintf("row %d: parked twice without leaving", i), "", false
			}
			lives++
			slot, attempts = here, 0
			if r.Occupancy == nil {
				return fmt.Sprintf("row %d: parked without an occupancy row", i), "", false
			}
		case EventRecall:
			if prev != EventParked && prev != EventRecallFailed {
				return fmt.Sprintf("row %d: recall after %q", i, prev), "", false
			}
			attempts++
			if r.Occupancy == nil || r.Occupancy.Attempts < attempts {
				return fmt.Sprintf("row %d: recall without its attempt count", i), "", false
			}
		case EventRecallFailed:
			if prev != EventRecall {
				return fmt.Sprintf("row %d: recall_failed after %q", i, prev), "", false
			}
		case EventRecalled:
			if prev != EventRecall {
				return fmt.Sprintf("row %d: recalled after %q", i, prev), "", false
			}
		case EventFallback:
			if prev != EventParked && prev != EventRecallFailed {
				return fmt.Sprintf("row %d: fallback after %q", i, prev), "", false
			}
			if prev == EventRecallFailed {
				lc := svc.byName[lotKey{r.Domain, r.Lot}].cfg
				if attempts < lc.Recall.Attempts {
					return fmt.Sprintf("row %d: fallback after %d of %d recalls", i, attempts, lc.Recall.Attempts), "", false
				}
			}
		case EventRetrieved, EventAbandoned, EventLost:
			if leftWhileParking {
				break
			}
			if prev != EventParked && prev != EventRecall && prev != EventRecallFailed {
				return fmt.Sprintf("row %d: %s after %q", i, r.Event, prev), "", false
			}
		default:
			return fmt.Sprintf("row %d: unknown event %q", i, r.Event), "", false
		}
		if r.Event != EventParked && r.Event != EventRecall && r.Event != EventRecallFailed && r.Occupancy != nil {
			return fmt.Sprintf("row %d: %s keeps an occupancy row", i, r.Event), "", false
		}
		prev = r.Event
	}
	switch {
	case prev == EventRecall:
		return "ends with a recall nobody settled", "", false
	case prev == EventRejected:
		return "", "", false
	case isTerminal(prev):
		return "", prev, false
	}
	return "", "", prev != ""
}

func isTerminal(e Event) bool {
	switch e {
	case EventRetrieved, EventRecalled, EventAbandoned, EventFallback, EventLost:
		return true
	}
	return false
}
