package parking

// A recall's row written before the ring (Service.RecordRecallFirst).
//
// By default the parker's phone rings first and the recall's row follows
// (issue 16: waiting for the commit made recalls late). A parkd that can be
// replaced by a standby cannot do that: if it died between the ring and the
// write, the standby would read a call still waiting for its recall, and
// ring the parker again. Written first, the row tells the standby the
// attempt was made (its number, its place in the history), and since the
// store's writes are fenced by the lease, a parkd that lost its lease
// cannot write it, so it does not ring at all.
//
// What remains: a parkd that wrote the row and died before or while the
// phone rang. The standby's reconcile finds the recall leg (hanging it up,
// or bridging it if the parker answered) and the call parked with its
// deadline passed, so it rings the next attempt at once: the parker may
// see one ring cut short and then a new one, never two at once.

// recallRecorded writes e's recall row, then rings (recall) if it was
// written. If it was not, the phone is not rung: the attempt is recorded
// as failed, for the store, and retried after retry_after like any failed
// attempt. Called without s.mu, after startRecall moved e to recalling at
// generation gen (and counted the recall in s.bg).
func (s *Service) recallRecorded(e *entry, gen uint64, o Origination, stop <-chan struct{}) {
	s.logCommitted()
	if err := s.jour.flush(s.bgCtx); err != nil {
		defer s.bg.Done()
		s.mu.Lock()
		if s.current(e, gen, stateRecalling) {
			s.Logger.Error().Err(err).Str("call", string(e.occ.Call)).Str("lot", e.occ.Lot).Int("slot", e.occ.Slot).
				Msg("recall not rung: its row could not be written; retrying after retry_after")
			s.recallFailed(e, "not rung: the recall could not be recorded")
		}
		s.mu.Unlock()
		s.flush(s.bgCtx)
		return
	}
	go s.recall(e, gen, o, stop)
}
