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

// fakeSwitch answers Exists from a set of live calls.
type fakeSwitch struct {
	mu   sync.Mutex
	live map[CallID]bool
	err  error
}

func (s *fakeSwitch) Exists(_ context.Context, c CallID) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.live[c], s.err
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
			if c != t.Call && o.Lot == t.Occupancy.Lot && o.Slot == t.Occupancy.Slot {
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

// fakeClock is a settable clock; these tests need no timers.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }

var errDisk = errors.New("disk I/O error")

func mustService(t *testing.T, st Store, lots ...LotConfig) (*Service, *fakeSwitch, *fakeClock) {
	t.Helper()
	if len(lots) == 0 {
		lots = []LotConfig{{Name: "main", First: 201, Last: 205, Music: "local_stream://moh", Timeout: 2 * time.Minute}}
	}
	sw := &fakeSwitch{live: map[CallID]bool{}}
	svc, err := NewService(lots, sw, st)
	if err != nil {
		t.Fatal(err)
	}
	clk := &fakeClock{now: time.Date(2026, 11, 22, 9, 0, 0, 0, time.UTC)}
	svc.Clock = clk
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return svc, sw, clk
}
