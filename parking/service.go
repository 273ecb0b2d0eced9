package parking

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// state is where a slot's call is in its life.
type state int

const (
	stateParking      state = iota // slot claimed; answer, announcement and music under way
	stateParked                    // hearing music, waiting
	stateRetrieving                // a retriever is being bridged to it
	stateRecalling                 // a recall leg rings the parker
	stateRecallBridge              // the parker answered; being bridged to it
	stateTransferring              // being sent to the lot's fallback
	stateHandoff                   // hung up by an attended transfer: the slot waits for the call replacing it
	statePickup                    // a pickup leg rings a person's phone for it (Pickup)
	statePickupBridge              // the pickup leg answered; being bridged to it
	stateHangingUp                 // a person hangs it up (HangUpParked)
)

// entry is a call that holds a slot. Guarded by Service.mu.
type entry struct {
	occ    Occupant
	state  state
	hungUp string // hangup cause seen while an operation was under way

	// gen changes whenever a pending timer or recall stops applying: a
	// timer or recall result carrying an older gen is ignored. That settles
	// timeout-versus-retrieve and recall-versus-hangup races.
	gen       uint64
	timer     *time.Timer
	recallLeg CallID // the leg ringing the parker (stateRecalling) or being bridged to it (stateRecallBridge)
	// recallStop is closed to cancel the ringing recall: its watcher then
	// hangs the leg up as soon as it exists (a uuid_kill can overtake the
	// bgapi originate that creates it).
	recallStop chan struct{}
	// recallCut says that the action under way (a pickup) cancelled a
	// ringing recall: if the action fails, the recall gets its outcome row.
	recallCut bool
	// settled, made by the first retriever that finds the call still being
	// parked (stateParking), is closed once the park ends either way
	// (settle): the retriever then tries again. Nil while nobody waits, so
	// a park allocates nothing for it.
	settled chan struct{}
}

// awaitSettled returns the channel closed when e's park ends. Called with
// s.mu held.
func (e *entry) awaitSettled() <-chan struct{} {
	if e.settled == nil {
		e.settled = make(chan struct{})
	}
	return e.settled
}

// settle wakes the retrievers waiting for e's park to end: it is parked,
// or its slot was let go. Called with s.mu held.
func (e *entry) settle() {
	if e.settled != nil {
		close(e.settled)
		e.settled = nil
	}
}

// stopRecall cancels e's ringing recall, if any. Called with s.mu held.
func (e *entry) stopRecall() {
	if e.recallStop != nil {
		close(e.recallStop)
		e.recallStop = nil
	}
}

// Service is the park/retrieve state machine. One mutex guards all lots;
// it is never held across I/O: an operation marks its call (parking,
// retrieving), unlocks, talks to the switch, then locks again to commit or
// roll back. Every committed transition goes to the Store in decision order.
type Service struct {
	// Logger receives one line per transition. Default: zerolog.Nop().
	Logger zerolog.Logger
	// Lamps, if set (before Open), is told every change of a slot's or a
	// lot's busy lamp. Nil: no lamps.
	Lamps Lamps
	// PINs, if set, counts wrong PINs of outside pick-ups and keeps
	// their lockouts; without it no lot is offered from outside.
	PINs PINFailures
	// Clock, if set, is the time lockouts are judged by. Default time.Now.
	Clock func() time.Time
	// RecordRecallFirst writes a recall's row before the parker's phone
	// rings, and rings only once it is written (recall_first.go). A parkd
	// of an active/standby pair sets it so that a standby taking over
	// never rings a recall twice. Default: ring first (issue 16).
	RecordRecallFirst bool
	// Node names the FreeSWITCH node this Service parks on when lots are
	// shared by several (nodes.go); "" for none. Claims and Nodes, if
	// set, reach the other nodes through the shared store. Set before
	// Open.
	Node   string
	Claims SlotClaims
	Nodes  Nodes
	// CommitEvery, if set (before Open), is the least time between the
	// starts of two history transactions. Under load a flush then waits
	// out the rest of the period, and the transitions of every call
	// decided meanwhile are written with its own in one transaction: the
	// commit, not the row, is what a history write costs. A flush that
	// finds the journal idle for that long writes at once. Each operation
	// still returns only once its rows are written; the switch's commands
	// go out before that wait. 0: every flush writes at once.
	CommitEvery time.Duration
	sw          Switch
	jour        *journal

	bgCtx  context.Context // recalls and fallbacks run under it; Shutdown ends it
	bgStop context.CancelFunc
	bg     sync.WaitGroup

	mu     sync.Mutex
	lots   []*lot
	byName map[lotKey]*lot
	// defaults are each domain's default lot: its first configured.
	defaults map[string]*lot
	// tenants says some lot has a domain: requests are then matched to
	// lots by the calling channel's domain (see domainOf).
	tenants bool
	// retired are lots a Reconfigure removed while calls were parked in
	// them, with their last configuration: those calls stay, can be
	// retrieved and recalled, and the lot goes once the last one leaves.
	retired map[lotKey]*lot
	calls   map[CallID]*entry
	closed  bool
	busy    sync.WaitGroup // operations under way, for Shutdown

	// surveys counts the reconciles whose survey is under way; while
	// there is one, letGo holds the calls released, so that a call
	// retrieved (or hung up) during a survey that saw it parked is not
	// re-adopted from it, whether it was parked before the survey began
	// or while it was under way.
	surveys int
	letGo   map[CallID]struct{}

	// toLog holds the transitions committed and not yet logged; flush logs
	// them outside mu, so that a slow log writer never stalls the Service.
	toLog  []Transition
	logMu  sync.Mutex   // one logger of transitions at a time, in commit order
	logged []Transition // the batch logged last, reused as toLog; guarded by logMu
}

