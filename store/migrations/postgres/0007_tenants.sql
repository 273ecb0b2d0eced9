-- 0007_tenants (PostgreSQL): lots belong to a domain, as
-- ../0007_tenants.sql: the occupancy's key becomes (domain, lot, slot);
-- history, sessions and notes gain the domain; the report's covering
-- index carries it; the documented views gain a domain column at their
-- end. Shipped: never edit this file, add 0008_*.sql.

ALTER TABLE occupancy ADD COLUMN domain TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE occupancy DROP CONSTRAINT occupancy_pkey,
	ADD CONSTRAINT occupancy_pkey PRIMARY KEY (domain, lot, slot);

DROP VIEW park_sessions;
DROP VIEW park_history;
DROP VIEW park_notes;

ALTER TABLE history ADD COLUMN domain TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN domain TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE notes ADD COLUMN domain TEXT COLLATE "C" NOT NULL DEFAULT '';

DROP INDEX sessions_parked_at;
CREATE INDEX sessions_parked_at ON sessions (parked_at) INCLUDE (lot, parker, retriever, outcome, recall_attempts, wait_ms, domain);

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
