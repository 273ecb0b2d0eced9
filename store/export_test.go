package store

import (
	"context"
	"database/sql"
	"fmt"
)

// SetQuickCheckMax sets the largest file the CLI's opens run quick_check
// on, until the test ends.
func SetQuickCheckMax(tb interface{ Cleanup(func()) }, n int64) {
	old := quickCheckMax
	quickCheckMax = n
	tb.Cleanup(func() { quickCheckMax = old })
}

// WritePool exposes the writer pool to tests.
func (db *DB) WritePool() *sql.DB { return db.w.db }

// ReadPool exposes the read pool to tests.
func (db *DB) ReadPool() *sql.DB { return db.r.db }

// MigrateTo creates or migrates the database at path with only the first n
// embedded migrations, as an older parkd would have left it, and closes it.
func MigrateTo(path string, n int) error {
	migs, err := loadMigrations(SQLite)
	if err != nil {
		return err
	}
	if n < 1 || n > len(migs) {
		return fmt.Errorf("MigrateTo %d: have migrations 1 to %d", n, len(migs))
	}
	w, err := sql.Open("sqlite3", dsn(path, writeParams+"&_busy_timeout=5000"))
	if err != nil {
		return err
	}
	defer w.Close()
	w.SetMaxOpenConns(1)
	return migrate(context.Background(), &pool{db: w, eng: newEngine(SQLite)}, migs[:n])
}

// WaitPercentiles exposes waitPercentiles to tests.
var WaitPercentiles = waitPercentiles

// SelectNth exposes selectNth to tests.
var SelectNth = selectNth

// ClockGroups exposes clockGroups to tests: the function names the hour or
// day group of stored times at offset seconds east of UTC.
func ClockGroups(by ReportBy, offset int) func(ts string) (string, error) {
	c := &clockGroups{by: by, offset: offset}
	return c.group
}

// ReadJSONArray reads a as Report reads its columns: as strings (null is
// "") or, if ints, as int64s (null is nil).
func ReadJSONArray(a string, ints bool) ([]any, error) {
	arr, err := newJSONArray(a)
	if err != nil {
		return nil, err
	}
	var out []any
	for arr.more() {
		if !ints {
			s, err := arr.str()
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			continue
		}
		n, ok, err := arr.int()
		switch {
		case err != nil:
			return nil, err
		case ok:
			out = append(out, n)
		default:
			out = append(out, nil)
		}
	}
	return out, nil
}

// Rebind returns q, written with SQLite's placeholders, in db's dialect.
func (db *DB) Rebind(q string) string { return db.eng.rebind(q) }

// PostgresText exposes postgresText to tests: s as PostgreSQL stores it.
var PostgresText = postgresText