// NewService returns a Service for lots (the first is the default lot),
// driving sw and persisting to st. Set optional fields, then call Open.
func NewService(lots []LotConfig, sw Switch, st Store) (*Service, error) {
	ls, byName, err := buildLots(lots)
	if err != nil {
		return nil, err
	}
	bgCtx, bgStop := context.WithCancel(context.Background())
	s := &Service{
		Logger: zerolog.Nop(),
		bgCtx:  bgCtx,
		bgStop: bgStop,
		sw:     sw,
		jour:   newJournal(st),
		calls:  make(map[CallID]*entry),
	}
	s.setLots(ls, byName)
	return s, nil
}

// setLots installs the lots and their indexes. Called with s.mu held, or
// before the Service is shared.
func (s *Service) setLots(ls []*lot, byName map[lotKey]*lot) {
	s.lots, s.byName = ls, byName
	s.defaults = map[string]*lot{}
	s.tenants = false
	for _, l := range ls {
		if _, ok := s.defaults[l.cfg.Domain]; !ok {
			s.defaults[l.cfg.Domain] = l
		}
		if l.cfg.Domain != "" {
			s.tenants = true
		}
	}
}

// domainOf is the domain whose lots a request of a channel in domain d
// may use. With no lot in any domain (one tenant, the default) it is
// always "": the channel's domain plays no part, as before lots had
// domains. Otherwise it is d itself, case-folded: a channel of a domain no
// lot belongs to, or of none, finds no lot (unless lots without a domain
// are configured, for channels without one) and is refused rather than
// sent to another tenant's lots. Called with s.mu held.
func (s *Service) domainOf(d string) string {
	if !s.tenants {
		return ""
	}
	return strings.ToLower(d)
}

// buildLots checks lot configurations and makes their empty lots.
func buildLots(cfgs []LotConfig) ([]*lot, map[lotKey]*lot, error) {
	if len(cfgs) == 0 {
		return nil, nil, errors.New("parking: no lots configured")
	}
	lots := make([]*lot, 0, len(cfgs))
	byName := make(map[lotKey]*lot, len(cfgs))
	for _, cfg := range cfgs {
		cfg.Domain = strings.ToLower(cfg.Domain)
		if cfg.Name == "" || cfg.First <= 0 || cfg.Last < cfg.First {
			return nil, nil, fmt.Errorf("parking: lot %q: bad slot range %d-%d", cfg.key(), cfg.First, cfg.Last)
		}
		if _, dup := byName[cfg.key()]; dup {
			return nil, nil, fmt.Errorf("parking: lot %q configured twice", cfg.key())
		}
		l := newLot(cfg)
		lots = append(lots, l)
		byName[cfg.key()] = l
	}
	return lots, byName, nil
}

// Open loads the calls the Store says are parked and re-adopts them, so
// that a restarted parkd knows its slots. Their recall timers start with the
// first Reconcile, once the switch is reachable, from the stored deadlines.
func (s *Service) Open(ctx context.Context) error {
	s.jour.logger = s.Logger
	s.jour.every = s.CommitEvery
	occs, err := s.jour.store.Occupied(ctx)
	if err != nil {
		return fmt.Errorf("load occupancy: %w", err)
	}
	s.mu.Lock()
	for _, o := range occs {
		s.adopt(o, "")
	}
	n := len(s.calls)
	s.mu.Unlock()
	s.flush(ctx)
	s.Logger.Info().Int("parked", n).Msg("occupancy loaded")
	return nil
}

