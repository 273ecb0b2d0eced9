package parking

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// lampLog records the lamps a Service lights, in order.
type lampLog struct {
	mu  sync.Mutex
	lit []Lamp
}

func (l *lampLog) Light(x Lamp) {
	l.mu.Lock()
	l.lit = append(l.lit, x)
	l.mu.Unlock()
}

// since returns the lamps lit from the n-th on.
func (l *lampLog) since(n int) []Lamp {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Lamp(nil), l.lit[n:]...)
}

func (l *lampLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lit)
}

// lampService opens a Service on st with a lampLog, on the bubble's clock.
func lampService(t *testing.T, st *memStore, lots ...LotConfig) (*Service, *fakeSwitch, *lampLog) {
	t.Helper()
	sw := &fakeSwitch{live: map[CallID]bool{}, phones: map[string]phone{}}
	svc, err := NewService(lots, sw, st)
	if err != nil {
		t.Fatal(err)
	}
	lamps := &lampLog{}
	svc.Lamps = lamps
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Shutdown(context.Background()) })
	return svc, sw, lamps
}

var jane = Caller{Name: "Jane Roe", Number: "5550100"}

func slotLit(slot int, st LampState) Lamp {
	l := Lamp{Lot: "main", Slot: slot, State: st}
	if st != LampIdle {
		l.Caller = jane
	}
	return l
}

// reception is the receptionist's own phone, parking itself (a consult call).
var reception = Caller{Name: "Reception", Number: "1000"}

func keyLit(n int) Lamp {
	if n == 0 {
		return Lamp{Lot: "main"}
	}
	return Lamp{Lot: "main", State: LampParked, Parked: n}
}

// Ensure every change of a parked call's life lights its slot's lamp and
// the lot's key, in order.
func TestLamps_StateChanges(t *testing.T) {
	for _, tc := range []struct {
		name  string
		phone phone
		edit  func(*LotConfig)
		do    func(t *testing.T, svc *Service)
		want  []Lamp // after the park's own lamps
	}{
		{name: "Park", do: func(*testing.T, *Service) {}},
		{
			name: "RecallRinging", phone: phone{answerAfter: time.Hour},
			do:   func(*testing.T, *Service) { sleep(120 * time.Second) },
			want: []Lamp{slotLit(202, LampRinging)},
		},
		{
			name: "RecallFailedBackToParked", phone: phone{fail: "USER_BUSY"},
			do:   func(*testing.T, *Service) { sleep(120 * time.Second) },
			want: []Lamp{slotLit(202, LampRinging), slotLit(202, LampParked)},
		},
		{
			name: "Retrieved",
			do: func(t *testing.T, svc *Service) {
				if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("phone"), Retriever: "1001", Slot: 202}); err != nil {
					t.Fatal(err)
				}
			},
			want: []Lamp{slotLit(202, LampIdle), keyLit(0)},
		},
		{
			name: "RetrievedWhileRinging", phone: phone{answerAfter: time.Hour},
			do: func(t *testing.T, svc *Service) {
				sleep(120 * time.Second)
				if _, err := svc.Retrieve(ctx, RetrieveRequest{Leg: newLeg("phone"), Retriever: "1001", Slot: 202}); err != nil {
					t.Fatal(err)
				}
			},
			want: []Lamp{slotLit(202, LampRinging), slotLit(202, LampParked), slotLit(202, LampIdle), keyLit(0)},
		},
		{
			name: "Abandoned",
			do:   func(_ *testing.T, svc *Service) { svc.Hangup(ctx, "jane", "NORMAL_CLEARING") },
			want: []Lamp{slotLit(202, LampIdle), keyLit(0)},
		},
		{
			name: "Recalled", phone: phone{answerAfter: 5 * time.Second},
			do:   func(*testing.T, *Service) { sleep(125 * time.Second) },
			want: []Lamp{slotLit(202, LampRinging), slotLit(202, LampIdle), keyLit(0)},
		},
		{
			name: "Fallback", edit: func(l *LotConfig) { l.Recall.Enabled = false },
			do:   func(*testing.T, *Service) { sleep(120 * time.Second) },
			want: []Lamp{slotLit(202, LampIdle), keyLit(0)},
		},
		{
			name: "Lost",
			do:   func(_ *testing.T, svc *Service) { svc.SwitchShutdown(ctx) },
			want: []Lamp{slotLit(202, LampIdle), keyLit(0)},
		},
		{
			name: "LostFoundGoneByReconcile",
			do: func(t *testing.T, svc *Service) {
				if err := svc.Reconcile(ctx); err != nil {
					t.Fatal(err)
				}
			},
			want: []Lamp{slotLit(202, LampIdle), keyLit(0)},
		},
		{
			name: "Replaced",
			// The receptionist's consult call parks itself in 203; the
			// caller she transfers into it takes that slot.
			do: func(t *testing.T, svc *Service) {
				_, err := svc.Park(ctx, ParkRequest{Leg: newLeg("consult"), Caller: reception, Parker: "1000",
					Slot: 203, Dialog: "consult-dialog", SelfPark: true})
				if err != nil {
					t.Fatal(err)
				}
				_, err = svc.Park(ctx, ParkRequest{Leg: newLeg("held"), Caller: Caller{Name: "Al", Number: "5550111"}, Replaces: "consult-dialog"})
				if err != nil {
					t.Fatal(err)
				}
			},
			want: []Lamp{
				{Lot: "main", Slot: 203, State: LampParked, Caller: reception}, keyLit(2),
				{Lot: "main", Slot: 203}, keyLit(1),
				{Lot: "main", Slot: 203, State: LampParked, Caller: Caller{Name: "Al", Number: "5550111"}}, keyLit(2),
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				st := newMemStore()
				svc, sw, lamps := lampService(t, st, recallLot(tc.edit))
				sw.phones["user/1000@example.com"] = tc.phone
				_, err := svc.Park(ctx, ParkRequest{
					Leg: newLeg("jane"), Caller: jane, Parker: "1000", ParkerDomain: "example.com", Slot: 202,
					Dialog: "consult-dialog",
				})
				if err != nil {
					t.Fatal(err)
				}
				if got, want := lamps.since(0), []Lamp{slotLit(202, LampParked), keyLit(1)}; !slices.Equal(got, want) {
					t.Fatalf("park lit %+v, want %+v", got, want)
				}
				tc.do(t, svc)
				if got := lamps.since(2); !slices.Equal(got, tc.want) {
					t.Fatalf("lit %+v\nwant %+v", got, tc.want)
				}
				// The lamps the Service reports agree with the last ones lit.
				want := slotLit(202, LampIdle)
				for _, l := range lamps.since(0) {
					if l.Slot == 202 {
						want = l
					}
				}
				if got, err := svc.Lamp("", "main", 202); err != nil || got != want {
					t.Fatalf("Lamp(main, 202)=%+v, %v; want %+v", got, err, want)
				}
			})
		})
	}
}

