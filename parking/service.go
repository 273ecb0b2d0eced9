package parking

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// state is where a slot's call is in its life.
type state int

const (
	stateParking    state = iota // slot claimed; answer, announcement and music under way
	stateParked                  // hearing music, waiting
	stateRetrieving              // a retriever is being bridged to it
)

// entry is a call that holds a slot. Guarded by Service.mu.
type entry struct {
	occ    Occupant
	state  state
	hungUp string // hangup cause seen while an operation was under way
}

// Service is the park/retrieve state machine. One mutex guards all lots;
// it is never held across I/O: an operation marks its call (parking,
// retrieving), unlocks, talks to the switch, then locks again to commit or
// roll back. Every committed transition goes to the Store in decision order.
type Service struct {
	// Logger receives one line per transition. Default: zerolog.Nop().
	Logger zerolog.Logger
	// Clock is the time source. Default: RealClock.
	Clock Clock

	sw   Switch
	jour *journal

	mu     sync.Mutex
	lots   []*lot
	byName map[string]*lot
	calls  map[CallID]*entry
	closed bool
	busy   sync.WaitGroup // operations under way, for Shutdown
}

// NewService returns a Service for lots (the first is the default lot),
// driving sw and persisting to st. Set optional fields, then call Open.
func NewService(lots []LotConfig, sw Switch, st Store) (*Service, error) {
	if len(lots) == 0 {
		return nil, errors.New("parking: no lots configured")
	}
	s := &Service{
		Logger: zerolog.Nop(),
		Clock:  RealClock{},
		sw:     sw,
		jour:   &journal{store: st},
		byName: make(map[string]*lot),
		calls:  make(map[CallID]*entry),
	}
	for _, cfg := range lots {
		if cfg.Name == "" || cfg.First <= 0 || cfg.Last < cfg.First {
			return nil, fmt.Errorf("parking: lot %q: bad slot range %d-%d", cfg.Name, cfg.First, cfg.Last)
		}
		if _, dup := s.byName[cfg.Name]; dup {
			return nil, fmt.Errorf("parking: lot %q configured twice", cfg.Name)
		}
		l := newLot(cfg)
		s.lots = append(s.lots, l)
		s.byName[cfg.Name] = l
	}
	return s, nil
}

// Open loads the calls the Store says are parked and re-adopts them, so
// that a restarted parkd knows its slots. Call Reconcile once the switch is
// reachable to close the ones that vanished meanwhile.
func (s *Service) Open(ctx context.Context) error {
	s.jour.logger = s.Logger
	occs, err := s.jour.store.Occupied(ctx)
	if err != nil {
		return fmt.Errorf("load occupancy: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range occs {
		l, ok := s.byName[o.Lot]
		if !ok || !l.cfg.Contains(o.Slot) || l.at(o.Slot) != nil {
			// The configuration changed under a parked call. It is still
			// parked in FreeSWITCH; keep it out of the slot table and say so.
			s.Logger.Warn().Str("lot", o.Lot).Int("slot", o.Slot).Str("call", string(o.Call)).
				Msg("parked call's slot is no longer configured; closing it as lost")
			s.commit(Transition{Event: EventLost, Reason: "slot no longer configured"}, &entry{occ: o})
			continue
		}
		e := &entry{occ: o, state: stateParked}
		l.set(o.Slot, e)
		s.calls[o.Call] = e
	}
	s.Logger.Info().Int("parked", len(s.calls)).Msg("occupancy loaded")
	return nil
}

// Reconcile asks the switch about every parked call and closes the ones that
// no longer exist as lost. Run it after every (re)connection to FreeSWITCH:
// hangups that happened while parkd was not listening are caught here.
func (s *Service) Reconcile(ctx context.Context) error {
	s.mu.Lock()
	var check []*entry
	for _, e := range s.calls {
		if e.state == stateParked {
			check = append(check, e)
		}
	}
	s.mu.Unlock()

	var firstErr error
	for _, e := range check {
		ok, err := s.sw.Exists(ctx, e.occ.Call)
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("reconcile %s: %w", e.occ.Call, err)
			}
			continue
		}
		if ok {
			continue
		}
		s.mu.Lock()
		if s.calls[e.occ.Call] == e && e.state == stateParked {
			s.release(e)
			s.commit(Transition{Event: EventLost, Reason: "channel gone while parkd was not watching"}, e)
		}
		s.mu.Unlock()
	}
	s.flush(ctx)
	return firstErr
}

