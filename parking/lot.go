package parking

import (
	"fmt"
	"time"
)

// LotConfig describes one parking lot: a named range of slots and how parks
// into it behave.
type LotConfig struct {
	Name string
	// Domain is the tenant the lot belongs to: the SIP domain (FreeSWITCH's
	// domain_name) of the phones that park and retrieve in it. "" is the
	// single-tenant case. A lot is identified by its domain and name: two
	// domains may each have a lot "main" with slots 701-720.
	Domain      string
	First, Last int           // the slot range, inclusive
	Music       string        // what parked callers hear, e.g. local_stream://moh
	Timeout     time.Duration // how long a call waits before it is recalled
	Announce    bool          // speak the slot to the parked channel
	OverflowTo  string        // lot to try when this one is full; "" rejects
	NextIfTaken bool          // a directed park into a taken slot takes the next free one instead of failing
	Recall      RecallConfig  // what happens at the timeout
	Fallback    Destination   // where a call goes when recalls fail or nobody can be recalled; zero: keep it parked
	Outside     OutsideConfig // pick-up from outside with a PIN; off when its PIN is nil
}

// RecallConfig is how a lot rings the parker back when nobody retrieved a
// call in time. Templates take the placeholders {lot}, {slot},
// {caller_name}, {caller_number}, {parker} and {domain}.
type RecallConfig struct {
	Enabled        bool
	Dial           string        // dial string template, e.g. user/{parker}@{domain}
	AlertInfo      string        // the distinctive ring, sent as Alert-Info
	CallerIDName   string        // template for the name the phone shows
	CallerIDNumber string        // template for the number the phone shows
	RingFor        time.Duration // how long each recall rings
	RetryAfter     time.Duration // the pause after a failed recall
	Attempts       int           // recalls before the fallback
	Domain         string        // {domain}; "" means the parker's own, learnt from the parked call
}

// lotKey identifies a lot: its name within its domain.
type lotKey struct{ domain, name string }

func (c LotConfig) key() lotKey { return lotKey{c.Domain, c.Name} }

// String names the lot in logs and errors: name, or name@domain.
func (k lotKey) String() string {
	if k.domain == "" {
		return k.name
	}
	return k.name + "@" + k.domain
}

// Contains reports whether slot is in the lot's range.
func (c LotConfig) Contains(slot int) bool { return slot >= c.First && slot <= c.Last }

// lot is a LotConfig with its slots. Guarded by Service.mu.
type lot struct {
	cfg   LotConfig
	slots []*entry // index slot-First; nil = free
	// held are calls in slots outside cfg's range: parked before a reload
	// shrank the lot, kept until they leave. No park goes into them.
	held map[int]*entry
	// low is an index below which every slot is taken: the search for the
	// lowest free slot starts there, so filling a big lot costs O(1) per
	// park instead of a scan from its first slot.
	low int
	// occupied counts the calls in slots and held; parking those of them
	// still being parked (stateParking). The key's lamp counts the rest on
	// every transition, and scanning the slots for it cost every park and
	// recall time in proportion to the lot's size.
	occupied, parking int
	// key is the lamp of the lot's key as Lamps was last told (keyLit),
	// so that it is told only of changes.
	key    Lamp
	keyLit bool
}

func newLot(cfg LotConfig) *lot {
	return &lot{cfg: cfg, slots: make([]*entry, cfg.Last-cfg.First+1)}
}

// at returns the call in slot, or nil.
func (l *lot) at(slot int) *entry {
	if !l.cfg.Contains(slot) {
		return l.held[slot]
	}
	return l.slots[slot-l.cfg.First]
}

// set puts e in slot (nil frees it); a slot outside the range is held.
func (l *lot) set(slot int, e *entry) {
	l.count(l.at(slot), -1)
	l.count(e, +1)
	if !l.cfg.Contains(slot) {
		if e == nil {
			delete(l.held, slot)
			return
		}
		if l.held == nil {
			l.held = map[int]*entry{}
		}
		l.held[slot] = e
		return
	}
	i := slot - l.cfg.First
	l.slots[i] = e
	if e == nil && i < l.low {
		l.low = i
	}
}

// count adds d times e (if any) to the lot's counts.
func (l *lot) count(e *entry, d int) {
	if e == nil {
		return
	}
	l.occupied += d
	if e.state == stateParking {
		l.parking += d
	}
}

