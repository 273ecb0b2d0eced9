package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/parkd/parkd/parking"
)

// WebhookTarget is a configured webhook as the store knows it: Record
// queues every history row whose event it wants in the outbox
// (webhook_outbox, migrations/0006_webhooks.sql). Set DB.Webhooks before
// Open.
type WebhookTarget struct {
	// Name identifies the webhook's rows (conf.Webhook.ID).
	Name string
	// Events are the events queued for it; empty: every event.
	Events []parking.Event
}

// wants reports whether t queues events of kind e.
func (t WebhookTarget) wants(e parking.Event) bool {
	return len(t.Events) == 0 || slices.Contains(t.Events, e)
}

// Delivery is one queued event for one webhook.
type Delivery struct {
	// ID is the outbox row's.
	ID      int64
	Webhook string
	// HistoryID is the history row's ID: the event's id, which receivers
	// dedupe on.
	HistoryID int64
	Call      parking.CallID
	// Payload is the history row as HistoryRow.MarshalJSON renders it.
	Payload json.RawMessage
	// CreatedAt is the event's time.
	CreatedAt time.Time
	// Attempts is how many deliveries failed so far.
	Attempts int
	// NextAt is when the next attempt is due.
	NextAt time.Time
}

const (
	sqlInsertOutbox = `INSERT INTO webhook_outbox
	(webhook, history_id, call_uuid, payload, created_at, next_at) VALUES (?, ?, ?, ?, ?, ?)`

	// The head of each call's queue: no earlier event of the same call is
	// still queued for the webhook.
	sqlOutboxHead = `NOT EXISTS (SELECT 1 FROM webhook_outbox e
		WHERE e.webhook = o.webhook AND e.call_uuid = o.call_uuid AND e.history_id < o.history_id)`
)

// outboxWrites lists the writes that queue the history row id, written for
// t on node, for every webhook that wants t's event. They go with the transition's
// other writes, so a transition the store refuses (its savepoint rolled
// back) leaves no outbox row.
func (db *DB) outboxWrites(t parking.Transition, id int64, node string) ([]write, error) {
	var payload []byte
	var ws []write
	for _, w := range db.Webhooks {
		if !w.wants(t.Event) {
			continue
		}
		if payload == nil {
			var err error
			row := rowOf(id, t)
			row.Node = node // "" without nodes: the key is left out
			if payload, err = row.MarshalJSON(); err != nil {
				return nil, fmt.Errorf("webhook %s: %w", w.Name, err)
			}
		}
		at := formatTime(t.At)
		ws = append(ws, write{db.stmts.insertOutbox, sqlInsertOutbox, []any{w.Name, id, string(t.Call), string(payload), at, at},
			"webhook " + w.Name + ": queue"})
	}
	return ws, nil
}

