package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/mattn/go-sqlite3"

	"github.com/parkd/parkd/parking"
)

// Driver names the database engine a DB keeps its tables in.
type Driver string

// The engines the store knows.
const (
	// SQLite: one file, written by one parkd (the default).
	SQLite Driver = "sqlite"
	// Postgres: a PostgreSQL database, through pgx.
	Postgres Driver = "postgres"
)

// Valid reports whether d is a known driver.
func (d Driver) Valid() bool { return d == SQLite || d == Postgres }

// engine is what differs between the store's engines. The store's queries
// are written once, in SQLite's dialect with ? and ?NNN placeholders;
// pool and txn rebind them for the engine, and the few statements that
// cannot be shared (upserts, JSON, the history's guard, identity columns)
// come from here.
type engine struct {
	driver Driver
	// rebound caches each query's text with its placeholders rebound:
	// the queries are constants, so the map stays small.
	rebound sync.Map // string → string
}

func newEngine(d Driver) *engine { return &engine{driver: d} }

// rebind returns q for the engine: unchanged for SQLite, with $n
// placeholders for PostgreSQL.
func (e *engine) rebind(q string) string {
	if e.driver != Postgres {
		return q
	}
	if r, ok := e.rebound.Load(q); ok {
		return r.(string)
	}
	r := rebindDollar(q)
	e.rebound.Store(q, r)
	return r
}

// rebindDollar rewrites SQLite's placeholders in q as PostgreSQL's: ?NNN
// becomes $NNN, and a bare ? the next number after the largest used so
// far (as SQLite numbers them). String literals, quoted identifiers and
// comments are copied as they are.
func rebindDollar(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 8)
	last := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'' || c == '"':
			j := i + 1
			for ; j < len(q); j++ {
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // a doubled quote
						j++
						continue
					}
					break
				}
			}
			end := min(j+1, len(q))
			b.WriteString(q[i:end])
			i = end - 1
		case c == '-' && i+1 < len(q) && q[i+1] == '-':
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				end = len(q) - i
			}
			b.WriteString(q[i : i+end])
			i += end - 1
		case c == '/' && i+1 < len(q) && q[i+1] == '*':
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				end = len(q) - i
			} else {
				end += 4
			}
			b.WriteString(q[i : i+end])
			i += end - 1
		case c == '?':
			j := i + 1
			for j < len(q) && q[j] >= '0' && q[j] <= '9' {
				j++
			}
			n := last + 1
			if j > i+1 {
				n, _ = strconv.Atoi(q[i+1 : j])
			}
			last = max(last, n)
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			i = j - 1
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// text returns s as the engine can store it: SQLite keeps any bytes;
// PostgreSQL's text holds neither NUL nor bytes that are not UTF-8, so
// those become U+FFFD there (see postgresText).
func (e *engine) text(s string) string {
	if e.driver == Postgres {
		return postgresText(s)
	}
	return s
}

// postgresText is s with each NUL byte and each run of bytes that are not
// UTF-8 replaced by U+FFFD. Caller names and numbers come from SIP and
// may hold anything; a history row that PostgreSQL refused would be lost.
func postgresText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// fit returns t with every text as the engine can store it, leaving t
// (and its occupancy) as it was.
func (e *engine) fit(t parking.Transition) parking.Transition {
	if e.driver != Postgres {
		return t
	}
	for _, p := range []*string{&t.Lot, &t.Domain, &t.Caller.Number, &t.Caller.Name, &t.Parker, &t.Retriever, &t.Reason} {
		*p = postgresText(*p)
	}
	t.Call = parking.CallID(postgresText(string(t.Call)))
	if t.Occupancy != nil {
		o := *t.Occupancy
		for _, p := range []*string{&o.Lot, &o.Domain, &o.Caller.Number, &o.Caller.Name, &o.Parker, &o.ParkerDomain, &o.Dialog} {
			*p = postgresText(*p)
		}
		o.Call = parking.CallID(postgresText(string(o.Call)))
		t.Occupancy = &o
	}
	return t
}

// isUnique reports whether err is a unique or primary key violation.
func (e *engine) isUnique(err error) bool {
	if err == nil {
		return false
	}
	if e.driver == Postgres {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == "23505" // unique_violation
	}
	var se sqlite3.Error
	if !errors.As(err, &se) {
		return false
	}
	return se.ExtendedCode == sqlite3.ErrConstraintPrimaryKey || se.ExtendedCode == sqlite3.ErrConstraintUnique
}

// tablesQuery lists the user tables and views of the store's schema.
func (e *engine) tablesQuery() string {
	if e.driver == Postgres {
		// The schema the DSN's search_path puts first: parkd's tables
		// live there.
		return `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() ORDER BY table_name`
	}
	return `SELECT name FROM sqlite_master WHERE type IN ('table', 'view') AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY name`
}

