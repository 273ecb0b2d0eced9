package daemon

import (
	"context"
	"errors"
	"fmt"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/internal/metrics"
	"github.com/parkd/parkd/parking"
)

// startMetrics builds the metrics and has the store tell them every
// committed row; called before the store opens, so no row is missed.
func (m *Main) startMetrics() {
	m.Metrics = metrics.New(lotNames(m.Config))
	m.DB.OnCommit(m.Metrics.Committed)
}

// lotNames are the configured lots' names, the metrics' lot labels.
func lotNames(c conf.Config) []string {
	out := make([]string, 0, len(c.Lots))
	for _, l := range c.Lots {
		out = append(out, l.Name)
	}
	return out
}

// countWrites counts st's failed writes in the metrics, keeping st a
// parking.BatchStore if it is one (the journal writes in batches then).
func countWrites(st parking.Store, failed func()) parking.Store {
	c := countingStore{Store: st, failed: failed}
	if bs, ok := st.(parking.BatchStore); ok {
		return countingBatchStore{countingStore: c, bs: bs}
	}
	return c
}

// countingStore counts a Record that failed, the store's refusal of the
// row included.
type countingStore struct {
	parking.Store
	failed func()
}

func (c countingStore) Record(ctx context.Context, t parking.Transition) error {
	err := c.Store.Record(ctx, t)
	if err != nil {
		c.failed()
	}
	return err
}

// countingBatchStore also counts a RecordAll that wrote nothing, and each
// row it refused.
type countingBatchStore struct {
	countingStore
	bs parking.BatchStore
}

func (c countingBatchStore) RecordAll(ctx context.Context, ts []parking.Transition) ([]error, error) {
	refused, err := c.bs.RecordAll(ctx, ts)
	if err != nil {
		c.failed()
	}
	for _, r := range refused {
		if r != nil {
			c.failed()
		}
	}
	return refused, err
}

// notReadyNow says why the daemon is not ready, beside the store watch's
// reason: not connected to FreeSWITCH, connected but not yet reconciled
// (its view of the parked calls may be stale), or history rows waiting
// because the store fails writes.
func (m *Main) notReadyNow() error {
	if m.Client != nil {
		st := m.Client.Stats()
		if !st.Connected {
			return errors.New("not connected to FreeSWITCH")
		}
		if !st.Reconciled {
			return errors.New("connected to FreeSWITCH, not yet reconciled with it")
		}
	}
	if m.Service != nil {
		if n := m.Service.Pending(); n > 0 {
			return fmt.Errorf("%d history rows wait to be written: the store fails writes", n)
		}
	}
	return nil
}
