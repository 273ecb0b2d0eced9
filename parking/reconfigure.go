package parking

// Reconfigure replaces the lots' configurations, for a configuration
// reloaded while parkd runs. lots is checked as NewService checks it; on an
// error nothing changes. The first lot becomes the default lot.
//
// What changes when:
//   - New parks follow the new lots at once: slot ranges, music,
//     announcement, timeout, on-occupied and overflow rules.
//   - A call already parked keeps the slot it has and the deadline it was
//     given when it was parked (or at its last failed recall); the music it
//     hears is not restarted. What happens at that deadline (whether it is
//     recalled, the ring, the attempts, the pause after a failed one and
//     the fallback) follows its lot's configuration at that moment, so a
//     lot whose recall is switched on recalls at once a call whose deadline
//     has passed.
//   - Operations under way (a park, a retrieve, a ringing recall, a
//     fallback transfer) finish as they started; their next step reads the
//     new configuration.
//   - A call in a slot that a lot no longer has, or in a lot that is no
//     longer configured, stays there until it leaves: it can be retrieved
//     by its lot and slot, it is recalled by its lot's last configuration,
//     and no new call is parked there.
func (s *Service) Reconfigure(lots []LotConfig) error {
	ls, byName, err := buildLots(lots)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	retired := map[lotKey]*lot{}
	for _, e := range s.calls {
		name := e.occ.lotKey()
		if l, ok := byName[name]; ok {
			l.set(e.occ.Slot, e)
			continue
		}
		r, ok := retired[name]
		if !ok {
			r = newLot(s.cfgOf(e))
			retired[name] = r
		}
		r.set(e.occ.Slot, e)
	}
	old := s.lots
	s.setLots(ls, byName)
	s.retired = retired
	// A lot removed with no call in it has no key any more: dark.
	for _, l := range old {
		if _, kept := byName[l.cfg.key()]; !kept && retired[l.cfg.key()] == nil && s.Lamps != nil {
			s.Lamps.Light(Lamp{Lot: l.cfg.Name, Domain: l.cfg.Domain})
		}
	}
	// The keys of new lots, and of lots whose calls moved in or out of
	// them, are told; slots keep their calls and so their lamps.
	for _, l := range ls {
		s.relightKey(l)
	}
	for _, l := range retired {
		s.relightKey(l)
	}
	// Re-arm the parked calls' timers on their unchanged deadlines, so that
	// a lot whose recall or fallback was switched on or off takes effect.
	// The new generation voids a timer firing right now.
	for _, e := range s.calls {
		if e.state == stateParked {
			e.gen++
			s.arm(e)
		}
	}
	return nil
}
