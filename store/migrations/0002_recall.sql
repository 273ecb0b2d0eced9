-- 0002_recall: what recall on timeout needs to survive a restart: the
-- parker's SIP domain (for the dial string's {domain}; '' when unknown) and
-- how many recalls were placed for the call so far. Rows parked before this
-- migration get '' and 0. Shipped: never edit this file, add 0003_*.sql.

ALTER TABLE occupancy ADD COLUMN parker_domain TEXT NOT NULL DEFAULT '';
ALTER TABLE occupancy ADD COLUMN recall_attempts INTEGER NOT NULL DEFAULT 0;
