-- 0009_lease (PostgreSQL): the lease an active parkd holds so that a
-- standby parkd can take over, and the fence every write of the active
-- passes (see ../../lease_postgres.go). Shipped: never edit this file, add
-- 0010_*.sql.
--
-- One row per lease name. generation comes from a sequence, so it is
-- unique across names and never reused: a parkd that takes a lease gets a
-- new one, and a parkd holding an older one is refused by parkd_fence.
-- Deadlines are the database server's clock, the one clock every parkd
-- shares.

CREATE SEQUENCE parkd_lease_generation;

CREATE TABLE parkd_lease (
	name        TEXT COLLATE "C" PRIMARY KEY,
	holder      TEXT COLLATE "C" NOT NULL,
	generation  BIGINT NOT NULL UNIQUE,
	deadline    TIMESTAMPTZ NOT NULL,
	acquired_at TIMESTAMPTZ NOT NULL
);

-- parkd_fence raises (SQLSTATE PKF01) unless gen is a lease's current,
-- unexpired generation. A write transaction calls it first: the row lock
-- it takes (FOR KEY SHARE) makes a takeover, which changes generation (a
-- unique column, so a key), wait for the transaction to end, so no write
-- of the old holder commits after the new holder has the lease. A renewal
-- changes only deadline, which that lock lets through: the holder's own
-- long transaction (a prune) never holds up its renewals.
CREATE FUNCTION parkd_fence(gen BIGINT) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
	until TIMESTAMPTZ;
BEGIN
	SELECT deadline INTO until FROM parkd_lease WHERE generation = gen FOR KEY SHARE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'parkd lease generation % is not the current one: another parkd took over', gen
			USING ERRCODE = 'PKF01';
	END IF;
	IF until <= clock_timestamp() THEN
		RAISE EXCEPTION 'parkd lease generation % expired at %', gen, until
			USING ERRCODE = 'PKF01';
	END IF;
END
$$;
