package parking

import (
	"context"
	"errors"
	"sync"
	"time"

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
	// w writes up to limit transitions in one transaction: the store
	// itself if it is a BatchStore, else one row at a time through Record.
	w     BatchStore
	limit int

	mu    sync.Mutex // guards queue and done
	queue []Transition
	// done counts the transitions ever taken off the queue (written, or
	// refused by the store); done+len(queue) is how many were ever queued.
	done uint64

	// wsem lets one writer at a time write, in queue order: a channel,
	// not a mutex, so that flushes waiting behind a writer that waits out
	// CommitEvery are durably blocked inside a testing/synctest bubble.
	wsem chan struct{}
	// every is the least time between the starts of two writes (0: no
	// wait; see Service.CommitEvery); last is when the last one began.
	// Both guarded by wsem.
	every time.Duration
	last  time.Time
}

// newJournal returns a journal writing to st.
func newJournal(st Store) *journal {
	j := &journal{store: st, w: oneRow{st}, limit: 1, wsem: make(chan struct{}, 1)}
	if bs, ok := st.(BatchStore); ok {
		j.w, j.limit = bs, maxBatch
	}
	return j
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

// BatchStore is a Store that can also write many transitions in one
// transaction. store.DB implements it; the journal uses it when it can,
// since under load the commit, not the row, is what costs.
type BatchStore interface {
	Store
	// RecordAll applies ts in order, in one transaction. A transition the
	// store refuses is reported at its index in refused and the others are
	// written; any other error writes nothing. ts is the journal's
	// own queue: RecordAll must not modify it or keep it.
	RecordAll(ctx context.Context, ts []Transition) (refused []error, err error)
}

// maxBatch bounds one transaction of the journal.
const maxBatch = 512

// flush writes, in order, every transition queued before it was called
// (and whatever is queued behind them in the same transactions). It stops
// at the first write that fails for a reason other than the transition
// itself, leaving it and the rest queued, and returns that error.
//
// This is group commit: each handler flushes after its own transition, and
// one that finds its rows already written by another's transaction returns
// at once. Writing until the queue was empty instead made every handler
// wait behind a writer that kept taking newer rows, and commit them in
// transactions of one or two.
//
// A BatchStore gets transactions of up to maxBatch rows: while one is being
// written, the rows queued meanwhile make up the next. Any other Store gets
// one row per transaction.
func (j *journal) flush(ctx context.Context) error {
	j.mu.Lock()
	target := j.done + uint64(len(j.queue))
	j.mu.Unlock()
	j.wsem <- struct{}{}
	defer func() { <-j.wsem }()
	for {
		// Only this writer takes rows off the queue, so while done < target
		// the queue holds at least target-done of them.
		j.mu.Lock()
		if j.done >= target {
			j.mu.Unlock()
			return nil
		}
		if j.every > 0 {
			// Under load, wait out the rest of the period since the last
			// write began: the rows queued meanwhile go in the same
			// transaction. An idle journal writes at once.
			if wait := j.every - time.Since(j.last); wait > 0 {
				j.mu.Unlock()
				time.Sleep(wait)
				j.mu.Lock()
			}
			j.last = time.Now()
		}
		// The batch is the queue's own head, not a copy: add only appends
		// behind it, and only this writer takes rows off the front.
		n := min(len(j.queue), j.limit)
		batch := j.queue[:n:n]
		j.mu.Unlock()

		refused, err := j.w.RecordAll(ctx, batch)
		if err != nil {
			j.logger.Error().Err(err).Int("rows", n).Int("pending", j.pending()).
				Msg("history write failed; will retry")
			return err
		}
		for i, rerr := range refused {
			if rerr != nil {
				// The store refused the row itself (e.g. the slot holds
				// another call): retrying cannot help. Say so loudly
				// and drop it.
				t := batch[i]
				j.logger.Error().Err(rerr).Str("event", string(t.Event)).Str("lot", t.Lot).Int("slot", t.Slot).
					Str("call", string(t.Call)).Msg("history row lost: store refused the transition")
			}
		}
		j.mu.Lock()
		j.queue = j.queue[n:]
		j.done += uint64(n)
		j.mu.Unlock()
	}
}

// oneRow writes a batch of one transition through Store.Record, for a
// store that has no RecordAll.
type oneRow struct{ Store }

func (s oneRow) RecordAll(ctx context.Context, ts []Transition) ([]error, error) {
	err := s.Record(ctx, ts[0])
	if errors.Is(err, ErrSlotTaken) {
		return []error{err}, nil
	}
	return nil, err
}
