package parking

// LotOfSlot returns the configured lot whose range holds slot (the first in
// configuration order if ranges overlap), for a key dialled as park+<slot>
// with no lot named.
//
// Temporary in h-keys so that esl compiles: h-domain's parking/lamps.go
// replaces this file when it is merged.
func (s *Service) LotOfSlot(slot int) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.lots {
		if l.cfg.Contains(slot) {
			return l.cfg.Name, true
		}
	}
	return "", false
}