// adopt takes o into the slot table as parked. If its lot or slot no longer
// exists, or the slot is taken, it moves to a free slot (of its lot, else of
// the default lot) rather than being lost: it is still parked in
// FreeSWITCH. A row is written when it moved, or when reason says why it
// was unknown. Returns false when no slot is free. Called with s.mu held.
func (s *Service) adopt(o Occupant, reason string) bool {
	want := o.Slot
	l, ok := s.byName[o.lotKey()]
	if !ok {
		// Another lot of the call's domain, never another tenant's: with
		// lots in domains, a call whose domain has none stays unmanaged.
		if l, ok = s.defaults[o.Domain]; !ok && s.tenants {
			s.Logger.Error().Str("lot", o.Lot).Str("domain", o.Domain).Int("slot", o.Slot).Str("call", string(o.Call)).
				Msg("a parked call's domain has no lot any more to re-adopt it into; it stays parked in FreeSWITCH unmanaged")
			return false
		} else if !ok {
			l = s.lots[0]
		}
	}
	slot := o.Slot
	if !l.cfg.Contains(slot) || l.at(slot) != nil {
		free, ok := l.free(l.cfg.First)
		if !ok {
			s.Logger.Error().Str("lot", o.Lot).Int("slot", o.Slot).Str("call", string(o.Call)).
				Msg("a parked call has no free slot to be re-adopted into; it stays parked in FreeSWITCH unmanaged")
			return false
		}
		slot = free
	}
	moved := l.cfg.key() != o.lotKey() || slot != want
	from := ""
	if moved {
		from = fmt.Sprintf("%s/%d", o.lotKey(), want)
	}
	o.Lot, o.Domain, o.Slot = l.cfg.Name, l.cfg.Domain, slot
	if o.ParkedAt.IsZero() {
		o.ParkedAt = time.Now()
	}
	if o.Deadline.IsZero() {
		o.Deadline = o.ParkedAt.Add(l.cfg.Timeout)
	}
	e := &entry{occ: o, state: stateParked}
	l.set(slot, e)
	s.calls[o.Call] = e
	if moved {
		reason = strings.TrimPrefix(reason+"; moved from "+from+": that slot is taken or no longer configured", "; ")
		s.Logger.Warn().Str("lot", o.Lot).Int("slot", slot).Str("call", string(o.Call)).Msg(reason)
	}
	if reason != "" {
		occ := e.occ
		s.commit(Transition{Event: EventParked, Reason: reason, Occupancy: &occ}, e)
	} else {
		s.relight(o.lotKey(), slot)
	}
	return true
}

