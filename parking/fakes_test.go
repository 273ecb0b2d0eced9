package parking

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"
)

// fakeLeg records what the Service asked of a channel.
type fakeLeg struct {
	id CallID

	mu      sync.Mutex
	log     []string
	failOn  map[string]error         // method -> error to return
	blockOn map[string]chan struct{} // method -> wait for close before returning
	bridged []CallID
}

func newLeg(id string) *fakeLeg {
	return &fakeLeg{id: CallID(id), failOn: map[string]error{}, blockOn: map[string]chan struct{}{}}
}

func (l *fakeLeg) Call() CallID { return l.id }

func (l *fakeLeg) do(ctx context.Context, method, what string) error {
	l.mu.Lock()
	l.log = append(l.log, what)
	block, err := l.blockOn[method], l.failOn[method]
	l.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

func (l *fakeLeg) Answer(ctx context.Context) error { return l.do(ctx, "answer", "answer") }
func (l *fakeLeg) Announce(ctx context.Context, slot int) error {
	return l.do(ctx, "announce", fmt.Sprintf("announce %d", slot))
}
func (l *fakeLeg) Hold(ctx context.Context, h Hold) error {
	return l.do(ctx, "hold", fmt.Sprintf("hold %s/%d %s", h.Lot, h.Slot, h.Music))
}
func (l *fakeLeg) Bridge(ctx context.Context, parked CallID) error {
	err := l.do(ctx, "bridge", "bridge "+string(parked))
	if err == nil {
		l.mu.Lock()
		l.bridged = append(l.bridged, parked)
		l.mu.Unlock()
	}
	return err
}
func (l *fakeLeg) Refuse(ctx context.Context, returnTo string) error {
	return l.do(ctx, "refuse", "refuse "+returnTo)
}

func (l *fakeLeg) calls() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.log...)
}

// fakeSwitch reports its live calls to Survey and scripts recall
// legs: each Originate follows the phone's script for its dial string.
type fakeSwitch struct {
	mu   sync.Mutex
	live map[CallID]bool
	err  error

	phones        map[string]phone // dial string -> behaviour; default: never answers
	placed        []Origination
	killed        []CallID
	bridged       [][2]CallID
	transfers     []string
	bridgeErr     error
	bridgeBlock   chan struct{} // if set, Bridge waits for it to close
	xferErr       error
	ringing       map[CallID]chan string // leg -> killed with cause
	channels      []Channel              // marked channels Survey reports besides the live calls
	duringSurvey  func()                 // if set, runs inside Survey, after what it reports is taken
	surveyedKnown []CallID               // the known calls the last Survey was given
	legSeq        int                    // recall legs named so far
	marks         []string               // MarkSlot calls: "call lot/slot"
	markErr       error                  // returned by MarkSlot while set
	killErr       error                  // returned by Kill while set
}

// phone scripts a recall leg: answer after a delay, or fail with a cause
// at once, or ring until killed (or until the ring time ends: NO_ANSWER).
type phone struct {
	answerAfter time.Duration
	fail        string        // a cause such as USER_BUSY
	lost        error         // a non-FreeSWITCH error: the outcome never came
	ring        time.Duration // ring this long before answering (answerAfter) or NO_ANSWER
	// setup is how long FreeSWITCH takes to create the leg: until then a
	// kill finds no such channel.
	setup time.Duration
}

// NewCallID names recall legs recall-1, recall-2, ... so runs repeat.
func (s *fakeSwitch) NewCallID() CallID {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.legSeq++
	return CallID(fmt.Sprintf("recall-%d", s.legSeq))
}

func (s *fakeSwitch) Survey(_ context.Context, known []CallID) ([]Channel, error) {
	s.mu.Lock()
	s.surveyedKnown = append([]CallID(nil), known...)
	if s.err != nil {
		s.mu.Unlock()
		return nil, s.err
	}
	out := append([]Channel(nil), s.channels...)
	for c, up := range s.live {
		if up {
			out = append(out, Channel{Call: c, Parked: true})
		}
	}
	during := s.duringSurvey
	s.mu.Unlock()
	if during != nil {
		during()
	}
	return out, nil
}

func (s *fakeSwitch) Originate(ctx context.Context, o Origination) error {
	s.mu.Lock()
	s.placed = append(s.placed, o)
	p, ok := s.phones[o.Dial]
	if p.setup > 0 {
		s.mu.Unlock()
		select {
		case <-time.After(p.setup):
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
	killed := make(chan string, 1)
	if s.ringing == nil {
		s.ringing = map[CallID]chan string{}
	}
	s.ringing[o.Leg] = killed
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.ringing, o.Leg)
		s.mu.Unlock()
	}()
	switch {
	case p.lost != nil:
		return p.lost
	case p.fail != "":
		return &CallFailure{Cause: p.fail}
	}
	ring := o.RingFor
	answers := ok && p.answerAfter < o.RingFor
	if answers {
		ring = p.answerAfter
	}
	select {
	case cause := <-killed:
		return &CallFailure{Cause: cause}
	case <-time.After(ring):
	case <-ctx.Done():
		return ctx.Err()
	}
	if !answers {
		return &CallFailure{Cause: "NO_ANSWER"}
	}
	s.mu.Lock()
	s.live[o.Leg] = true
	s.mu.Unlock()
	return nil
}

