-- 0004_replaced (PostgreSQL): the 'replaced' event and outcome, and the
-- parked call's SIP dialog in the occupancy, as ../0004_replaced.sql
-- (which rebuilds tables because SQLite cannot change a CHECK constraint;
-- PostgreSQL replaces the constraint). Shipped: never edit this file, add
-- 0005_*.sql.

ALTER TABLE history DROP CONSTRAINT history_event_check,
	ADD CONSTRAINT history_event_check CHECK (event IN ('parked', 'retrieved', 'abandoned', 'rejected', 'recall', 'recalled', 'recall_failed', 'fallback', 'lost', 'replaced'));

ALTER TABLE sessions DROP CONSTRAINT sessions_outcome_check,
	ADD CONSTRAINT sessions_outcome_check CHECK (outcome IN ('retrieved', 'recalled', 'abandoned', 'fallback', 'lost', 'replaced'));

ALTER TABLE occupancy ADD COLUMN dialog TEXT COLLATE "C" NOT NULL DEFAULT '';