// Reconcile compares parkd's slots with what FreeSWITCH has and repairs
// the difference; run it after every (re)connection. A parked call that is
// gone is closed as lost; one found bridged was retrieved just before parkd
// lost track and is closed as retrieved; a parked call FreeSWITCH has that
// parkd does not know (its row never reached the store) is re-adopted from
// its channel variables. A recall leg nobody is waiting for is bridged to
// its caller if the parker answered meanwhile, else hung up so the recall
// starts afresh. Timers of parked calls are (re)armed from their deadlines.
func (s *Service) Reconcile(ctx context.Context) error {
	// What the survey says is judged only against calls parkd knew before
	// it began, unchanged since: a park that completes meanwhile must not
	// look "not parked" by a survey taken before its music started. A call
	// let go of meanwhile must not be re-adopted from it (see letGo).
	s.mu.Lock()
	before := make(map[CallID]surveyed, len(s.calls))
	for c, e := range s.calls {
		before[c] = surveyed{e: e, gen: e.gen, st: e.state}
	}
	s.surveys++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		if s.surveys--; s.surveys == 0 {
			s.letGo = nil
		}
		s.mu.Unlock()
	}()
	known := make([]CallID, 0, len(before))
	for c := range before {
		known = append(known, c)
	}
	chans, err := s.sw.Survey(ctx, known)
	if err != nil {
		// Nothing can be judged, but recalls must not wait for the next
		// successful survey: start the timers of the calls parkd knows.
		s.mu.Lock()
		s.armAll()
		s.mu.Unlock()
		return fmt.Errorf("reconcile: %w", err)
	}
	byCall := make(map[CallID]Channel, len(chans))
	for _, ch := range chans {
		byCall[ch.Call] = ch
	}
	var kill []CallID
	var attach []recallAttach
	var stranded []Channel

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	for _, e := range s.calls {
		if b, ok := before[e.occ.Call]; !ok || b.e != e || b.gen != e.gen || b.st != stateParked || e.state != stateParked {
			continue // changed since the survey, or an operation under way settles it
		}
		switch ch, ok := byCall[e.occ.Call]; {
		case !ok:
			s.release(e)
			s.commit(Transition{Event: EventLost, Reason: "channel gone while parkd was not watching"}, e)
		case ch.Bridged:
			s.release(e)
			s.commit(Transition{Event: EventRetrieved, Reason: "found bridged after parkd lost track of it"}, e)
		case !ch.Parked:
			s.release(e)
			s.commit(Transition{Event: EventLost, Reason: "no longer parked: the channel left the park while parkd was not watching"}, e)
		}
	}
	for _, ch := range chans {
		if _, known := s.calls[ch.Call]; ch.Stranded && !known && !ch.Return.IsZero() {
			stranded = append(stranded, ch)
		}
		if ch.RecallFor != "" || ch.Slot == 0 || !ch.Parked {
			continue
		}
		if _, known := s.calls[ch.Call]; known {
			continue
		}
		if _, gone := s.letGo[ch.Call]; gone {
			continue // let go of while the survey was under way
		}
		s.adopt(Occupant{
			Lot: ch.Lot, Domain: ch.Domain, Slot: ch.Slot, Call: ch.Call, Caller: ch.Caller, Parker: ch.Parker, ParkedAt: ch.ParkedAt,
		}, "re-adopted from FreeSWITCH: the park had not reached the store")
	}
	for _, ch := range chans {
		if ch.RecallFor == "" {
			continue
		}
		e := s.calls[ch.RecallFor]
		switch {
		case e != nil && (e.state == stateRecalling || e.state == stateRecallBridge ||
			e.state == statePickup || e.state == statePickupBridge) && e.recallLeg == ch.Call:
			// Ours (a recall or a pickup), ringing or being bridged: its
			// goroutine settles it.
		case e != nil && e.state == stateParked && ch.Answered:
			// The parker answered while parkd was away: connect them.
			e.gen++
			e.state = stateRecallBridge
			e.recallLeg = ch.Call
			s.relight(e.occ.lotKey(), e.occ.Slot)
			s.bg.Add(1)
			attach = append(attach, recallAttach{e: e, gen: e.gen, leg: ch.Call})
		default:
			kill = append(kill, ch.Call)
		}
	}
	s.armAll()
	s.mu.Unlock()
	s.flush(ctx)

	for _, leg := range kill {
		s.kill(ctx, leg, "NORMAL_CLEARING")
	}
	// A call stranded by a parkd that died before answering it was never
	// parked and has no history: it goes where the dialplan sends a call
	// parkd cannot take, as if the park had been refused.
	for _, ch := range stranded {
		err := s.sw.Transfer(ctx, ch.Call, ch.Return)
		s.Logger.Warn().Err(err).Str("call", string(ch.Call)).Str("to", ch.Return.String()).
			Msg("a call stranded on its way to a parkd that stopped is sent back")
	}
	for _, a := range attach {
		go s.bridgeRecall(a.e, a.gen, a.leg)
	}
	return nil
}

// surveyed is a call as parkd knew it when a survey began.
type surveyed struct {
	e   *entry
	gen uint64
	st  state
}

// armAll starts the timer of every parked call that has none (after Open
// they wait for the first reconcile). Called with s.mu held.
func (s *Service) armAll() {
	for _, e := range s.calls {
		if e.state == stateParked && e.timer == nil {
			s.arm(e)
		}
	}
}

// recallAttach is a recall leg answered while parkd was away.
type recallAttach struct {
	e   *entry
	gen uint64
	leg CallID
}

// SwitchShutdown tells the Service that FreeSWITCH is shutting down: every
// parked call is about to be hung up by it (SYSTEM_SHUTDOWN) and is closed
// as lost. Calls in the middle of an operation are settled by it.
func (s *Service) SwitchShutdown(ctx context.Context) {
	s.mu.Lock()
	for _, e := range s.calls {
		switch e.state {
		case stateParked, stateRecalling, stateHandoff, statePickup:
			e.stopRecall()
			s.release(e)
			s.commit(Transition{Event: EventLost, Reason: "FreeSWITCH shut down"}, e)
		default:
			e.hungUp = "SYSTEM_SHUTDOWN"
		}
	}
	s.mu.Unlock()
	s.flush(ctx)
}

