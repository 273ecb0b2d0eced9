-- 0008_outside: outside pick-up's defence against PIN guessing (issue 15).
-- Every wrong PIN is a row of outside_failures (the calling number, never
-- the digits); a lockout is a row of outside_locks until its end (number ''
-- locks the lot's outside access for every number). Both survive a restart,
-- so restarting parkd resets no count. Rows older than any window or lock
-- are useless and may be deleted (ClearOutside, the retention prune).
-- A lot is its name within its domain (0007): both tables carry the lot's
-- domain, '' for a lot without one. Shipped: never edit this file, add
-- 0009_*.sql.

CREATE TABLE outside_failures (
	id     INTEGER PRIMARY KEY,
	domain TEXT NOT NULL DEFAULT '',
	lot    TEXT NOT NULL,
	number TEXT NOT NULL,
	at     TEXT NOT NULL
);

CREATE INDEX outside_failures_lot_at ON outside_failures (domain, lot, at);
CREATE INDEX outside_failures_lot_number_at ON outside_failures (domain, lot, number, at);

CREATE TABLE outside_locks (
	id     INTEGER PRIMARY KEY,
	domain TEXT NOT NULL DEFAULT '',
	lot    TEXT NOT NULL,
	number TEXT NOT NULL, -- '' locks every number
	until  TEXT NOT NULL
);

CREATE INDEX outside_locks_lot_until ON outside_locks (domain, lot, until);

-- The history gains the events 'pin_failed' (an outside caller's wrong
-- PIN; the row names the calling number and the lot, never the digits)
-- and 'pin_locked' (a number, or with no caller number the whole lot,
-- locked out). Neither touches a park session. As in 0005, SQLite cannot
-- change a CHECK constraint, so history is rebuilt with every row (ids
-- included), with its indexes, triggers and the park_history view.
-- NOTE for merges: this rebuild lists history's columns; a migration that
-- adds a column to history must come after it or be folded into it.

DROP VIEW park_history;

CREATE TABLE history_new (
	id            INTEGER PRIMARY KEY,
	at            TEXT    NOT NULL,
	lot           TEXT    NOT NULL,
	slot          INTEGER NOT NULL,
	call_uuid     TEXT    NOT NULL,
	caller_number TEXT    NOT NULL,
	caller_name   TEXT    NOT NULL,
	parker        TEXT    NOT NULL,
	event         TEXT    NOT NULL CHECK (event IN ('parked', 'retrieved', 'abandoned', 'rejected', 'recall', 'recalled', 'recall_failed', 'fallback', 'lost', 'replaced', 'moved', 'extended', 'hungup', 'pin_failed', 'pin_locked')),
	reason        TEXT    NOT NULL,
	retriever     TEXT    NOT NULL,
	wait_ms       INTEGER NOT NULL,
	domain        TEXT    NOT NULL DEFAULT ''
);

INSERT INTO history_new (id, at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms, domain)
SELECT id, at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms, domain FROM history;
DROP TABLE history;
ALTER TABLE history_new RENAME TO history;

CREATE INDEX history_at ON history (at);
CREATE INDEX history_call_uuid ON history (call_uuid);
CREATE INDEX history_lot_at ON history (lot, at);

CREATE TRIGGER history_no_update BEFORE UPDATE ON history
BEGIN
	SELECT RAISE(ABORT, 'history is append-only');
END;

CREATE TRIGGER history_no_delete BEFORE DELETE ON history
BEGIN
	SELECT RAISE(ABORT, 'history is append-only');
END;

-- park_history: every transition, in the order recorded. Stable.
CREATE VIEW park_history AS
SELECT id, at, event, lot, slot, call_uuid AS call, caller_number, caller_name, parker, retriever, reason, wait_ms, domain
FROM history;
