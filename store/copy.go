package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// ErrNotEmpty: Copy was given a target that already holds rows.
var ErrNotEmpty = errors.New("the target database is not empty")

// copyTable is a table Copy carries over: every column, in the order the
// rows are read and written (by key, so that both sides can be compared
// row by row).
type copyTable struct {
	name  string
	cols  []string
	order string
	// identity: the table's id is generated (PostgreSQL's identity
	// sequence is moved past the copied ids).
	identity bool
}

// copyTables are the tables of a parkd database at the current schema
// version, history first (sessions point into it). schema_migrations is
// not copied: each side records its own; nor is parkd_lease: a lease
// belongs to the database it was taken in.
var copyTables = []copyTable{
	{"history", []string{"id", "at", "lot", "slot", "call_uuid", "caller_number", "caller_name", "parker", "event", "reason", "retriever", "wait_ms", "domain"}, "id", true},
	{"sessions", []string{"id", "call_uuid", "lot", "slot", "caller_number", "caller_name", "parker", "parked_at", "recall_attempts",
		"ended_id", "ended_at", "outcome", "retriever", "wait_ms", "domain"}, "id", false},
	{"notes", []string{"id", "at", "session_id", "call_uuid", "lot", "slot", "caller_number", "caller_name", "parker", "text", "domain"}, "id", true},
	{"occupancy", []string{"domain", "lot", "slot", "call_uuid", "caller_number", "caller_name", "parker", "parked_at", "deadline",
		"parker_domain", "recall_attempts", "dialog"}, "domain, lot, slot", false},
	{"webhook_outbox", []string{"id", "webhook", "history_id", "call_uuid", "payload", "created_at", "attempts", "next_at", "last_error"}, "id", true},
	{"outside_failures", []string{"id", "domain", "lot", "number", "at"}, "id", true},
	{"outside_locks", []string{"id", "domain", "lot", "number", "until"}, "id", true},
}

// CopyOptions says how Copy treats the target.
type CopyOptions struct {
	// Replace deletes every row the target holds before copying; without
	// it Copy refuses a target with rows (ErrNotEmpty).
	Replace bool
}

// TableCopy says what Copy did to one table, and what Compare found.
type TableCopy struct {
	Table string
	Rows  int64 // rows copied (Copy), or rows in the source (Compare)
	// TargetRows is the rows in the target (Compare).
	TargetRows int64
	// Same: the target's rows equal the source's, value for value, in
	// key order (Compare).
	Same bool
}

// CopyResult is what Copy did.
type CopyResult struct {
	Tables []TableCopy
	// Changed counts the text values PostgreSQL could not hold as they
	// were (a NUL byte, bytes that are not UTF-8) and that were stored
	// with U+FFFD in their place.
	Changed int64
	Elapsed time.Duration
}

