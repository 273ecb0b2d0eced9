package daemon

import (
	"context"
	"time"

	"github.com/rs/zerolog"
)

// pruner is the part of store.DB the retention loop uses.
type pruner interface {
	Prune(ctx context.Context, before time.Time) (int64, error)
}

// pruneEvery applies [store] keep: it prunes what ended more than keep ago
// at once and then every interval (a day in the daemon), until ctx is done.
// With keep 0 (keep everything) it returns at once. Failures are logged and
// retried at the next tick. The daemon starts it from Main.Open:
//
//	m.wg.Go(func() { pruneEvery(runCtx, m.DB, c.Store.Keep, 24*time.Hour, m.Logger.With().Str("component", "prune").Logger()) })
func pruneEvery(ctx context.Context, db pruner, keep, interval time.Duration, log zerolog.Logger) {
	if keep <= 0 {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		before := time.Now().Add(-keep)
		n, err := db.Prune(ctx, before)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Error().Err(err).Msg("prune failed; retrying at the next run")
		case err == nil:
			log.Info().Int64("history_rows", n).Time("before", before.UTC()).Msg("pruned")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