func (s *fakeSwitch) Bridge(ctx context.Context, parked, leg CallID) error {
	s.mu.Lock()
	block := s.bridgeBlock
	s.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bridgeErr != nil {
		return s.bridgeErr
	}
	s.bridged = append(s.bridged, [2]CallID{parked, leg})
	return nil
}

func (s *fakeSwitch) Kill(_ context.Context, c CallID, cause string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killed = append(s.killed, c)
	if s.killErr != nil {
		return s.killErr
	}
	if ch, ok := s.ringing[c]; ok {
		ch <- "NORMAL_CLEARING"
		delete(s.ringing, c)
		return nil
	}
	if !s.live[c] {
		return ErrCallGone
	}
	delete(s.live, c)
	return nil
}

func (s *fakeSwitch) Transfer(_ context.Context, c CallID, to Destination) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.xferErr != nil {
		return s.xferErr
	}
	s.transfers = append(s.transfers, string(c)+" -> "+to.String())
	return nil
}

func (s *fakeSwitch) MarkSlot(_ context.Context, c CallID, lot string, slot int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.markErr != nil {
		return s.markErr
	}
	s.marks = append(s.marks, fmt.Sprintf("%s %s/%d", c, lot, slot))
	return nil
}

// holdBridges makes Bridge wait until release is called, then fail with
// err (nil: succeed).
func (s *fakeSwitch) holdBridges(err error) (release func()) {
	block := make(chan struct{})
	s.mu.Lock()
	s.bridgeBlock, s.bridgeErr = block, err
	s.mu.Unlock()
	return func() { close(block) }
}

// snapshot returns copies of what the switch was asked, for assertions.
func (s *fakeSwitch) snapshot() (placed []Origination, killed []CallID, bridged [][2]CallID, transfers []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append(placed, s.placed...), append(killed, s.killed...), append(bridged, s.bridged...), append(transfers, s.transfers...)
}

// memStore is an in-memory Store that checks slot ownership like store.DB.
type memStore struct {
	mu      sync.Mutex
	occ     map[CallID]Occupant
	history []Transition
	fail    error // returned by Record while set
}

func newMemStore() *memStore { return &memStore{occ: map[CallID]Occupant{}} }

func (m *memStore) Record(_ context.Context, t Transition) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	if t.Occupancy != nil {
		for c, o := range m.occ {
			if c != t.Call && o.lotKey() == t.Occupancy.lotKey() && o.Slot == t.Occupancy.Slot {
				return ErrSlotTaken
			}
		}
		m.occ[t.Call] = *t.Occupancy
	} else {
		delete(m.occ, t.Call)
	}
	m.history = append(m.history, t)
	return nil
}

func (m *memStore) Occupied(context.Context) ([]Occupant, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Occupant
	for _, o := range m.occ {
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Slot < out[j].Slot })
	return out, nil
}

func (m *memStore) events(call CallID) []Event {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Event
	for _, t := range m.history {
		if t.Call == call {
			out = append(out, t.Event)
		}
	}
	return out
}

var errDisk = errors.New("disk I/O error")

// mustService opens a Service on st and shuts it down when the test ends.
// Tests that move the clock run in a synctest bubble and sleep.
func mustService(t *testing.T, st Store, lots ...LotConfig) (*Service, *fakeSwitch) {
	t.Helper()
	if len(lots) == 0 {
		lots = []LotConfig{{Name: "main", First: 201, Last: 205, Music: "local_stream://moh", Timeout: 2 * time.Minute}}
	}
	sw := &fakeSwitch{live: map[CallID]bool{}, phones: map[string]phone{}}
	svc, err := NewService(lots, sw, st)
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Shutdown(context.Background()) })
	t.Cleanup(func() {
		if msg := countProblem(svc); msg != "" {
			t.Errorf("at the end: %s", msg)
		}
	})
	return svc, sw
}

// last returns the newest history row.
func (m *memStore) last() Transition {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.history) == 0 {
		return Transition{}
	}
	return m.history[len(m.history)-1]
}

// occupant returns the call's occupancy row and whether there is one.
func (m *memStore) occupant(c CallID) (Occupant, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.occ[c]
	return o, ok
}

// rows returns a copy of the history.
func (m *memStore) rows() []Transition {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]Transition(nil), m.history...)
}
