package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/parkd/parkd/internal/lease"
)

// A standby parkd takes over from an active one through a lease in
// PostgreSQL (migrations/postgres/0009_lease.sql): a row per lease name
// with its holder, a generation and a deadline on the database's clock.
// The active renews it; a standby takes it once its deadline has passed,
// with a new generation. Every write transaction of a DB whose Fence is
// set calls parkd_fence(Fence) first, so once another parkd has the lease
// (or the lease has lapsed), the old holder's writes are refused by the
// database itself with ErrFenced, whatever that parkd believes.

// ErrFenced: the database refused a write because the lease generation
// the DB carries (DB.Fence) is no longer the current, unexpired one.
var ErrFenced = errors.New("the lease this parkd held has lapsed or been taken over")

// DefaultFenceIdle is DB.FenceIdle when it is not set: the lease
// elector's default ttl (ha.ttl's default).
const DefaultFenceIdle = lease.DefaultTTL

// fencedCode is the SQLSTATE parkd_fence raises.
const fencedCode = "PKF01"

// sqlFence is the first statement of every fenced write transaction.
const sqlFence = `SELECT parkd_fence($1)`

// isFenced reports whether err is parkd_fence's refusal.
func isFenced(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == fencedCode
}

// fenceError turns parkd_fence's refusal into ErrFenced, keeping the
// database's message.
func fenceError(err error) error {
	if isFenced(err) {
		var pe *pgconn.PgError
		errors.As(err, &pe)
		return fmt.Errorf("%w: %s", ErrFenced, pe.Message)
	}
	return err
}

// Lease is a PostgreSQL lease named Name that Holder campaigns for, on a
// connection of its own: it must answer while the writer is busy, and its
// statements are bounded by the caller's context.
type Lease struct {
	Name   string // the lease: one active parkd per name
	Holder string // who asks, for the row and the logs
	db     *DB    // its pools: the writer is the lease's connection
}

// OpenLease connects to the PostgreSQL database dsn names for the lease
// name, on behalf of holder, applying any migrations the database lacks
// (a standby on a new database must find the lease table). node is the
// [[node]] the pair serves, "" for a site without nodes: it chooses the
// daemon lock the pair shares (see below). It does not take the lease.
// Close it when done.
func OpenLease(ctx context.Context, dsn, node, name, holder string) (*Lease, error) {
	if name == "" || holder == "" {
		return nil, fmt.Errorf("store: lease: %w: empty lease name or holder", ErrInvalid)
	}
	db := NewPostgres(dsn)
	db.MaxReadConns = 1
	db.eng = newEngine(Postgres)
	cfg, err := db.pgConfig()
	if err != nil {
		return nil, err
	}
	migs, err := loadMigrations(Postgres)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	c := sql.OpenDB(stdlib.GetConnector(*cfg))
	c.SetMaxOpenConns(1)
	c.SetMaxIdleConns(1)
	db.w = &pool{db: c, eng: db.eng}
	db.r = db.w // pgVersion reads through r
	fail := func(step string, err error) (*Lease, error) {
		c.Close()
		return nil, db.pgError(step, err)
	}
	if err := c.PingContext(ctx); err != nil {
		return fail("lease: connect", err)
	}
	if _, err := db.pgVersion(ctx, migs); err != nil {
		c.Close()
		return nil, err
	}
	if err := migrate(ctx, db.w, migs); err != nil {
		return fail("lease: migrate", err)
	}
	// A lone parkd (no [ha]) holds the daemon lock exclusively
	// (LockDaemon); the parkd of a pair hold it shared, on the lease's
	// connection, so that neither kind starts beside the other. Shared,
	// a dead peer's lock, which PostgreSQL may keep until it notices the
	// connection is gone, never keeps the standby out. With nodes the
	// lock is the node's (daemonLockID): a pair of node a and a lone
	// parkd of node b share the database, a lone parkd and a pair of one
	// node do not.
	var got bool
	if err := c.QueryRowContext(ctx, `SELECT pg_try_advisory_lock_shared($1, $2)`, lockClass, daemonLockID(node)).Scan(&got); err != nil {
		return fail("lease: lock", err)
	}
	if !got {
		c.Close()
		if node != "" {
			return nil, fmt.Errorf("%w: node %s of %s is served by a parkd without [ha] enabled", ErrLocked, node, db.Path)
		}
		return nil, fmt.Errorf("%w: %s is served by a parkd without [ha] enabled", ErrLocked, db.Path)
	}
	return &Lease{Name: name, Holder: holder, db: db}, nil
}

