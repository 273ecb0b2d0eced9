-- 0005_actions: the events of the board's actions on a parked call
-- (parking.EventMoved 'moved', EventExtended 'extended', EventHungup
-- 'hungup'). 'moved' and 'extended' rewrite the call's occupancy and keep
-- its park session open; 'hungup' (a person hung the call up) ends the
-- session with outcome 'hungup'. Shipped: never edit this file, add
-- 0006_*.sql.
--
-- As in 0004: SQLite cannot change a CHECK constraint, so history and
-- sessions are rebuilt with every row (ids included), then their indexes,
-- triggers and the views over them are made again as before. The views go
-- first: a view naming a table being dropped and renamed would not survive
-- the rename.

DROP VIEW park_sessions;
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
	event         TEXT    NOT NULL CHECK (event IN ('parked', 'retrieved', 'abandoned', 'rejected', 'recall', 'recalled', 'recall_failed', 'fallback', 'lost', 'replaced', 'moved', 'extended', 'hungup')),
	reason        TEXT    NOT NULL,
	retriever     TEXT    NOT NULL,
	wait_ms       INTEGER NOT NULL
);

-- DROP TABLE's implicit delete fires no trigger: the append-only guards
-- do not stop the rebuild.
INSERT INTO history_new (id, at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms)
SELECT id, at, lot, slot, call_uuid, caller_number, caller_name, parker, event, reason, retriever, wait_ms FROM history;
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

CREATE TABLE sessions_new (
	id              INTEGER PRIMARY KEY, -- history.id of the 'parked' row
	call_uuid       TEXT    NOT NULL,
	lot             TEXT    NOT NULL,
	slot            INTEGER NOT NULL,
	caller_number   TEXT    NOT NULL,
	caller_name     TEXT    NOT NULL,
	parker          TEXT    NOT NULL,
	parked_at       TEXT    NOT NULL,
	recall_attempts INTEGER NOT NULL DEFAULT 0,
	ended_id        INTEGER,             -- history.id of the terminal row; NULL while parked
	ended_at        TEXT,
	outcome         TEXT CHECK (outcome IN ('retrieved', 'recalled', 'abandoned', 'fallback', 'lost', 'replaced', 'hungup')),
	retriever       TEXT    NOT NULL DEFAULT '',
	wait_ms         INTEGER
);

INSERT INTO sessions_new (id, call_uuid, lot, slot, caller_number, caller_name, parker, parked_at, recall_attempts,
	ended_id, ended_at, outcome, retriever, wait_ms)
SELECT id, call_uuid, lot, slot, caller_number, caller_name, parker, parked_at, recall_attempts,
	ended_id, ended_at, outcome, retriever, wait_ms FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_new RENAME TO sessions;

CREATE INDEX sessions_parked_at ON sessions (parked_at, lot, parker, retriever, outcome, recall_attempts, wait_ms);
CREATE INDEX sessions_lot_parked_at ON sessions (lot, parked_at);
CREATE INDEX sessions_parker_parked_at ON sessions (parker, parked_at);
CREATE INDEX sessions_call_uuid ON sessions (call_uuid, ended_id);
CREATE INDEX sessions_ended_at ON sessions (ended_at);

-- park_sessions: one row per park session. Stable: columns are only ever
-- added. outcome and ended_at are NULL while the call is still parked;
-- wait_ms is the time from parked to the end; note is the latest note.
-- outcome 'replaced' is the stay of an attended transfer's consult call,
-- not a parked call: reports leave it out. Outcome 'hungup' (0005): a person
-- hung the call up from the board; retriever names them.
CREATE VIEW park_sessions AS
SELECT
	s.call_uuid       AS call,
	s.lot             AS lot,
	s.slot            AS slot,
	s.caller_number   AS caller_number,
	s.caller_name     AS caller_name,
	s.parker          AS parker,
	s.parked_at       AS parked_at,
	s.ended_at        AS ended_at,
	s.outcome         AS outcome,
	s.retriever       AS retriever,
	s.wait_ms         AS wait_ms,
	s.recall_attempts AS recall_attempts,
	(SELECT n.text FROM notes n WHERE n.session_id = s.id ORDER BY n.id DESC LIMIT 1) AS note
FROM sessions s;

-- park_history: every transition, in the order recorded. Stable.
CREATE VIEW park_history AS
SELECT id, at, event, lot, slot, call_uuid AS call, caller_number, caller_name, parker, retriever, reason, wait_ms
FROM history;