// Copy copies every row of every table of from into to, ids included, in
// one transaction of to, so that to holds the same history, sessions,
// notes, occupancy, webhook deliveries and outside lockouts as from. Both
// must be open (to writable) and at this parkd's schema version: open the
// source read-only and the target with Open, which migrates it. The
// target must hold no rows unless o.Replace, which deletes them first in
// the same transaction.
//
// It is how `parkd migrate` moves a site from SQLite to PostgreSQL (or
// back). Compare checks the result.
func Copy(ctx context.Context, from, to *DB, o CopyOptions) (CopyResult, error) {
	start := time.Now()
	if from.r == nil {
		return CopyResult{}, fmt.Errorf("copy: source: %w", errNotOpen)
	}
	if err := to.writable(); err != nil {
		return CopyResult{}, fmt.Errorf("copy: target: %w", err)
	}
	if err := sameVersion(ctx, from, to); err != nil {
		return CopyResult{}, err
	}
	if !o.Replace {
		for _, t := range copyTables {
			var n int64
			if err := to.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+t.name).Scan(&n); err != nil {
				return CopyResult{}, fmt.Errorf("copy: count %s: %w", t.name, err)
			}
			if n > 0 {
				return CopyResult{}, fmt.Errorf("copy: %s holds %d rows in %s: %w (copy with replace to delete them first)",
					to.Path, n, t.name, ErrNotEmpty)
			}
		}
	}
	snap, err := from.snapshot(ctx)
	if err != nil {
		return CopyResult{}, fmt.Errorf("copy: %s: %w", from.Path, err)
	}
	defer snap.Rollback()
	var res CopyResult
	if to.Driver == Postgres {
		err = copyIntoPostgres(ctx, snap, to, o, &res)
	} else {
		err = copyIntoSQLite(ctx, snap, to, o, &res)
	}
	if err != nil {
		return CopyResult{}, to.damagedErr(err)
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// damagedErr is damaged for a returned error.
func (db *DB) damagedErr(err error) error {
	db.damaged(&err)
	return err
}

// sameVersion checks that from and to are at this parkd's schema version.
func sameVersion(ctx context.Context, dbs ...*DB) error {
	for _, db := range dbs {
		migs, err := loadMigrations(db.eng.driver)
		if err != nil {
			return err
		}
		v, err := checkApplied(ctx, db.r, db.eng, migs)
		if err != nil {
			return fmt.Errorf("copy: %s: %w", db.Path, err)
		}
		if latest := migs[len(migs)-1].version; v != latest {
			return fmt.Errorf("copy: %s has schema version %d, this parkd needs %d: %w; run parkd serve on it once",
				db.Path, v, latest, ErrOlderSchema)
		}
	}
	return nil
}

// selectAll reads every row of t through q, in key order.
func selectAll(ctx context.Context, q querier, t copyTable) (*sql.Rows, error) {
	return q.QueryContext(ctx, `SELECT `+strings.Join(t.cols, ", ")+` FROM `+t.name+` ORDER BY `+t.order)
}

// snapshot begins a read-only transaction on db's readers that sees every
// table as it was at one moment, whatever is written meanwhile: Copy and
// Compare read a database a daemon may still be writing. Roll it back
// when done.
func (db *DB) snapshot(ctx context.Context) (*txn, error) {
	opts := &sql.TxOptions{ReadOnly: true}
	if db.Driver == Postgres {
		opts.Isolation = sql.LevelRepeatableRead
	}
	// SQLite: a read transaction of a WAL database keeps the snapshot of
	// its first read.
	return db.r.BeginTx(ctx, opts)
}

// rowSource hands a table's rows to pgx's COPY, one at a time, made fit
// for PostgreSQL's text.
type rowSource struct {
	rows    *sql.Rows
	vals    []any
	ptrs    []any
	n       int64
	changed *int64
	err     error
}

func newRowSource(rows *sql.Rows, ncol int, changed *int64) *rowSource {
	s := &rowSource{rows: rows, vals: make([]any, ncol), ptrs: make([]any, ncol), changed: changed}
	for i := range s.vals {
		s.ptrs[i] = &s.vals[i]
	}
	return s
}

func (s *rowSource) Next() bool {
	if !s.rows.Next() {
		return false
	}
	if s.err = s.rows.Scan(s.ptrs...); s.err != nil {
		return false
	}
	for i, v := range s.vals {
		v = normValue(v)
		if str, ok := v.(string); ok {
			if safe := postgresText(str); safe != str {
				*s.changed++
				v = safe
			}
		}
		s.vals[i] = v
	}
	s.n++
	return true
}

func (s *rowSource) Values() ([]any, error) { return s.vals, s.err }

func (s *rowSource) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.rows.Err()
}

// normValue makes a scanned value comparable across drivers: text as a
// string, integers as int64.
func normValue(v any) any {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case int32:
		return int64(v)
	case int:
		return int64(v)
	}
	return v
}