// Hangup tells the Service that a channel hung up. A parked caller's slot
// is freed at once and the call is recorded as abandoned, and a recall
// or a pickup ringing for it is cancelled; a parked call hung up by an attended
// transfer (cause ATTENDED_TRANSFER) keeps its slot a while for the call
// replacing it (see awaitReplacement); a call in the middle of being parked,
// retrieved, recalled or transferred is marked, and that operation settles
// it. Other channels are ignored.
func (s *Service) Hangup(ctx context.Context, call CallID, cause string) {
	if cause == "" {
		cause = "hangup"
	}
	s.mu.Lock()
	e, ok := s.calls[call]
	if !ok {
		s.mu.Unlock()
		return
	}
	if cause == causeAttendedTransfer && s.awaitReplacement(e) {
		s.mu.Unlock()
		return
	}
	switch e.state {
	case stateParked:
	case stateRecalling, statePickup:
		e.stopRecall() // the ringing recall or pickup leg is hung up
	case stateHandoff:
		s.mu.Unlock()
		return // already gone; its slot waits for its replacement
	default:
		e.hungUp = cause
		s.mu.Unlock()
		return
	}
	s.release(e)
	if cause == "SYSTEM_SHUTDOWN" {
		// FreeSWITCH is stopping: the caller did not give up, the switch
		// took the call down.
		s.commit(Transition{Event: EventLost, Reason: "FreeSWITCH shut down (SYSTEM_SHUTDOWN)"}, e)
	} else {
		s.commit(Transition{Event: EventAbandoned, Reason: cause}, e)
	}
	s.mu.Unlock()
	s.flush(ctx)
}

// Occupants returns the parked calls, by domain, lot and slot.
func (s *Service) Occupants() []Occupant {
	calls := s.ParkedCalls()
	out := make([]Occupant, len(calls))
	for i, c := range calls {
		out[i] = c.Occupant
	}
	return out
}

// ParkedCall is a parked call as a board shows it.
type ParkedCall struct {
	Occupant
	// Recalling: a recall rings the parker for the call now (its slot's
	// lamp blinks).
	Recalling bool
}

// ParkedCalls returns the parked calls, by domain, lot and slot, each with
// whether a recall rings for it, read together under one hold of the lock
// that parks take: a board listing a thousand calls asks once, not once
// per call.
func (s *Service) ParkedCalls() []ParkedCall {
	s.mu.Lock()
	out := make([]ParkedCall, 0, len(s.calls))
	for _, e := range s.calls {
		if e.state == stateParking {
			continue
		}
		st, _ := lampOf(e)
		out = append(out, ParkedCall{Occupant: e.occ, Recalling: st == LampRinging})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b ParkedCall) int {
		return cmp.Or(strings.Compare(a.Domain, b.Domain), strings.Compare(a.Lot, b.Lot), cmp.Compare(a.Slot, b.Slot))
	})
	return out
}

// Pending returns how many history rows wait to be written (non-zero only
// while the store fails).
func (s *Service) Pending() int { return s.jour.pending() }

// Flush retries writing pending history rows.
func (s *Service) Flush(ctx context.Context) error { return s.jour.flush(ctx) }

// Shutdown stops taking requests and timers, cancels recalls still
// ringing (nobody would be there to bridge an answer), and waits until the
// operations under way have finished or ctx ends. Parked calls stay parked
// in FreeSWITCH; the next Open re-adopts them and re-arms their recalls from
// the stored deadlines.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, e := range s.calls {
		if e.timer != nil {
			e.timer.Stop()
		}
		e.stopRecall()
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.busy.Wait(); s.bg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		s.bgStop()
		return fmt.Errorf("shutdown: operations still under way: %w", ctx.Err())
	}
	s.bgStop()
	if err := s.jour.flush(ctx); err != nil {
		return fmt.Errorf("shutdown: %d history rows not written: %w", s.jour.pending(), err)
	}
	return nil
}

// lot resolves a lot of domain (as domainOf gives it) by name; "" is the
// domain's default lot, its first configured. Called with s.mu held.
func (s *Service) lot(domain, name string) (*lot, error) {
	if name == "" {
		if l, ok := s.defaults[domain]; ok {
			return l, nil
		}
		return nil, fmt.Errorf("%w: no lot for domain %q", ErrUnknownLot, domain)
	}
	l, ok := s.byName[lotKey{domain, name}]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownLot, lotKey{domain, name})
	}
	return l, nil
}

