-- 0001_init: current occupancy and the append-only history.
-- Times are UTC text in the fixed-width form 2006-01-02T15:04:05.000Z, so
-- they sort as text; durations are milliseconds. Shipped: never edit this
-- file, add 0002_*.sql instead.

CREATE TABLE occupancy (
	lot           TEXT    NOT NULL,
	slot          INTEGER NOT NULL,
	call_uuid     TEXT    NOT NULL UNIQUE,
	caller_number TEXT    NOT NULL,
	caller_name   TEXT    NOT NULL,
	parker        TEXT    NOT NULL,
	parked_at     TEXT    NOT NULL,
	deadline      TEXT    NOT NULL,
	PRIMARY KEY (lot, slot)
);

CREATE TABLE history (
	id            INTEGER PRIMARY KEY,
	at            TEXT    NOT NULL,
	lot           TEXT    NOT NULL,
	slot          INTEGER NOT NULL,
	call_uuid     TEXT    NOT NULL,
	caller_number TEXT    NOT NULL,
	caller_name   TEXT    NOT NULL,
	parker        TEXT    NOT NULL,
	event         TEXT    NOT NULL CHECK (event IN ('parked', 'retrieved', 'abandoned', 'rejected', 'recall', 'recalled', 'recall_failed', 'fallback', 'lost')),
	reason        TEXT    NOT NULL,
	retriever     TEXT    NOT NULL,
	wait_ms       INTEGER NOT NULL
);

CREATE INDEX history_at ON history (at);
CREATE INDEX history_call_uuid ON history (call_uuid);
CREATE INDEX history_lot_at ON history (lot, at);

-- History is an audit trail. A retention job may drop these triggers, delete
-- old rows and recreate them, all inside one transaction of its own.
CREATE TRIGGER history_no_update BEFORE UPDATE ON history
BEGIN
	SELECT RAISE(ABORT, 'history is append-only');
END;

CREATE TRIGGER history_no_delete BEFORE DELETE ON history
BEGIN
	SELECT RAISE(ABORT, 'history is append-only');
END;