// Close closes the lease's connection. It does not release the lease.
func (l *Lease) Close() error {
	if l == nil || l.db.w == nil {
		return nil
	}
	err := l.db.w.Close()
	l.db.w, l.db.r = nil, nil
	return err
}

// interval renders d for PostgreSQL's interval type.
func interval(d time.Duration) string { return fmt.Sprintf("%d milliseconds", d.Milliseconds()) }

// Acquire takes the lease for ttl if nobody holds it or its deadline has
// passed, and returns the new generation; ok is false (and gen 0) if
// another holder's lease is still running, and left is how long it has to
// run.
func (l *Lease) Acquire(ctx context.Context, ttl time.Duration) (gen int64, left time.Duration, ok bool, err error) {
	err = l.db.w.db.QueryRowContext(ctx, `INSERT INTO parkd_lease AS l (name, holder, generation, deadline, acquired_at)
		VALUES ($1, $2, nextval('parkd_lease_generation'), clock_timestamp() + $3::interval, clock_timestamp())
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, generation = EXCLUDED.generation,
			deadline = EXCLUDED.deadline, acquired_at = EXCLUDED.acquired_at
		WHERE l.deadline <= clock_timestamp()
		RETURNING generation`, l.Name, l.Holder, interval(ttl)).Scan(&gen)
	if errors.Is(err, sql.ErrNoRows) {
		h, _, err := l.Current(ctx)
		if err != nil {
			return 0, 0, false, err
		}
		return 0, h.Left, false, nil
	}
	if err != nil {
		return 0, 0, false, l.db.pgError("lease: acquire", err)
	}
	return gen, 0, true, nil
}

// Renew pushes the deadline of generation gen to ttl from now; ok is
// false if gen is no longer the lease's (taken over) or has expired.
func (l *Lease) Renew(ctx context.Context, gen int64, ttl time.Duration) (ok bool, err error) {
	res, err := l.db.w.db.ExecContext(ctx, `UPDATE parkd_lease SET deadline = clock_timestamp() + $3::interval
		WHERE name = $1 AND generation = $2 AND deadline > clock_timestamp()`, l.Name, gen, interval(ttl))
	if err != nil {
		return false, l.db.pgError("lease: renew", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, l.db.pgError("lease: renew", err)
	}
	return n == 1, nil
}

// Release ends generation gen's lease now, so that a standby takes it at
// once rather than when it would have lapsed. Releasing a lease that is
// no longer gen's does nothing.
func (l *Lease) Release(ctx context.Context, gen int64) error {
	_, err := l.db.w.db.ExecContext(ctx, `UPDATE parkd_lease SET deadline = clock_timestamp()
		WHERE name = $1 AND generation = $2 AND deadline > clock_timestamp()`, l.Name, gen)
	if err != nil {
		return l.db.pgError("lease: release", err)
	}
	return nil
}

// LeaseHolder is who holds a lease, as the database sees it now.
type LeaseHolder struct {
	Holder     string
	Generation int64
	// Left is how long until its deadline; 0 or less: lapsed.
	Left time.Duration
}

// Current says who holds the lease; ok is false if nobody ever took it.
func (l *Lease) Current(ctx context.Context) (h LeaseHolder, ok bool, err error) {
	var ms float64
	err = l.db.w.db.QueryRowContext(ctx, `SELECT holder, generation, EXTRACT(EPOCH FROM deadline - clock_timestamp()) * 1000
		FROM parkd_lease WHERE name = $1`, l.Name).Scan(&h.Holder, &h.Generation, &ms)
	if errors.Is(err, sql.ErrNoRows) {
		return h, false, nil
	}
	if err != nil {
		return h, false, l.db.pgError("lease: read", err)
	}
	h.Left = time.Duration(ms * float64(time.Millisecond))
	return h, true, nil
}

// fencedExec runs one statement in a transaction that proves the fence
// first.
func (p *pool) fencedExec(ctx context.Context, q string, args ...any) (sql.Result, error) {
	tx, err := p.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return res, nil
}