// Ensure a refused or abandoned park lights nothing, and the lot's key
// counts the calls parked in it.
func TestLamps_LotCounts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, _, lamps := lampService(t, newMemStore(), recallLot(nil))
		leg := newLeg("gone")
		leg.failOn["answer"] = ErrCallGone
		if _, err := svc.Park(ctx, ParkRequest{Leg: leg, Caller: jane, Slot: 201}); !errors.Is(err, ErrCallGone) {
			t.Fatalf("park err=%v", err)
		}
		n := lamps.count()
		for _, l := range lamps.since(0) {
			if l.State != LampIdle {
				t.Fatalf("a park that never completed lit %+v", l)
			}
		}
		for i, c := range []string{"a", "b", "c"} {
			if _, err := svc.Park(ctx, ParkRequest{Leg: newLeg(c), Caller: jane, Parker: "1000"}); err != nil {
				t.Fatal(err)
			}
			if k, _ := svc.Lamp("", "main", 0); k != keyLit(i+1) {
				t.Fatalf("key after %d parks=%+v", i+1, k)
			}
		}
		if _, err := svc.Park(ctx, ParkRequest{Leg: newLeg("d"), Caller: jane, Slot: 201}); !errors.Is(err, ErrSlotTaken) {
			t.Fatalf("park into a taken slot: %v", err)
		}
		svc.Hangup(ctx, "b", "NORMAL_CLEARING")
		want := []Lamp{
			slotLit(201, LampParked), keyLit(1), slotLit(202, LampParked), keyLit(2),
			slotLit(203, LampParked), keyLit(3), slotLit(202, LampIdle), keyLit(2),
		}
		if got := lamps.since(n); !slices.Equal(got, want) {
			t.Fatalf("lit %+v\nwant %+v", got, want)
		}
	})
}