// ParkRequest asks to park a call.
type ParkRequest struct {
	Leg    Leg
	Caller Caller
	Parker string // who parked it; "" if unknown
	Lot    string // "" for the default lot
	Slot   int    // 0 for the lowest free slot
}

// Park claims a slot for req's call, answers it, announces the slot when
// the lot says so for a park into the next free slot (or when the call did
// not get the slot it asked for),
// starts the music and records the park. A request that cannot be parked is
// refused on the leg (error tone, then back to the parker) and returned as an
// error: ErrUnknownLot, ErrBadSlot, ErrSlotTaken, ErrLotFull, ErrCallGone,
// ErrAlreadyParked or ErrClosed.
func (s *Service) Park(ctx context.Context, req ParkRequest) (Occupant, error) {
	call := req.Leg.Call()
	s.mu.Lock()
	c, err := s.claim(call, req)
	if err != nil {
		if !errors.Is(err, ErrAlreadyParked) {
			lotName := req.Lot
			if l, lerr := s.lot(req.Lot); lerr == nil {
				lotName = l.cfg.Name
			}
			s.commit(Transition{Event: EventRejected, Reason: err.Error()}, &entry{occ: Occupant{
				Lot: lotName, Slot: req.Slot, Call: call, Caller: req.Caller, Parker: req.Parker,
			}})
		}
		s.mu.Unlock()
		s.flush(ctx)
		s.refuse(ctx, req.Leg, req.Parker, err)
		return Occupant{}, err
	}
	e := c.entry
	s.busy.Add(1)
	s.mu.Unlock()
	defer s.busy.Done()

	err = req.Leg.Answer(ctx)
	if err == nil && (c.moved || (c.lot.cfg.Announce && req.Slot == 0)) {
		err = req.Leg.Announce(ctx, e.occ.Slot)
	}
	if err == nil {
		err = req.Leg.Hold(ctx, Hold{
			Lot: e.occ.Lot, Slot: e.occ.Slot, Parker: e.occ.Parker, ParkedAt: e.occ.ParkedAt, Music: c.lot.cfg.Music,
		})
	}

	s.mu.Lock()
	if err != nil || e.hungUp != "" {
		s.release(e)
		s.mu.Unlock()
		if e.hungUp != "" || errors.Is(err, ErrCallGone) {
			s.Logger.Info().Str("lot", e.occ.Lot).Int("slot", e.occ.Slot).Str("call", string(call)).
				Msg("caller left before the park completed")
			return Occupant{}, fmt.Errorf("park %s/%d: %w", e.occ.Lot, e.occ.Slot, ErrCallGone)
		}
		s.refuse(ctx, req.Leg, req.Parker, err)
		return Occupant{}, fmt.Errorf("park %s/%d: %w", e.occ.Lot, e.occ.Slot, err)
	}
	e.state = stateParked
	occ := e.occ
	s.commit(Transition{Event: EventParked, Occupancy: &occ}, e)
	s.mu.Unlock()
	s.flush(ctx)
	return occ, nil
}

// claimed is a slot taken for a call being parked.
type claimed struct {
	*entry
	lot   *lot
	moved bool
}