// nowText is an expression for the current time in the stored format.
func (e *engine) nowText() string {
	if e.driver == Postgres {
		return `to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`
	}
	return `strftime('%Y-%m-%dT%H:%M:%fZ', 'now')`
}

// likeCaseless is the operator that matches a LIKE pattern ignoring ASCII
// case: SQLite's LIKE does, PostgreSQL's does not.
func (e *engine) likeCaseless() string {
	if e.driver == Postgres {
		return "ILIKE"
	}
	return "LIKE"
}

// domainIn is the condition that domain is in the JSON array of strings
// bound to the placeholder p.
func (e *engine) domainIn(p string) string {
	if e.driver == Postgres {
		return "domain IN (SELECT json_array_elements_text(" + p + "::json))"
	}
	return "domain IN (SELECT value FROM json_each(" + p + "))"
}

// domainsOrAll is domainIn, or true when p is bound to NULL.
func (e *engine) domainsOrAll(p string) string {
	if e.driver == Postgres {
		return "(" + p + "::text IS NULL OR " + e.domainIn(p) + ")"
	}
	return "(" + p + " IS NULL OR " + e.domainIn(p) + ")"
}

// forShare ends a SELECT of rows a transaction must see unchanged until
// it commits. SQLite's writer holds the whole database already.
func (e *engine) forShare() string {
	if e.driver == Postgres {
		return " FOR SHARE"
	}
	return ""
}

// insertID runs the INSERT q with args in tx and returns the new row's
// id: SQLite reports it, PostgreSQL returns it.
func (e *engine) insertID(ctx context.Context, tx *txn, q string, args ...any) (int64, error) {
	if e.driver == Postgres {
		var id int64
		err := tx.QueryRowContext(ctx, q+" RETURNING id", args...).Scan(&id)
		return id, err
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// stmtInsertID is insertID for a statement prepared from returning(q).
func (e *engine) stmtInsertID(ctx context.Context, st *sql.Stmt, args ...any) (int64, error) {
	if e.driver == Postgres {
		var id int64
		err := st.QueryRowContext(ctx, args...).Scan(&id)
		return id, err
	}
	res, err := st.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// returning is the INSERT q as stmtInsertID runs it.
func (e *engine) returning(q string) string {
	if e != nil && e.driver == Postgres {
		return q + " RETURNING id"
	}
	return q
}

// pool is a database/sql pool that speaks the store's queries in its
// engine's dialect. It has the methods the store uses, each rebinding its
// query; the *sql.DB underneath is not reachable from outside the type,
// so no query skips the rebinding.
type pool struct {
	db  *sql.DB
	eng *engine
	// fence, if not 0, is the lease generation every write transaction
	// of this pool (the writer) proves first (lease_postgres.go).
	fence int64
}

func (p *pool) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if p.fence != 0 {
		return p.fencedExec(ctx, q, args...)
	}
	return p.db.ExecContext(ctx, p.eng.rebind(q), args...)
}

func (p *pool) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return p.db.QueryContext(ctx, p.eng.rebind(q), args...)
}

func (p *pool) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return p.db.QueryRowContext(ctx, p.eng.rebind(q), args...)
}

func (p *pool) PrepareContext(ctx context.Context, q string) (*sql.Stmt, error) {
	return p.db.PrepareContext(ctx, p.eng.rebind(q))
}

func (p *pool) PingContext(ctx context.Context) error { return p.db.PingContext(ctx) }

func (p *pool) BeginTx(ctx context.Context, opts *sql.TxOptions) (*txn, error) {
	tx, err := p.db.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	if p.fence != 0 {
		if _, err := tx.ExecContext(ctx, sqlFence, p.fence); err != nil {
			tx.Rollback()
			return nil, fenceError(err)
		}
	}
	return &txn{tx: tx, eng: p.eng}, nil
}

func (p *pool) Close() error { return p.db.Close() }

// txn is a transaction of a pool, rebinding as the pool does.
type txn struct {
	tx  *sql.Tx
	eng *engine
	// node, if set, is the node the rows written in it are of, when not
	// the DB's (LoseNode writes a lost node's rows).
	node string
}

func (t *txn) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.tx.ExecContext(ctx, t.eng.rebind(q), args...)
}

func (t *txn) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.tx.QueryContext(ctx, t.eng.rebind(q), args...)
}

func (t *txn) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.tx.QueryRowContext(ctx, t.eng.rebind(q), args...)
}

// StmtContext returns st, prepared on the pool, for use in t.
func (t *txn) StmtContext(ctx context.Context, st *sql.Stmt) *sql.Stmt {
	return t.tx.StmtContext(ctx, st)
}

func (t *txn) Commit() error   { return t.tx.Commit() }
func (t *txn) Rollback() error { return t.tx.Rollback() }

// errEngine reports a method that the engine cannot serve.
func errEngine(what string, d Driver) error {
	return fmt.Errorf("store: %s: not available on %s", what, d)
}
