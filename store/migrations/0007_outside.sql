-- 0007_outside: outside pick-up's defence against PIN guessing (issue 15).
-- Every wrong PIN is a row of outside_failures (the calling number, never
-- the digits); a lockout is a row of outside_locks until its end (number ''
-- locks the lot's outside access for every number). Both survive a restart,
-- so restarting parkd resets no count. Rows older than any window or lock
-- are useless and may be deleted (ClearOutside, the retention prune).
-- Shipped: never edit this file, add 0008_*.sql.

CREATE TABLE outside_failures (
	id     INTEGER PRIMARY KEY,
	lot    TEXT NOT NULL,
	number TEXT NOT NULL,
	at     TEXT NOT NULL
);

CREATE INDEX outside_failures_lot_at ON outside_failures (lot, at);
CREATE INDEX outside_failures_lot_number_at ON outside_failures (lot, number, at);

CREATE TABLE outside_locks (
	id     INTEGER PRIMARY KEY,
	lot    TEXT NOT NULL,
	number TEXT NOT NULL, -- '' locks every number
	until  TEXT NOT NULL
);

CREATE INDEX outside_locks_lot_until ON outside_locks (lot, until);
