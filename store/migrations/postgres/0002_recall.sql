-- 0002_recall (PostgreSQL): as ../0002_recall.sql. Shipped: never edit
-- this file, add 0003_*.sql.

ALTER TABLE occupancy ADD COLUMN parker_domain TEXT COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE occupancy ADD COLUMN recall_attempts INTEGER NOT NULL DEFAULT 0;
