package parking

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Busy-lamp keys. The lamp of a slot follows the state of the call in it
// (see lampOf); the lamp of a lot's key counts the calls the lot holds.
// Every change is pushed to Service.Lamps from the point where the state
// changes, under the lock, so the phones see the changes in the order they
// happened: commit relights the slot of every transition it records, and
// the few changes that record no history (a call adopted from the store, a
// ringing recall cancelled by a retrieve) relight themselves.

// lampOf is the lamp a slot holding e shows. A call still being parked is
// not shown yet: its lamp lights when the park completes, so a refused or
// abandoned park never flashes a key.
func lampOf(e *entry) (LampState, Caller) {
	if e == nil {
		return LampIdle, Caller{}
	}
	switch e.state {
	case stateParking:
		return LampIdle, Caller{}
	case stateRecalling, stateRecallBridge:
		return LampRinging, e.occ.Caller
	}
	return LampParked, e.occ.Caller
}

// parkedIn counts the calls l holds that a lamp shows.
func (l *lot) parkedIn() int { return l.occupied - l.parking }

// keyLamp is the lamp of l's key.
func (l *lot) keyLamp() Lamp {
	k := Lamp{Lot: l.cfg.Name, Domain: l.cfg.Domain, Parked: l.parkedIn()}
	if k.Parked > 0 {
		k.State = LampParked
	}
	return k
}

// slotLamp is the lamp of l's slot.
func (l *lot) slotLamp(slot int) Lamp {
	st, c := lampOf(l.at(slot))
	return Lamp{Lot: l.cfg.Name, Domain: l.cfg.Domain, Slot: slot, State: st, Caller: c}
}

// relight tells s.Lamps the lamp of lotName's slot, and the lamp of the
// lot's key when its count changed. Called with s.mu held, after the change.
func (s *Service) relight(k lotKey, slot int) {
	if s.Lamps == nil {
		return
	}
	l, ok := s.byName[k]
	if !ok {
		if l, ok = s.retired[k]; !ok {
			return // a call of a lot gone (Resync's stray rows): no key shows it
		}
	}
	if slot > 0 {
		s.Lamps.Light(l.slotLamp(slot))
	}
	s.relightKey(l)
}

// relightKey tells s.Lamps the lamp of l's key if it changed since it was
// last told. Called with s.mu held.
func (s *Service) relightKey(l *lot) {
	if s.Lamps == nil {
		return
	}
	k := l.keyLamp()
	if l.keyLit && l.key == k {
		return
	}
	l.key, l.keyLit = k, true
	s.Lamps.Light(k)
}

// ErrNoLamp: the lamp asked for is neither a lot's key nor one of its slots.
var ErrNoLamp = errors.New("no such lamp")

// Lamp returns the current lamp of a lot's slot, or of the lot's key for
// slot 0; the lot is domain's ("" for a lot without a domain). A lot that a
// reload removed while calls were parked in it still has its lamps. Fails
// with ErrUnknownLot or ErrBadSlot (both wrapped with ErrNoLamp too) when
// there is no such key.
func (s *Service) Lamp(domain, lot string, slot int) (Lamp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := lotKey{strings.ToLower(domain), lot}
	l, ok := s.byName[k]
	if !ok {
		if l, ok = s.retired[k]; !ok {
			return Lamp{}, fmt.Errorf("lamp %s/%d: %w: %w: %q", lot, slot, ErrNoLamp, ErrUnknownLot, lot)
		}
	}
	switch {
	case slot == 0:
		return l.keyLamp(), nil
	case l.cfg.Contains(slot) || l.held[slot] != nil:
		return l.slotLamp(slot), nil
	}
	return Lamp{}, fmt.Errorf("lamp %s/%d: %w: %w: lot %s has %d-%d",
		lot, slot, ErrNoLamp, ErrBadSlot, l.cfg.Name, l.cfg.First, l.cfg.Last)
}

// EveryLamp returns the current lamp of every key: each lot's key followed
// by each of its slots (and any slot outside its range that a reload left a
// call in), ordered by lot name then slot, lots removed by a reload that
// still hold calls included. For publishing every lamp after a (re)connect.
func (s *Service) EveryLamp() []Lamp {
	s.mu.Lock()
	lots := make([]*lot, 0, len(s.lots)+len(s.retired))
	n := 0
	for _, l := range s.lots {
		lots = append(lots, l)
		n += len(l.slots) + len(l.held) + 1
	}
	for _, l := range s.retired {
		lots = append(lots, l)
		n += len(l.slots) + len(l.held) + 1
	}
	sort.Slice(lots, func(i, j int) bool {
		if lots[i].cfg.Domain != lots[j].cfg.Domain {
			return lots[i].cfg.Domain < lots[j].cfg.Domain
		}
		return lots[i].cfg.Name < lots[j].cfg.Name
	})
	out := make([]Lamp, 0, n)
	for _, l := range lots {
		out = append(out, l.keyLamp())
		start := len(out)
		if _, live := s.byName[l.cfg.key()]; live {
			for slot := l.cfg.First; slot <= l.cfg.Last; slot++ {
				out = append(out, l.slotLamp(slot))
			}
		} else {
			// A retired lot shows only the calls still in it: its slots
			// take no new call.
			for slot := l.cfg.First; slot <= l.cfg.Last; slot++ {
				if l.at(slot) != nil {
					out = append(out, l.slotLamp(slot))
				}
			}
		}
		for slot := range l.held {
			out = append(out, l.slotLamp(slot))
		}
		sort.SliceStable(out[start:], func(i, j int) bool { return out[start+i].Slot < out[start+j].Slot })
	}
	s.mu.Unlock()
	return out
}

// LotOfSlot returns the configured lot whose range holds slot (the first in
// configuration order if ranges overlap), for a key dialled as park+<slot>
// with no lot named, among the lots of the calling channel's domain (see
// Service.domainOf).
func (s *Service) LotOfSlot(domain string, slot int) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	domain = s.domainOf(domain)
	for _, l := range s.lots {
		if l.cfg.Domain == domain && l.cfg.Contains(slot) {
			return l.cfg.Name, true
		}
	}
	return "", false
}