// claim picks and takes a slot for req. Called with s.mu held.
func (s *Service) claim(call CallID, req ParkRequest) (claimed, error) {
	if s.closed {
		return claimed{}, ErrClosed
	}
	if _, ok := s.calls[call]; ok {
		return claimed{}, fmt.Errorf("%w: %s", ErrAlreadyParked, call)
	}
	l, err := s.lot(req.Lot)
	if err != nil {
		return claimed{}, err
	}
	c, err := choose(l, req.Slot, s.byName)
	if err != nil {
		return claimed{}, err
	}
	now := s.Clock.Now()
	e := &entry{state: stateParking, occ: Occupant{
		Lot: c.lot.cfg.Name, Slot: c.slot, Call: call, Caller: req.Caller, Parker: req.Parker,
		ParkedAt: now, Deadline: now.Add(c.lot.cfg.Timeout),
	}}
	c.lot.set(c.slot, e)
	s.calls[call] = e
	return claimed{entry: e, lot: c.lot, moved: c.moved}, nil
}

// RetrieveRequest asks to connect a phone to a parked call.
type RetrieveRequest struct {
	Leg       Leg    // the retrieving phone's channel
	Retriever string // who retrieves, e.g. its caller-ID number
	Lot       string // "" for the default lot
	Slot      int    // 0 for the call that has waited longest
}

// Retrieve answers the retriever, bridges it to the parked call and frees
// the slot. If there is nothing to retrieve the retriever hears an error
// tone and is hung up, and ErrSlotEmpty (or ErrUnknownLot, ErrBadSlot,
// ErrClosed) is returned. A retriever that is itself parked gets
// ErrAlreadyParked and is left alone. Of several retrievers racing for one call exactly
// one gets it; no call is ever bridged twice.
func (s *Service) Retrieve(ctx context.Context, req RetrieveRequest) (Occupant, error) {
	s.mu.Lock()
	e, err := s.take(req)
	if err != nil {
		s.mu.Unlock()
		s.Logger.Info().Err(err).Str("lot", req.Lot).Int("slot", req.Slot).Str("retriever", req.Retriever).
			Msg("nothing to retrieve")
		s.refuse(ctx, req.Leg, "", err)
		return Occupant{}, err
	}
	s.busy.Add(1)
	s.mu.Unlock()
	defer s.busy.Done()

	err = req.Leg.Answer(ctx)
	if err == nil {
		err = req.Leg.Bridge(ctx, e.occ.Call)
	}

	s.mu.Lock()
	if err != nil {
		gone := e.hungUp
		if gone != "" {
			s.release(e)
			s.commit(Transition{Event: EventAbandoned, Reason: gone}, e)
		} else {
			e.state = stateParked // still parked: someone may try again
		}
		s.mu.Unlock()
		s.flush(ctx)
		s.refuse(ctx, req.Leg, "", err)
		return Occupant{}, fmt.Errorf("retrieve %s/%d: %w", e.occ.Lot, e.occ.Slot, err)
	}
	s.release(e)
	occ := e.occ
	s.commit(Transition{Event: EventRetrieved, Retriever: req.Retriever}, e)
	s.mu.Unlock()
	s.flush(ctx)
	return occ, nil
}

// take finds the call req wants and marks it as being retrieved. Called
// with s.mu held.
func (s *Service) take(req RetrieveRequest) (*entry, error) {
	if s.closed {
		return nil, ErrClosed
	}
	if _, parked := s.calls[req.Leg.Call()]; parked {
		// A parked channel asking to retrieve is a loop in the dialplan;
		// never bridge two parked callers to each other.
		return nil, fmt.Errorf("%w: retriever %s is itself parked", ErrAlreadyParked, req.Leg.Call())
	}
	l, err := s.lot(req.Lot)
	if err != nil {
		return nil, err
	}
	var e *entry
	if req.Slot == 0 {
		e = l.longest()
	} else if !l.cfg.Contains(req.Slot) {
		return nil, fmt.Errorf("%w: slot %d, lot %s has %d-%d", ErrBadSlot, req.Slot, l.cfg.Name, l.cfg.First, l.cfg.Last)
	} else {
		e = l.at(req.Slot)
	}
	if e == nil || e.state != stateParked {
		return nil, fmt.Errorf("%w: %s/%d", ErrSlotEmpty, l.cfg.Name, req.Slot)
	}
	e.state = stateRetrieving
	return e, nil
}