// parked moves e, in l's slot and being parked, to parked.
func (l *lot) parked(e *entry) {
	if e.state == stateParking {
		l.parking--
	}
	e.state = stateParked
	e.settle()
}

// empty reports whether no call holds a slot of l.
func (l *lot) empty() bool { return l.occupied == 0 }

// free returns the lowest free slot at or after from, wrapping around to the
// start of the lot, and false when the lot is full.
func (l *lot) free(from int) (int, bool) {
	n := len(l.slots)
	start := from - l.cfg.First
	if start <= l.low {
		// Nothing below low is free: the lowest free slot, if any, is at
		// or after it.
		for l.low < n && l.slots[l.low] != nil {
			l.low++
		}
		if l.low < n {
			return l.cfg.First + l.low, true
		}
		return 0, false
	}
	for i := 0; i < n; i++ {
		j := (start + i) % n
		if l.slots[j] == nil {
			return l.cfg.First + j, true
		}
	}
	return 0, false
}

// choice is where a park request lands.
type choice struct {
	lot   *lot
	slot  int
	moved bool // not the slot that was asked for: announce it
}

// choose picks the slot for a park request of want (0 = any) into l,
// following the lots' on-occupied and on-full policies. lots resolves
// overflow names; the slots in skip (nil for none) count as taken: held on
// another node (nodes.go). It changes nothing.
func choose(l *lot, want int, lots map[lotKey]*lot, skip map[lotKey]map[int]bool) (choice, error) {
	if want != 0 {
		if !l.cfg.Contains(want) {
			return choice{}, fmt.Errorf("%w: slot %d, lot %s has %d-%d", ErrBadSlot, want, l.cfg.Name, l.cfg.First, l.cfg.Last)
		}
		elsewhere := skip[l.cfg.key()][want]
		if l.at(want) == nil && !elsewhere {
			return choice{lot: l, slot: want}, nil
		}
		if !l.cfg.NextIfTaken {
			if elsewhere {
				return choice{}, fmt.Errorf("%w: %s/%d (held on another node)", ErrSlotTaken, l.cfg.Name, want)
			}
			return choice{}, fmt.Errorf("%w: %s/%d", ErrSlotTaken, l.cfg.Name, want)
		}
		if slot, ok := l.freeSkipping(want, skip); ok {
			return choice{lot: l, slot: slot, moved: true}, nil
		}
	} else if slot, ok := l.freeSkipping(l.cfg.First, skip); ok {
		return choice{lot: l, slot: slot}, nil
	}
	// l is full: follow the overflow chain, never visiting a lot twice and
	// never leaving l's domain.
	seen := map[string]bool{l.cfg.Name: true}
	for next := l.cfg.OverflowTo; next != ""; {
		o, ok := lots[lotKey{l.cfg.Domain, next}]
		if !ok || seen[next] {
			break
		}
		seen[next] = true
		if slot, ok := o.freeSkipping(o.cfg.First, skip); ok {
			return choice{lot: o, slot: slot, moved: true}, nil
		}
		next = o.cfg.OverflowTo
	}
	return choice{}, fmt.Errorf("%w: %s", ErrLotFull, l.cfg.Name)
}

// freeSkipping is free with the slots in skip counted as taken. Without
// any to skip in l it is free, with its low-water mark.
func (l *lot) freeSkipping(from int, skip map[lotKey]map[int]bool) (int, bool) {
	held := skip[l.cfg.key()]
	if len(held) == 0 {
		return l.free(from)
	}
	n := len(l.slots)
	for i := 0; i < n; i++ {
		slot := l.cfg.First + (from-l.cfg.First+i)%n
		if l.at(slot) == nil && !held[slot] {
			return slot, true
		}
	}
	return 0, false
}

// longest returns the lot's parked call that has waited longest, or nil.
func (l *lot) longest() *entry {
	var best *entry
	consider := func(e *entry) {
		if e == nil || (e.state != stateParked && e.state != stateRecalling) {
			return
		}
		if best == nil || e.occ.ParkedAt.Before(best.occ.ParkedAt) {
			best = e
		}
	}
	for _, e := range l.slots {
		consider(e)
	}
	for _, e := range l.held {
		consider(e)
	}
	return best
}
