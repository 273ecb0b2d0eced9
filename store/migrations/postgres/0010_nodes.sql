-- 0010_nodes (PostgreSQL): lots shared by several FreeSWITCH nodes, one
-- parkd per node, all on this database (issue 17 part 3).
--
-- node: the FreeSWITCH node a call is parked on. A parkd serving a node
-- connects with the run-time setting parkd.node set to the node's name
-- (store.DB.Node), so every row it writes carries its node through these
-- defaults, without the shared statements of both engines naming it; a
-- parkd without nodes writes ''.
--
-- The occupancy's key stays (domain, lot, slot) across nodes: a slot held
-- on one node is refused to every other (store.DB.ClaimSlot claims it
-- before the call is answered).
--
-- hop_tokens: a retrieve dialled on one node for a call parked on another
-- moves the retriever to the call's node over SIP with a random token in
-- a header; the call's parkd consumes the row (once, before expires_at,
-- for that call and that node) before it bridges. Shipped: never edit
-- this file, add 0011_*.sql.

-- Rows from before nodes get '' (added with a constant default first),
-- whichever parkd happens to migrate.
ALTER TABLE occupancy ADD COLUMN node TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE history ADD COLUMN node TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN node TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE occupancy ALTER COLUMN node SET DEFAULT coalesce(current_setting('parkd.node', true), '');
ALTER TABLE history ALTER COLUMN node SET DEFAULT coalesce(current_setting('parkd.node', true), '');
ALTER TABLE sessions ALTER COLUMN node SET DEFAULT coalesce(current_setting('parkd.node', true), '');

CREATE INDEX occupancy_node ON occupancy (node);

CREATE TABLE hop_tokens (
	token      TEXT COLLATE "C" PRIMARY KEY,
	call_uuid  TEXT COLLATE "C" NOT NULL,
	domain     TEXT COLLATE "C" NOT NULL,
	lot        TEXT COLLATE "C" NOT NULL,
	slot       INTEGER NOT NULL,
	to_node    TEXT COLLATE "C" NOT NULL,
	from_node  TEXT COLLATE "C" NOT NULL,
	retriever  TEXT COLLATE "C" NOT NULL,
	expires_at TEXT COLLATE "C" NOT NULL
);

-- node_beats: each node's parkd writes its row every second or so; a node
-- whose row is stale and whose switch cannot be reached is lost, and a
-- surviving parkd records its calls lost (store.DB.LoseNode).
CREATE TABLE node_beats (
	node    TEXT COLLATE "C" PRIMARY KEY,
	seen_at TEXT COLLATE "C" NOT NULL
);