// Hangup tells the Service that a channel hung up. A parked caller's slot
// is freed at once and the call is recorded as abandoned; a call in the
// middle of being parked or retrieved is marked, and that operation settles
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
	if e.state != stateParked {
		e.hungUp = cause
		s.mu.Unlock()
		return
	}
	s.release(e)
	s.commit(Transition{Event: EventAbandoned, Reason: cause}, e)
	s.mu.Unlock()
	s.flush(ctx)
}

// Occupants returns the parked calls, by lot and slot.
func (s *Service) Occupants() []Occupant {
	s.mu.Lock()
	out := make([]Occupant, 0, len(s.calls))
	for _, e := range s.calls {
		if e.state != stateParking {
			out = append(out, e.occ)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Lot != out[j].Lot {
			return out[i].Lot < out[j].Lot
		}
		return out[i].Slot < out[j].Slot
	})
	return out
}

// Pending returns how many history rows wait to be written (non-zero only
// while the store fails).
func (s *Service) Pending() int { return s.jour.pending() }

// Flush retries writing pending history rows.
func (s *Service) Flush(ctx context.Context) error { return s.jour.flush(ctx) }

// Shutdown stops taking requests and waits until the operations under way
// have finished or ctx ends. Parked calls stay parked in FreeSWITCH and are
// re-adopted by the next Open.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.busy.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("shutdown: operations still under way: %w", ctx.Err())
	}
	if err := s.jour.flush(ctx); err != nil {
		return fmt.Errorf("shutdown: %d history rows not written: %w", s.jour.pending(), err)
	}
	return nil
}

// lot resolves a lot name; "" is the default lot. Called with s.mu held.
func (s *Service) lot(name string) (*lot, error) {
	if name == "" {
		return s.lots[0], nil
	}
	l, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownLot, name)
	}
	return l, nil
}

// release frees e's slot. Called with s.mu held.
func (s *Service) release(e *entry) {
	if l, ok := s.byName[e.occ.Lot]; ok && l.cfg.Contains(e.occ.Slot) && l.at(e.occ.Slot) == e {
		l.set(e.occ.Slot, nil)
	}
	if s.calls[e.occ.Call] == e {
		delete(s.calls, e.occ.Call)
	}
}

// commit fills t from e, logs it and queues it for the store. Called with
// s.mu held, so transitions reach the store in the order they happened.
func (s *Service) commit(t Transition, e *entry) {
	t.At = s.Clock.Now()
	t.Lot, t.Slot, t.Call = e.occ.Lot, e.occ.Slot, e.occ.Call
	t.Caller, t.Parker = e.occ.Caller, e.occ.Parker
	if t.Event != EventParked && t.Event != EventRejected && !e.occ.ParkedAt.IsZero() {
		t.Wait = e.occ.Waited(t.At).Round(time.Millisecond)
	}
	s.jour.add(t)
	ev := s.Logger.Info()
	if t.Event == EventLost || t.Event == EventRejected {
		ev = s.Logger.Warn()
	}
	ev.Str("event", string(t.Event)).Str("lot", t.Lot).Int("slot", t.Slot).Str("call", string(t.Call)).
		Str("caller_number", t.Caller.Number).Str("parker", t.Parker)
	if t.Retriever != "" {
		ev.Str("retriever", t.Retriever)
	}
	if t.Reason != "" {
		ev.Str("reason", t.Reason)
	}
	ev.Int64("wait_ms", t.Wait.Milliseconds()).Msg(string(t.Event))
}

// flush writes queued transitions; a failure is logged by the journal and
// retried on the next flush, so the caller carries on.
func (s *Service) flush(ctx context.Context) { _ = s.jour.flush(ctx) }

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
