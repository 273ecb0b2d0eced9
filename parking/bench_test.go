package parking

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// Benchmarks of the state machine alone: no switch I/O, a store that
// discards. What a park or a retrieve costs parkd beyond the socket and
// SQLite (see BENCHMARKS.md for the end-to-end figures).

// nopLeg is a channel that does whatever it is asked at once.
type nopLeg CallID

func (l nopLeg) Call() CallID                       { return CallID(l) }
func (nopLeg) Answer(context.Context) error         { return nil }
func (nopLeg) Announce(context.Context, int) error  { return nil }
func (nopLeg) Hold(context.Context, Hold) error     { return nil }
func (nopLeg) Bridge(context.Context, CallID) error { return nil }
func (nopLeg) Refuse(context.Context, string) error { return nil }

// nopStore accepts every transition.
type nopStore struct{}

func (nopStore) Record(context.Context, Transition) error     { return nil }
func (nopStore) Occupied(context.Context) ([]Occupant, error) { return nil, nil }

// nopLamps is told every lamp and keeps none.
type nopLamps struct{}

func (nopLamps) Light(Lamp) {}

func benchService(b *testing.B, slots int, lamps Lamps) *Service {
	b.Helper()
	sw := &fakeSwitch{live: map[CallID]bool{}, phones: map[string]phone{}}
	s, err := NewService([]LotConfig{{
		Name: "main", First: 1, Last: slots, Music: "local_stream://moh", Timeout: time.Hour,
		Recall: RecallConfig{Enabled: true, Dial: "user/{parker}", RingFor: 30 * time.Second, RetryAfter: time.Minute, Attempts: 3},
	}}, sw, nopStore{})
	if err != nil {
		b.Fatal(err)
	}
	s.Lamps = lamps
	if err := s.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

// BenchmarkParkRetrieve is one park into the next free slot and its
// retrieve, with the recall timer armed and stopped, through the real
// Service with a no-op leg and store; with lamps, the busy lamps (BLF or
// the board) are told every change, the lot's key among them.
func BenchmarkParkRetrieve(b *testing.B) {
	ctx := context.Background()
	for _, tc := range []struct {
		parked int
		lamps  Lamps
	}{{0, nil}, {10_000, nil}, {0, nopLamps{}}, {50_000, nopLamps{}}} {
		parked := tc.parked
		name := fmt.Sprintf("parked=%d", parked)
		if tc.lamps != nil {
			name += "/lamps"
		}
		b.Run(name, func(b *testing.B) {
			s := benchService(b, parked+100, tc.lamps)
			for i := range parked {
				if _, err := s.Park(ctx, ParkRequest{Leg: nopLeg(fmt.Sprintf("held-%d", i)), Parker: "1000"}); err != nil {
					b.Fatal(err)
				}
			}
			ids := make([]nopLeg, 1024)
			for i := range ids {
				ids[i] = nopLeg(fmt.Sprintf("call-%d", i))
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				leg := ids[i%len(ids)]
				i++
				occ, err := s.Park(ctx, ParkRequest{Leg: leg, Caller: Caller{Name: "Jane", Number: "5550100"}, Parker: "1000"})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Retrieve(ctx, RetrieveRequest{Leg: nopLeg("retriever"), Retriever: "2002", Lot: "main", Slot: occ.Slot}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkChoose is the slot choice of a park into the next free slot,
// with the lot empty, half full (free slots at the end) and nearly full.
func BenchmarkChoose(b *testing.B) {
	const size = 10_000
	for _, fill := range []int{0, size / 2, size - 1} {
		b.Run(fmt.Sprintf("size=%d/taken=%d", size, fill), func(b *testing.B) {
			l := newLot(LotConfig{Name: "main", First: 1, Last: size})
			for i := range fill {
				l.slots[i] = &entry{}
			}
			lots := map[lotKey]*lot{{name: "main"}: l}
			for b.Loop() {
				if _, err := choose(l, 0, lots, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
