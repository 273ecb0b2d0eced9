-- 0010_nodes: lots shared by several FreeSWITCH nodes (issue 17 part 3).
-- Nodes need PostgreSQL (see postgres/0010_nodes.sql); SQLite gains the
-- same columns, always '' (one switch, one parkd), so that both engines
-- keep the same tables in meaning. Shipped: never edit this file, add
-- 0011_*.sql.

ALTER TABLE occupancy ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE history ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN node TEXT NOT NULL DEFAULT '';

CREATE TABLE hop_tokens (
	token      TEXT PRIMARY KEY,
	call_uuid  TEXT NOT NULL,
	domain     TEXT NOT NULL,
	lot        TEXT NOT NULL,
	slot       INTEGER NOT NULL,
	to_node    TEXT NOT NULL,
	from_node  TEXT NOT NULL,
	retriever  TEXT NOT NULL,
	expires_at TEXT NOT NULL
);

-- node_beats: each node's parkd writes its row every second or so; a node
-- whose row is stale and whose switch cannot be reached is lost, and a
-- surviving parkd records its calls lost (store.DB.LoseNode).
CREATE TABLE node_beats (
	node    TEXT PRIMARY KEY,
	seen_at TEXT NOT NULL
);