// lotOf returns the lot that holds e: a configured one, or a retired one
// that a reload removed while e was in it. Called with s.mu held.
func (s *Service) lotOf(e *entry) *lot {
	if l, ok := s.byName[e.occ.lotKey()]; ok {
		return l
	}
	return s.retired[e.occ.lotKey()]
}

// cfgOf returns the configuration of e's lot. Called with s.mu held.
func (s *Service) cfgOf(e *entry) LotConfig {
	if l := s.lotOf(e); l != nil {
		return l.cfg
	}
	return LotConfig{Name: e.occ.Lot, Domain: e.occ.Domain} // unreachable: every call is in a lot
}

// release frees e's slot and stops its timer. Called with s.mu held.
func (s *Service) release(e *entry) {
	e.settle()
	e.gen++
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	if l := s.lotOf(e); l != nil && l.at(e.occ.Slot) == e {
		l.set(e.occ.Slot, nil)
		if s.retired[l.cfg.key()] == l && l.empty() {
			// The lot goes with its last call: commit will find no lot
			// to relight, so its lamps go dark here.
			s.relight(l.cfg.key(), e.occ.Slot)
			delete(s.retired, l.cfg.key())
		}
	}
	if s.calls[e.occ.Call] == e {
		delete(s.calls, e.occ.Call)
		if s.surveys > 0 {
			if s.letGo == nil {
				s.letGo = map[CallID]struct{}{}
			}
			s.letGo[e.occ.Call] = struct{}{}
		}
	}
}

// commit fills t from e and queues it for the store and the log. Called
// with s.mu held, so transitions reach both in the order they happened;
// the next flush writes and logs them.
func (s *Service) commit(t Transition, e *entry) {
	t.At = time.Now()
	t.Lot, t.Domain, t.Slot, t.Call = e.occ.Lot, e.occ.Domain, e.occ.Slot, e.occ.Call
	t.Caller, t.Parker = e.occ.Caller, e.occ.Parker
	if t.Event != EventParked && t.Event != EventRejected && !e.occ.ParkedAt.IsZero() {
		t.Wait = e.occ.Waited(t.At).Round(time.Millisecond)
	}
	s.jour.add(t)
	s.toLog = append(s.toLog, t)
	if t.Event != EventRejected {
		s.relight(lotKey{t.Domain, t.Lot}, t.Slot)
	}
}

// logCommitted logs the transitions committed since it last ran, in commit
// order. Called without s.mu.
func (s *Service) logCommitted() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	s.mu.Lock()
	ts := s.toLog
	s.toLog = s.logged[:0]
	s.mu.Unlock()
	for _, t := range ts {
		s.logTransition(t)
	}
	clear(ts)
	s.logged = ts
}

// logTransition writes t's log line.
func (s *Service) logTransition(t Transition) {
	ev := s.Logger.Info()
	if t.Event == EventLost || t.Event == EventRejected {
		ev = s.Logger.Warn()
	}
	ev.Str("event", string(t.Event)).Str("lot", t.Lot)
	if t.Domain != "" {
		ev.Str("domain", t.Domain)
	}
	ev.Int("slot", t.Slot).Str("call", string(t.Call)).
		Str("caller_number", t.Caller.Number).Str("parker", t.Parker)
	if t.Retriever != "" {
		ev.Str("retriever", t.Retriever)
	}
	if t.Reason != "" {
		ev.Str("reason", t.Reason)
	}
	ev.Int64("wait_ms", t.Wait.Milliseconds()).Msg(string(t.Event))
}

// flush logs and writes the committed transitions; a write failure is
// logged by the journal and retried on the next flush, so the caller
// carries on. Called without s.mu, after every commit.
func (s *Service) flush(ctx context.Context) {
	s.logCommitted()
	_ = s.jour.flush(ctx)
}

// refuse tells the channel no. A failure to do so only matters to the log:
// the channel then falls through to the dialplan's own fallback.
func (s *Service) refuse(ctx context.Context, leg Leg, returnTo string, why error) {
	if errors.Is(why, ErrCallGone) || errors.Is(why, ErrAlreadyParked) {
		return // nobody to tell, or a parked caller who must not hear it
	}
	if err := leg.Refuse(ctx, returnTo); err != nil && !errors.Is(err, ErrCallGone) {
		s.Logger.Warn().Err(err).Str("call", string(leg.Call())).Msg("could not play the error tone")
	}
}
