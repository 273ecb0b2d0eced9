package daemon

import (
	"context"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/webhook"
)

// setupWebhooks tells the store the configured webhooks, before it opens
// (it queues their events with every history row, and drops the queues of
// webhooks no longer configured), and makes a worker per webhook, woken by
// every commit. Call it between store.NewDB and Open.
func (m *Main) setupWebhooks() {
	m.webhooks = nil
	for _, c := range m.Config.Webhooks {
		events := make([]parking.Event, len(c.Events))
		for i, e := range c.Events {
			events[i] = parking.Event(e)
		}
		m.DB.Webhooks = append(m.DB.Webhooks, store.WebhookTarget{Name: c.ID(), Events: events})
		m.webhooks = append(m.webhooks, &webhook.Worker{
			Name: c.ID(), URL: c.URL, Secret: c.Secret, Timeout: c.Timeout, MaxAge: c.MaxAge,
			MinBackoff: m.WebhookBackoff,
			Logger:     m.Logger.With().Str("component", "webhook").Logger(),
		})
	}
	if len(m.webhooks) == 0 {
		return
	}
	workers := m.webhooks
	m.DB.OnCommit(func([]store.HistoryRow) {
		for _, w := range workers {
			w.Wake()
		}
	})
}

// runWebhooks starts the workers until ctx is done; Close waits for them.
// They go through the gated store, so that a Reopen of the database
// waits for them.
func (m *Main) runWebhooks(ctx context.Context) {
	if n := m.DB.DroppedAtOpen(); n > 0 {
		m.Logger.Warn().Int64("events", n).Msg("dropped the undelivered events of webhooks no longer configured")
	}
	for _, w := range m.webhooks {
		w.Store = webhookStore{m.store}
		m.wg.Go(func() { _ = w.Run(ctx) })
	}
	if len(m.webhooks) > 0 {
		m.Logger.Info().Int("webhooks", len(m.webhooks)).Msg("webhooks delivering")
	}
}

// Webhooks are the webhook workers, one per [[webhook]], for their
// counters.
func (m *Main) Webhooks() []*webhook.Worker { return m.webhooks }

// webhookStore is the outbox through the gated store.
type webhookStore struct{ g *gatedStore }

var _ webhook.Store = webhookStore{}

func (s webhookStore) DueDeliveries(ctx context.Context, name string, now time.Time, limit int) ([]store.Delivery, error) {
	s.g.mu.RLock()
	defer s.g.mu.RUnlock()
	return s.g.db.DueDeliveries(ctx, name, now, limit)
}

func (s webhookStore) NextDelivery(ctx context.Context, name string) (time.Time, bool, error) {
	s.g.mu.RLock()
	defer s.g.mu.RUnlock()
	return s.g.db.NextDelivery(ctx, name)
}

func (s webhookStore) DeliveryDone(ctx context.Context, id int64) error {
	s.g.mu.RLock()
	defer s.g.mu.RUnlock()
	return s.g.db.DeliveryDone(ctx, id)
}

func (s webhookStore) DeliveryFailed(ctx context.Context, id int64, next time.Time, msg string) error {
	s.g.mu.RLock()
	defer s.g.mu.RUnlock()
	return s.g.db.DeliveryFailed(ctx, id, next, msg)
}