// dropUnconfiguredWebhooks deletes the queued deliveries of webhooks not
// in db.Webhooks: a webhook removed from the configuration, or renamed,
// gets nothing more. Open runs it once migrated; it sets droppedAtOpen.
func (db *DB) dropUnconfiguredWebhooks(ctx context.Context) error {
	args := make([]any, len(db.Webhooks))
	for i, w := range db.Webhooks {
		args[i] = w.Name
	}
	where := ``
	if len(args) > 0 {
		where = ` WHERE webhook NOT IN (?` + strings.Repeat(`, ?`, len(args)-1) + `)`
	}
	// Count first: a daemon that has nothing to drop writes nothing at
	// start (an idle daemon leaves an empty -wal, which readers rely on).
	var n int64
	if err := db.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_outbox`+where, args...).Scan(&n); err != nil {
		return fmt.Errorf("drop deliveries of unconfigured webhooks: %w", err)
	}
	db.droppedAtOpen = n
	if n == 0 {
		return nil
	}
	if _, err := db.w.ExecContext(ctx, `DELETE FROM webhook_outbox`+where, args...); err != nil {
		return fmt.Errorf("drop deliveries of unconfigured webhooks: %w", err)
	}
	return nil
}

// DroppedAtOpen is how many queued deliveries Open dropped because their
// webhook is no longer configured, for the daemon to log.
func (db *DB) DroppedAtOpen() int64 { return db.droppedAtOpen }

// DueDeliveries returns up to limit deliveries for webhook due at now,
// those due longest first (so that after an outage a retried event does
// not go before every event that waited behind it), then oldest first: for
// each call only its oldest queued event, so that no later event of a call
// goes out before an earlier one is delivered or dropped.
func (db *DB) DueDeliveries(ctx context.Context, webhook string, now time.Time, limit int) (_ []Delivery, rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return nil, fmt.Errorf("due deliveries: %w", errNotOpen)
	}
	rows, err := db.r.QueryContext(ctx, `SELECT id, webhook, history_id, call_uuid, payload, created_at, attempts, next_at
	FROM webhook_outbox o
	WHERE webhook = ? AND next_at <= ? AND `+sqlOutboxHead+`
	ORDER BY next_at, history_id LIMIT ?`, webhook, formatTime(now), limit)
	if err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	defer rows.Close()
	var out []Delivery
	for rows.Next() {
		var d Delivery
		var payload, created, next string
		if err := rows.Scan(&d.ID, &d.Webhook, &d.HistoryID, &d.Call, &payload, &created, &d.Attempts, &next); err != nil {
			return nil, fmt.Errorf("due deliveries: %w", err)
		}
		d.Payload = json.RawMessage(payload)
		if d.CreatedAt, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("due deliveries: %w", err)
		}
		if d.NextAt, err = parseTime(next); err != nil {
			return nil, fmt.Errorf("due deliveries: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("due deliveries: %w", err)
	}
	return out, nil
}

// NextDelivery returns when the earliest queued delivery for webhook that
// DueDeliveries could return becomes due; ok is false when none is queued.
func (db *DB) NextDelivery(ctx context.Context, webhook string) (_ time.Time, ok bool, rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return time.Time{}, false, fmt.Errorf("next delivery: %w", errNotOpen)
	}
	var next sql.NullString
	if err := db.r.QueryRowContext(ctx, `SELECT MIN(next_at) FROM webhook_outbox o WHERE webhook = ? AND `+sqlOutboxHead,
		webhook).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("next delivery: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	t, err := parseTime(next.String)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("next delivery: %w", err)
	}
	return t, true, nil
}

// QueuedDeliveries counts the deliveries queued for webhook.
func (db *DB) QueuedDeliveries(ctx context.Context, webhook string) (n int, rerr error) {
	defer db.damaged(&rerr)
	if db.r == nil {
		return 0, fmt.Errorf("queued deliveries: %w", errNotOpen)
	}
	if err := db.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM webhook_outbox WHERE webhook = ?`, webhook).Scan(&n); err != nil {
		return 0, fmt.Errorf("queued deliveries: %w", err)
	}
	return n, nil
}

// DeliveryDone deletes the delivery id from the outbox: delivered, or
// dropped after max_age. Deleting one already gone is not an error.
func (db *DB) DeliveryDone(ctx context.Context, id int64) (rerr error) {
	defer db.damaged(&rerr)
	if err := db.writable(); err != nil {
		return fmt.Errorf("delivery %d done: %w", id, err)
	}
	ctx, cancel := db.writeContext(ctx)
	defer cancel()
	if _, err := db.w.ExecContext(ctx, `DELETE FROM webhook_outbox WHERE id = ?`, id); err != nil {
		return fmt.Errorf("delivery %d done: %w", id, err)
	}
	return nil
}

// DeliveryFailed counts a failed attempt of delivery id and puts the next
// one off until next; msg (never the secret) is kept for inspection.
func (db *DB) DeliveryFailed(ctx context.Context, id int64, next time.Time, msg string) (rerr error) {
	defer db.damaged(&rerr)
	if !validTime(next) {
		return fmt.Errorf("delivery %d failed: %w: time %v", id, ErrInvalid, next)
	}
	if err := db.writable(); err != nil {
		return fmt.Errorf("delivery %d failed: %w", id, err)
	}
	if len(msg) > 512 {
		msg = msg[:512]
	}
	msg = db.eng.text(msg)
	ctx, cancel := db.writeContext(ctx)
	defer cancel()
	if _, err := db.w.ExecContext(ctx,
		`UPDATE webhook_outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?`,
		formatTime(next), msg, id); err != nil {
		return fmt.Errorf("delivery %d failed: %w", id, err)
	}
	return nil
}