// copyIntoPostgres copies with PostgreSQL's COPY, in one transaction on
// the target's writer connection.
func copyIntoPostgres(ctx context.Context, from querier, to *DB, o CopyOptions, res *CopyResult) error {
	conn, err := to.w.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer conn.Close()
	return conn.Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return fmt.Errorf("copy: begin: %w", err)
		}
		defer tx.Rollback(ctx)
		if o.Replace {
			if _, err := tx.Exec(ctx, sqlAllowHistoryDelete); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
			for i := len(copyTables) - 1; i >= 0; i-- {
				if _, err := tx.Exec(ctx, `DELETE FROM `+copyTables[i].name); err != nil {
					return fmt.Errorf("copy: empty %s: %w", copyTables[i].name, err)
				}
			}
			if _, err := tx.Exec(ctx, sqlGuardHistoryDelete); err != nil {
				return fmt.Errorf("copy: %w", err)
			}
		}
		for _, t := range copyTables {
			rows, err := selectAll(ctx, from, t)
			if err != nil {
				return fmt.Errorf("copy: read %s: %w", t.name, err)
			}
			src := newRowSource(rows, len(t.cols), &res.Changed)
			n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.cols, src)
			rows.Close()
			if err == nil {
				err = src.Err()
			}
			if err != nil {
				return fmt.Errorf("copy: %s: %w", t.name, err)
			}
			if t.identity {
				// The next id the table generates follows the copied ones.
				if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence('`+t.name+`', 'id'),
					coalesce((SELECT max(id) FROM `+t.name+`), 0) + 1, false)`); err != nil {
					return fmt.Errorf("copy: %s: identity: %w", t.name, err)
				}
			}
			res.Tables = append(res.Tables, TableCopy{Table: t.name, Rows: n})
		}
		if err := tx.Commit(ctx); err != nil {
			return fmt.Errorf("copy: commit: %w", err)
		}
		// Fresh statistics and a visibility map, so that the report's
		// index-only scans start at once rather than after autovacuum.
		for _, t := range copyTables {
			if _, err := pc.Exec(ctx, `VACUUM (ANALYZE) `+t.name); err != nil {
				return fmt.Errorf("copy: vacuum %s: %w", t.name, err)
			}
		}
		return nil
	})
}

// copyIntoSQLite copies with multi-row INSERTs in one write transaction.
func copyIntoSQLite(ctx context.Context, from querier, to *DB, o CopyOptions, res *CopyResult) error {
	tx, err := to.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("copy: begin: %w", err)
	}
	defer tx.Rollback()
	if o.Replace {
		if _, err := tx.ExecContext(ctx, sqlDropHistoryNoDelete); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
		for i := len(copyTables) - 1; i >= 0; i-- {
			if _, err := tx.ExecContext(ctx, `DELETE FROM `+copyTables[i].name); err != nil {
				return fmt.Errorf("copy: empty %s: %w", copyTables[i].name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, sqlCreateHistoryNoDelete); err != nil {
			return fmt.Errorf("copy: %w", err)
		}
	}
	const batch = 256
	for _, t := range copyTables {
		rows, err := selectAll(ctx, from, t)
		if err != nil {
			return fmt.Errorf("copy: read %s: %w", t.name, err)
		}
		one := "(" + strings.TrimSuffix(strings.Repeat("?, ", len(t.cols)), ", ") + ")"
		insert := func(n int) string {
			return "INSERT INTO " + t.name + " (" + strings.Join(t.cols, ", ") + ") VALUES " + strings.TrimSuffix(strings.Repeat(one+", ", n), ", ")
		}
		src := newRowSource(rows, len(t.cols), new(int64)) // SQLite holds any text
		var args []any
		flush := func() error {
			if len(args) == 0 {
				return nil
			}
			_, err := tx.ExecContext(ctx, insert(len(args)/len(t.cols)), args...)
			args = args[:0]
			return err
		}
		for src.Next() {
			vals, _ := src.Values()
			args = append(args, vals...)
			if len(args) >= batch*len(t.cols) {
				if err := flush(); err != nil {
					rows.Close()
					return fmt.Errorf("copy: %s: %w", t.name, err)
				}
			}
		}
		rows.Close()
		if err := src.Err(); err != nil {
			return fmt.Errorf("copy: read %s: %w", t.name, err)
		}
		if err := flush(); err != nil {
			return fmt.Errorf("copy: %s: %w", t.name, err)
		}
		res.Tables = append(res.Tables, TableCopy{Table: t.name, Rows: src.n})
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("copy: commit: %w", err)
	}
	return nil
}

// Compare reads every table of a and b and reports, per table, the rows
// in each and whether they are the same, value for value, in key order
// (a's text as PostgreSQL would hold it when b is PostgreSQL). It is
// Copy's proof: a copy without loss compares Same on every table.
func Compare(ctx context.Context, a, b *DB) ([]TableCopy, error) {
	var snaps [2]*txn
	for i, db := range []*DB{a, b} {
		if db.r == nil {
			return nil, fmt.Errorf("compare: %w", errNotOpen)
		}
		var err error
		if snaps[i], err = db.snapshot(ctx); err != nil {
			return nil, fmt.Errorf("compare: %s: %w", db.Path, err)
		}
		defer snaps[i].Rollback()
	}
	var out []TableCopy
	for _, t := range copyTables {
		ha, na, err := tableDigest(ctx, snaps[0], t, b.Driver == Postgres)
		if err != nil {
			return nil, fmt.Errorf("compare: %s: %s: %w", a.Path, t.name, err)
		}
		hb, nb, err := tableDigest(ctx, snaps[1], t, false)
		if err != nil {
			return nil, fmt.Errorf("compare: %s: %s: %w", b.Path, t.name, err)
		}
		out = append(out, TableCopy{Table: t.name, Rows: na, TargetRows: nb, Same: na == nb && ha == hb})
	}
	return out, nil
}

// tableDigest hashes every row of t, read through q, in key order, each value tagged
// with its kind, and counts them. With pgText, text is hashed as
// PostgreSQL would hold it.
func tableDigest(ctx context.Context, q querier, t copyTable, pgText bool) ([32]byte, int64, error) {
	rows, err := selectAll(ctx, q, t)
	if err != nil {
		return [32]byte{}, 0, err
	}
	defer rows.Close()
	h := sha256.New()
	src := newRowSource(rows, len(t.cols), new(int64))
	var buf []byte
	for rows.Next() {
		if err := rows.Scan(src.ptrs...); err != nil {
			return [32]byte{}, 0, err
		}
		src.n++
		buf = buf[:0]
		for _, v := range src.vals {
			switch v := normValue(v).(type) {
			case nil:
				buf = append(buf, 'N')
			case int64:
				buf = strconv.AppendInt(append(buf, 'I'), v, 10)
			case string:
				if pgText {
					v = postgresText(v)
				}
				buf = binary.AppendUvarint(append(buf, 'S'), uint64(len(v)))
				buf = append(buf, v...)
			default:
				return [32]byte{}, 0, fmt.Errorf("unexpected value %T", v)
			}
		}
		h.Write(buf)
	}
	if err := rows.Err(); err != nil {
		return [32]byte{}, 0, err
	}
	var sum [32]byte
	copy(sum[:], h.Sum(nil))
	return sum, src.n, nil
}

// CompareReports makes q's report on a and on b and reports whether they
// give the same figures: groups, total and outside pick-up. When b is
// PostgreSQL, a's group names are taken as PostgreSQL stores them (a copy
// replaced what it could not hold).
func CompareReports(ctx context.Context, a, b *DB, q ReportQuery) (ra, rb Report, same bool, err error) {
	if ra, err = a.Report(ctx, q); err != nil {
		return Report{}, Report{}, false, err
	}
	if rb, err = b.Report(ctx, q); err != nil {
		return Report{}, Report{}, false, err
	}
	groups := slices.Clone(ra.Groups)
	if b.Driver == Postgres {
		// Names that PostgreSQL changed may now sort elsewhere, or two
		// may have become one: regroup them as b would.
		byName := map[string]*groupAcc{}
		for _, g := range groups {
			k := postgresText(g.Group)
			if acc := byName[k]; acc != nil {
				acc.r = addRows(acc.r, g)
			} else {
				byName[k] = &groupAcc{r: g}
			}
			byName[k].r.Group = k
		}
		groups = groups[:0]
		for _, acc := range byName {
			groups = append(groups, acc.r)
		}
		slices.SortFunc(groups, func(x, y ReportRow) int { return strings.Compare(x.Group, y.Group) })
	}
	same = slices.Equal(groups, rb.Groups) && ra.Total == rb.Total && slices.Equal(ra.Outside, rb.Outside)
	return ra, rb, same, nil
}

// addRows adds b's counts to a's. Percentiles cannot be added: a group two
// names fell into compares unequal on them unless they agree.
func addRows(a, b ReportRow) ReportRow {
	a.Parked += b.Parked
	a.Retrieved += b.Retrieved
	a.Recalled += b.Recalled
	a.Fallback += b.Fallback
	a.Abandoned += b.Abandoned
	a.Lost += b.Lost
	a.Open += b.Open
	a.BeforeRecall += b.BeforeRecall
	a.RecallAttempts += b.RecallAttempts
	return a
}