// Ensure calls adopted from the store at Open light their lamps.
func TestLamps_Open(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		now := time.Now()
		st.occ["jane"] = Occupant{Lot: "main", Slot: 203, Call: "jane", Caller: jane, Parker: "1000", ParkedAt: now, Deadline: now.Add(time.Minute)}
		_, _, lamps := lampService(t, st, recallLot(nil))
		if got, want := lamps.since(0), []Lamp{slotLit(203, LampParked), keyLit(1)}; !slices.Equal(got, want) {
			t.Fatalf("lit %+v, want %+v", got, want)
		}
	})
}

// Ensure EveryLamp lists each lot's key then its slots, lots by name, and
// Lamp and LotOfSlot answer for keys and slots and refuse others.
func TestLamps_EveryLamp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, _, _ := lampService(t, newMemStore(),
			LotConfig{Name: "sales", First: 301, Last: 302, Timeout: time.Minute},
			LotConfig{Name: "main", First: 201, Last: 203, Timeout: time.Minute})
		for _, r := range []ParkRequest{{Leg: newLeg("a"), Lot: "main", Slot: 202}, {Leg: newLeg("b"), Lot: "sales", Slot: 301}} {
			r.Caller = jane
			if _, err := svc.Park(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		sales := func(slot int, st LampState) Lamp {
			l := slotLit(slot, st)
			l.Lot = "sales"
			return l
		}
		want := []Lamp{
			keyLit(1), slotLit(201, LampIdle), slotLit(202, LampParked), slotLit(203, LampIdle),
			{Lot: "sales", State: LampParked, Parked: 1}, sales(301, LampParked), sales(302, LampIdle),
		}
		if got := svc.EveryLamp(); !slices.Equal(got, want) {
			t.Fatalf("EveryLamp=%+v\nwant %+v", got, want)
		}
		for _, tc := range []struct {
			lot  string
			slot int
			want error
		}{{"nope", 0, ErrUnknownLot}, {"main", 204, ErrBadSlot}, {"main", -1, ErrBadSlot}} {
			if _, err := svc.Lamp("", tc.lot, tc.slot); !errors.Is(err, tc.want) || !errors.Is(err, ErrNoLamp) {
				t.Errorf("Lamp(%s, %d) err=%v, want %v", tc.lot, tc.slot, err, tc.want)
			}
		}
		for slot, want := range map[int]string{201: "main", 203: "main", 302: "sales", 204: "", 0: ""} {
			if got, ok := svc.LotOfSlot("", slot); got != want || ok != (want != "") {
				t.Errorf("LotOfSlot(%d)=%q, %v; want %q", slot, got, ok, want)
			}
		}
	})
}

// Ensure a reload lights the keys of new lots, darkens the key of a lot
// removed empty, and keeps the lamps of calls left in a removed lot.
func TestLamps_Reconfigure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		svc, _, lamps := lampService(t, newMemStore(),
			LotConfig{Name: "main", First: 201, Last: 203, Timeout: time.Minute},
			LotConfig{Name: "old", First: 401, Last: 401, Timeout: time.Minute})
		if _, err := svc.Park(ctx, ParkRequest{Leg: newLeg("jane"), Caller: jane, Slot: 202}); err != nil {
			t.Fatal(err)
		}
		n := lamps.count()
		if err := svc.Reconfigure([]LotConfig{{Name: "sales", First: 301, Last: 301, Timeout: time.Minute}}); err != nil {
			t.Fatal(err)
		}
		got := lamps.since(n)
		for _, w := range []Lamp{{Lot: "old"}, {Lot: "sales"}, keyLit(1)} {
			if !slices.Contains(got, w) {
				t.Errorf("reload lit %+v, want %+v among them", got, w)
			}
		}
		want := []Lamp{keyLit(1), slotLit(202, LampParked), {Lot: "sales"}, {Lot: "sales", Slot: 301}}
		if got := svc.EveryLamp(); !slices.Equal(got, want) {
			t.Fatalf("EveryLamp=%+v\nwant %+v", got, want)
		}
		if _, ok := svc.LotOfSlot("", 202); ok {
			t.Error("a removed lot's slot is offered for new keys")
		}
		svc.Hangup(ctx, "jane", "NORMAL_CLEARING")
		if got, want := lamps.since(lamps.count()-2), []Lamp{slotLit(202, LampIdle), keyLit(0)}; !slices.Equal(got, want) {
			t.Fatalf("leaving the removed lot lit %+v, want %+v", got, want)
		}
		if got := svc.EveryLamp(); !slices.Equal(got, want[2:]) {
			t.Fatalf("EveryLamp after the last call left=%+v", got)
		}
	})
}
