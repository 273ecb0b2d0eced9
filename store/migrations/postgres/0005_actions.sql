-- 0005_actions (PostgreSQL): the board's events 'moved', 'extended' and
-- 'hungup' (outcome 'hungup'), as ../0005_actions.sql. Shipped: never
-- edit this file, add 0006_*.sql.

ALTER TABLE history DROP CONSTRAINT history_event_check,
	ADD CONSTRAINT history_event_check CHECK (event IN ('parked', 'retrieved', 'abandoned', 'rejected', 'recall', 'recalled', 'recall_failed', 'fallback', 'lost', 'replaced', 'moved', 'extended', 'hungup'));

ALTER TABLE sessions DROP CONSTRAINT sessions_outcome_check,
	ADD CONSTRAINT sessions_outcome_check CHECK (outcome IN ('retrieved', 'recalled', 'abandoned', 'fallback', 'lost', 'replaced', 'hungup'));
