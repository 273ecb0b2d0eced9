package parking

import (
	"context"
	"errors"
	"sync"

	"github.com/rs/zerolog"
)

// journal writes transitions to the Store in the order the Service decided
// them. Transitions are queued under the Service's lock (so a call's
// "parked" can never be written after its "abandoned"), then written outside
// it. A write that fails for a passing reason (disk full, database locked,
// read-only file) stays queued and is retried by the next flush, so the
// history catches up when the disk does; the call itself is unaffected.
type journal struct {
	store  Store
	logger zerolog.Logger

	mu    sync.Mutex // guards queue
	queue []Transition

	wmu sync.Mutex // one writer at a time, in queue order
}

// add queues t. Called with Service.mu held; does no I/O.
func (j *journal) add(t Transition) {
	j.mu.Lock()
	j.queue = append(j.queue, t)
	j.mu.Unlock()
}

// pending returns how many transitions wait to be written.
func (j *journal) pending() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.queue)
}

// flush writes every queued transition in order. It stops at the first
// write that fails for a reason other than the transition itself, leaving
// it and the rest queued, and returns that error.
func (j *journal) flush(ctx context.Context) error {
	j.wmu.Lock()
	defer j.wmu.Unlock()
	for {
		j.mu.Lock()
		if len(j.queue) == 0 {
			j.mu.Unlock()
			return nil
		}
		t := j.queue[0]
		j.mu.Unlock()

		err := j.store.Record(ctx, t)
		if err != nil && !errors.Is(err, ErrSlotTaken) {
			j.logger.Error().Err(err).Str("event", string(t.Event)).Str("call", string(t.Call)).
				Int("pending", j.pending()).Msg("history write failed; will retry")
			return err
		}
		if err != nil {
			// The store disagrees with the Service about who holds the
			// slot: retrying cannot help. Say so loudly and drop it.
			j.logger.Error().Err(err).Str("event", string(t.Event)).Str("lot", t.Lot).Int("slot", t.Slot).
				Str("call", string(t.Call)).Msg("history row lost: store refused the transition")
		}
		j.mu.Lock()
		j.queue = j.queue[1:]
		j.mu.Unlock()
	}
}
