-- 0009_lease (SQLite): the standby lease exists on PostgreSQL only (see
-- postgres/0009_lease.sql): a SQLite file has one parkd, which its lock
-- file guarantees. The table is made here too, empty and unused, so that
-- both engines keep the same migration numbers and the same tables.
-- Shipped: never edit this file, add 0010_*.sql.

CREATE TABLE parkd_lease (
	name        TEXT PRIMARY KEY,
	holder      TEXT NOT NULL,
	generation  INTEGER NOT NULL UNIQUE,
	deadline    TEXT NOT NULL,
	acquired_at TEXT NOT NULL
);
