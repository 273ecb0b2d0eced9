-- 0007_tenants: lots belong to a domain (a tenant: parking.LotConfig.Domain),
-- and a lot is its name within its domain, so that two domains may each
-- have a lot "main" with slots 701-720. The occupancy, history, sessions
-- and notes record the lot's domain; rows written before this migration,
-- and every row of a single-tenant parkd, have domain ''. Shipped: never
-- edit this file, add 0008_*.sql.
--
-- The occupancy's key becomes (domain, lot, slot): SQLite cannot change a
-- primary key, so the table is rebuilt with every row. History, sessions
-- and notes only gain a column. The covering index of the report gains the
-- domain (same name, so the report's INDEXED BY still holds), and the
-- documented views gain a domain column at their end: their columns are
-- only ever added.

CREATE TABLE occupancy_new (
	domain          TEXT    NOT NULL DEFAULT '',
	lot             TEXT    NOT NULL,
	slot            INTEGER NOT NULL,
	call_uuid       TEXT    NOT NULL UNIQUE,
	caller_number   TEXT    NOT NULL,
	caller_name     TEXT    NOT NULL,
	parker          TEXT    NOT NULL,
	parked_at       TEXT    NOT NULL,
	deadline        TEXT    NOT NULL,
	parker_domain   TEXT    NOT NULL DEFAULT '',
	recall_attempts INTEGER NOT NULL DEFAULT 0,
	dialog          TEXT    NOT NULL DEFAULT '',
	PRIMARY KEY (domain, lot, slot)
);

INSERT INTO occupancy_new (lot, slot, call_uuid, caller_number, caller_name, parker, parked_at, deadline,
	parker_domain, recall_attempts, dialog)
SELECT lot, slot, call_uuid, caller_number, caller_name, parker, parked_at, deadline,
	parker_domain, recall_attempts, dialog FROM occupancy;
DROP TABLE occupancy;
ALTER TABLE occupancy_new RENAME TO occupancy;

DROP VIEW park_sessions;
DROP VIEW park_history;
DROP VIEW park_notes;

ALTER TABLE history ADD COLUMN domain TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN domain TEXT NOT NULL DEFAULT '';
ALTER TABLE notes ADD COLUMN domain TEXT NOT NULL DEFAULT '';

DROP INDEX sessions_parked_at;
CREATE INDEX sessions_parked_at ON sessions (parked_at, lot, parker, retriever, outcome, recall_attempts, wait_ms, domain);

-- park_sessions: one row per park session. Stable: columns are only ever
-- added. outcome and ended_at are NULL while the call is still parked;
-- wait_ms is the time from parked to the end; note is the latest note.
-- outcome 'replaced' is the stay of an attended transfer's consult call,
-- not a parked call: reports leave it out. Outcome 'hungup' (0005): a person
-- hung the call up from the board; retriever names them. domain (0007): the
-- lot's domain, '' for a lot without one.
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
	(SELECT n.text FROM notes n WHERE n.session_id = s.id ORDER BY n.id DESC LIMIT 1) AS note,
	s.domain          AS domain
FROM sessions s;

-- park_history: every transition, in the order recorded. Stable.
CREATE VIEW park_history AS
SELECT id, at, event, lot, slot, call_uuid AS call, caller_number, caller_name, parker, retriever, reason, wait_ms, domain
FROM history;

-- park_notes: every note, in the order written. Stable.
CREATE VIEW park_notes AS
SELECT id, at, call_uuid AS call, lot, slot, caller_number, caller_name, parker, text AS note, domain
FROM notes;
