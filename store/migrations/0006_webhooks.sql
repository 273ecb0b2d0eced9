-- 0006_webhooks: the webhooks' outbox. Record writes one row per
-- configured webhook that wants the event, in the transaction that appends
-- the history row, so an event is either in the history and queued for
-- every webhook, or in neither; a delivery deletes its row.
--
-- The row carries the event's JSON (payload) rather than pointing at the
-- history: the retention prune deletes history rows whatever is queued, and
-- a pending delivery must survive it. No foreign key to history for the
-- same reason.

CREATE TABLE webhook_outbox (
	id         INTEGER PRIMARY KEY,
	webhook    TEXT    NOT NULL,            -- conf.Webhook.ID()
	history_id INTEGER NOT NULL,            -- the event id receivers dedupe on
	call_uuid  TEXT    NOT NULL,            -- deliveries of one call go in history_id order
	payload    TEXT    NOT NULL,            -- store.HistoryRow JSON
	created_at TEXT    NOT NULL,            -- the event's time; max_age counts from it
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_at    TEXT    NOT NULL,            -- not tried again before
	last_error TEXT    NOT NULL DEFAULT '',
	UNIQUE (webhook, history_id)
);

CREATE INDEX webhook_outbox_call ON webhook_outbox (webhook, call_uuid, history_id);
CREATE INDEX webhook_outbox_next ON webhook_outbox (webhook, next_at);
