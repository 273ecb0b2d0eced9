package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
)

// migrationFS holds the schema migrations, numbered from 0001: SQLite's in
// migrations/, PostgreSQL's in migrations/postgres/, with the same numbers
// and names, each making the same tables and views in the engine's
// dialect. Each file is applied once, in its own transaction, and recorded
// in schema_migrations. A file that has shipped is never edited; changes
// go in a new file, in both directories.
//
//go:embed migrations/*.sql migrations/postgres/*.sql
var migrationFS embed.FS

// migrationDir is the directory of d's migrations in migrationFS.
func migrationDir(d Driver) string {
	if d == Postgres {
		return "migrations/postgres"
	}
	return "migrations"
}

// migration is one embedded schema migration.
type migration struct {
	version int    // from the file name's numeric prefix
	name    string // file name, e.g. "0001_init.sql"
	sql     string
}

// loadMigrations returns d's embedded migrations ordered by version.
// Versions must run 1, 2, 3, ... without gaps or duplicates.
func loadMigrations(d Driver) ([]migration, error) {
	names, err := fs.Glob(migrationFS, migrationDir(d)+"/*.sql")
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	// fs.Glob returns names in lexical order, which the zero-padded prefix
	// makes numeric order.
	migs := make([]migration, 0, len(names))
	for i, name := range names {
		base := path.Base(name)
		prefix, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v != i+1 {
			return nil, fmt.Errorf("migration %s: want a name starting %04d_", base, i+1)
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("migration %s: %w", base, err)
		}
		migs = append(migs, migration{version: v, name: base, sql: string(body)})
	}
	if len(migs) == 0 {
		return nil, fmt.Errorf("migrations: none embedded")
	}
	return migs, nil
}

// sqlCreateSchemaMigrations creates the migration ledger. It lives in code,
// not in a migration, because it is how migrations are tracked.
const sqlCreateSchemaMigrations = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    INTEGER PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at TEXT NOT NULL
)`

// migrate applies every migration the database behind w lacks, each in its
// own transaction.
func migrate(ctx context.Context, w *pool, migs []migration) error {
	if _, err := checkApplied(ctx, w, w.eng, migs); err != nil {
		return err
	}
	for _, m := range migs {
		if err := applyMigration(ctx, w, m); err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
	}
	return nil
}

// applyMigration applies m in one transaction unless it is already recorded.
// The check is repeated inside the write transaction, so two processes
// opening the same new database cannot both apply it: SQLite's write lock
// keeps them apart, on PostgreSQL an advisory lock held to the commit.
func applyMigration(ctx context.Context, w *pool, m migration) error {
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	if w.eng.driver == Postgres {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(?, ?)`, lockClass, lockMigrate); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, sqlCreateSchemaMigrations); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, m.version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	// The file as it is: no placeholders to rebind (and PostgreSQL's
	// function bodies are dollar-quoted).
	if _, err := tx.tx.ExecContext(ctx, m.sql); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx,
		`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, `+w.eng.nowText()+`)`,
		m.version, m.name); err != nil {
		return err
	}
	return tx.Commit()
}

// checkApplied reads schema_migrations through q and returns the highest
// applied version (0 if the table is missing or empty). It fails with
// ErrNewerSchema if a version is beyond this binary's migrations, and if a
// recorded name differs from the embedded file of the same version.
func checkApplied(ctx context.Context, q querier, eng *engine, migs []migration) (int, error) {
	tables, err := tableNames(ctx, q, eng)
	if err != nil {
		return 0, err
	}
	if !slices.Contains(tables, "schema_migrations") {
		return 0, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT version, name FROM schema_migrations ORDER BY version`)
	if err != nil {
		return 0, fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	latest := migs[len(migs)-1]
	var version int
	for rows.Next() {
		var v int
		var name string
		if err := rows.Scan(&v, &name); err != nil {
			return 0, fmt.Errorf("read schema_migrations: %w", err)
		}
		if v > latest.version {
			return 0, fmt.Errorf("schema version %d (%s), this parkd knows up to %d: %w; upgrade parkd",
				v, name, latest.version, ErrNewerSchema)
		}
		if v < 1 || migs[v-1].name != name {
			return 0, fmt.Errorf("schema_migrations records version %d as %q, this parkd has %q: %w",
				v, name, migs[max(v, 1)-1].name, ErrForeignDB)
		}
		version = max(version, v)
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read schema_migrations: %w", err)
	}
	return version, nil
}
