-- 0003_sessions: one row per park session, maintained by Record in the same
-- transaction as the history row; notes attached to parked calls; and the
-- documented views for outside tools (park_sessions, park_history,
-- park_notes). Existing databases get their sessions backfilled from the
-- history below. Shipped: never edit this file, add 0004_*.sql.
--
-- A session starts at a 'parked' row of a call that has no open session and
-- ends at the call's next terminal row (retrieved, recalled, abandoned,
-- fallback, lost). A 'parked' row of a call whose session is still open (the
-- call moved) does not start a new session. 'recall' rows in between count
-- as recall attempts. 'rejected' rows are no session.

CREATE TABLE sessions (
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
	outcome         TEXT CHECK (outcome IN ('retrieved', 'recalled', 'abandoned', 'fallback', 'lost')),
	retriever       TEXT    NOT NULL DEFAULT '',
	wait_ms         INTEGER
);

-- Covers the report query: a window of sessions is one range scan of this
-- index, without visiting the table.
CREATE INDEX sessions_parked_at ON sessions (parked_at, lot, parker, retriever, outcome, recall_attempts, wait_ms);
CREATE INDEX sessions_lot_parked_at ON sessions (lot, parked_at);
CREATE INDEX sessions_parker_parked_at ON sessions (parker, parked_at);
CREATE INDEX sessions_call_uuid ON sessions (call_uuid, ended_id);
CREATE INDEX sessions_ended_at ON sessions (ended_at);

CREATE TABLE notes (
	id            INTEGER PRIMARY KEY,
	at            TEXT    NOT NULL,
	session_id    INTEGER,              -- sessions.id; NULL if the call had no session
	call_uuid     TEXT    NOT NULL,
	lot           TEXT    NOT NULL,
	slot          INTEGER NOT NULL,
	caller_number TEXT    NOT NULL,
	caller_name   TEXT    NOT NULL,
	parker        TEXT    NOT NULL,
	text          TEXT    NOT NULL CHECK (length(text) BETWEEN 1 AND 500)
);

CREATE INDEX notes_at ON notes (at);
CREATE INDEX notes_session_id ON notes (session_id);
CREATE INDEX notes_call_uuid ON notes (call_uuid);

-- Backfill: sessions from the history already recorded.
WITH seq AS (
	SELECT id, call_uuid, lot, slot, caller_number, caller_name, parker, at, event,
		LAG(event) OVER (PARTITION BY call_uuid ORDER BY id) AS prev
	FROM history
	WHERE event <> 'rejected'
)
INSERT INTO sessions (id, call_uuid, lot, slot, caller_number, caller_name, parker, parked_at)
SELECT id, call_uuid, lot, slot, caller_number, caller_name, parker, at
FROM seq
WHERE event = 'parked'
	AND (prev IS NULL OR prev IN ('retrieved', 'recalled', 'abandoned', 'fallback', 'lost'));

UPDATE sessions SET ended_id = (
	SELECT MIN(h.id) FROM history h
	WHERE h.call_uuid = sessions.call_uuid AND h.id > sessions.id
		AND h.event IN ('retrieved', 'recalled', 'abandoned', 'fallback', 'lost'));

UPDATE sessions SET (ended_at, outcome, retriever, wait_ms) = (
	SELECT h.at, h.event,
		CASE WHEN h.event = 'recalled' AND h.retriever = '' THEN sessions.parker
			WHEN h.event IN ('retrieved', 'recalled') THEN h.retriever
			ELSE '' END,
		h.wait_ms
	FROM history h WHERE h.id = sessions.ended_id)
WHERE ended_id IS NOT NULL;

UPDATE sessions SET recall_attempts = (
	SELECT COUNT(*) FROM history h
	WHERE h.call_uuid = sessions.call_uuid AND h.event = 'recall'
		AND h.id > sessions.id AND (sessions.ended_id IS NULL OR h.id < sessions.ended_id));

-- park_sessions: one row per park session. Stable: columns are only ever
-- added. outcome and ended_at are NULL while the call is still parked;
-- wait_ms is the time from parked to the end; note is the latest note.
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

-- park_notes: every note, in the order written. Stable.
CREATE VIEW park_notes AS
SELECT id, at, call_uuid AS call, lot, slot, caller_number, caller_name, parker, text AS note
FROM notes;
