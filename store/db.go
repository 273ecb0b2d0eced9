// Package store persists parkd's state in SQLite (the default: one file)
// or in PostgreSQL (see postgres.go): the current occupancy of every slot
// and an append-only history of every transition. DB implements
// parking.Store and answers the history queries the CLI and reports need,
// with the same tables, views and figures on both engines.
//
// Times are stored as UTC text in the fixed-width form
// 2006-01-02T15:04:05.000Z (so they sort as text) and durations as integer
// milliseconds. The store never reads the clock: every time it writes comes
// from the caller.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/parkd/parkd/parking"
)

// Errors returned by Open, OpenReadOnly and the DB methods. Compare them with
// errors.Is.
var (
	// ErrForeignDB: the file exists but is not a parkd database (another
	// program's SQLite database, or not SQLite at all). It is left untouched.
	ErrForeignDB = errors.New("not a parkd database")
	// ErrNewerSchema: the database was migrated by a newer parkd than this
	// one. It is left untouched.
	ErrNewerSchema = errors.New("database schema is newer than this parkd")
	// ErrOlderSchema: OpenReadOnly found a database that still needs
	// migrations, which only a writable Open applies.
	ErrOlderSchema = errors.New("database schema is older than this parkd")
	// ErrReadOnly: the database cannot be written. Open and OpenExisting
	// return it, before SQLite tries, when the file, its directory or the
	// filesystem is read-only, with a message that says which; the
	// writing methods return it on a DB from OpenReadOnly.
	ErrReadOnly = errors.New("database opened read-only")
	// ErrCorrupt: SQLite found the file damaged, on open (Open and
	// CheckOpen run SQLite's quick_check) or on any later read or write.
	// The message names the file and says how to recover its rows with the
	// sqlite3 shell's .recover into a new file; the damaged file is never
	// modified.
	ErrCorrupt = errors.New("database file is damaged")
	// ErrInvalid: a transition or a history filter failed validation.
	ErrInvalid = errors.New("invalid argument")
)

// DefaultMaxReadConns is the default size of the read pool.
const DefaultMaxReadConns = 4

// DefaultBusyTimeout is the default DB.BusyTimeout.
const DefaultBusyTimeout = 5 * time.Second

// timeLayout is how times are stored: UTC, millisecond precision, fixed width.
const timeLayout = "2006-01-02T15:04:05.000Z"

// DSN parameters. The pragmas live in the DSN so that go-sqlite3 applies
// them to every connection it opens, not just to the one an Exec lands on.
const (
	writeParams = "_foreign_keys=on&_journal_mode=WAL&_txlock=immediate&_synchronous=NORMAL"
	// The read pool opens the file read-only (mode=ro works with WAL as long
	// as the -shm file exists or can be created) and leaves the journal mode
	// alone: setting it is a write.
	readParams = "mode=ro&_foreign_keys=on&_busy_timeout=5000&_synchronous=NORMAL"
)

// writerPragmas are set on the write connection once it is open (the
// DSN has no parameter for them); the pool keeps its one connection.
// A savepoint's statement journal, and any temporary B-tree, stay in
// memory: a file for them cost a good part of every history write.
const writerPragmas = `PRAGMA temp_store = MEMORY`

var _ parking.Store = (*DB)(nil)

// DB is a parkd database. Create it with NewDB (SQLite) or NewPostgres,
// set any options, then call Open; or use OpenReadOnly (or
// Location.OpenReadOnly) to read a database another process writes. A DB
// is safe for concurrent use once open.
//
// Writes go through one connection (SQLite has a single writer, and this
// serialises transactions without a Go mutex; on PostgreSQL it keeps the
// history's ids in commit order); queries go through a separate read-only
// pool, so in WAL mode reads never wait for the writer.
type DB struct {
	// Driver is the engine: SQLite ("" means SQLite too) or Postgres.
	Driver Driver
	// Path is the database file. Set by NewDB. For PostgreSQL, NewPostgres
	// sets it to the DSN without its password, to name the database in
	// messages and logs.
	Path string
	// DSN is the PostgreSQL connection string. Set by NewPostgres.
	DSN string

	// MaxReadConns caps the read pool. NewDB sets DefaultMaxReadConns.
	MaxReadConns int
	// BusyTimeout is how long a write waits for another process's lock
	// (the CLI adding a note, a supervisor's tool) before it fails with
	// "database is locked". NewDB sets DefaultBusyTimeout.
	BusyTimeout time.Duration
	// BeforeWrite, if set, is called by Open (and Reopen) once the file
	// has passed Open's checks and before anything is written; an error
	// stops Open. The daemon takes its one-daemon-per-database lock there,
	// so a file Open refuses never gets a lock file beside it.
	BeforeWrite func() error
	// Fence, if not 0, is the PostgreSQL lease generation this DB writes
	// under (a parkd of an active/standby pair): every write transaction
	// after Open's migrations calls parkd_fence with it first, and fails
	// with ErrFenced once another parkd has the lease or it has lapsed.
	// Set it before Open.
	Fence int64
	// FenceIdle, with Fence, is how long PostgreSQL lets one of this DB's
	// connections sit idle inside a transaction before it ends the
	// session (idle_in_transaction_session_timeout). A parkd cut off from
	// the database in the middle of a write transaction leaves its
	// session holding the lease row's lock (parkd_fence), and the standby's
	// takeover waits for that lock: without the timeout, until the server
	// notices the connection is dead, which TCP keepalives take hours to
	// do. The daemon sets it to ha.ttl, at least 2 s; 0 is DefaultFenceIdle.
	FenceIdle time.Duration

	// Node, on PostgreSQL, is the FreeSWITCH node this parkd serves when
	// several share the database (nodes.go): its connections carry it as
	// parkd.node, every row written is marked with it, and Occupied loads
	// only its calls. "" for a parkd without nodes. Set before Open.
	Node string

	// Webhooks are the configured webhooks: Record queues the events each
	// wants in the outbox, and Open drops the queued deliveries of any
	// other (see webhook.go).
	Webhooks []WebhookTarget
	// droppedAtOpen counts what Open dropped; see DroppedAtOpen.
	droppedAtOpen int64

	// committed are told every history row written, after its commit; see
	// OnCommit.
	committed []func([]HistoryRow)
	// noted are told every note AddNote wrote; see OnNote.
	noted []func(Note)

	eng *engine // the dialect of Driver; set by Open
	w   *pool   // writer: one connection; nil when read-only
	r   *pool   // readers: mode=ro (SQLite), read-only sessions (PostgreSQL)

	// secret is the PostgreSQL password in use, kept to scrub it from
	// messages; lock and lockConn hold LockDaemon's lock.
	secret   string
	lock     *sql.DB
	lockConn *sql.Conn

	// file is the file Path named when it was opened, for Replaced; wal
	// and shm are its -wal and -shm files, for Reopen (nil if absent).
	file, wal, shm os.FileInfo

	stmts writeStmts
}

// writeStmts are the writer's statements, prepared once at Open: preparing
// them in every transaction was a good part of a history write.
type writeStmts struct {
	delOccupancy, insOccupancy, insertHistory  *sql.Stmt
	insertSession, recallSession, closeSession *sql.Stmt
	savepoint, release, rollbackTo             *sql.Stmt
	insertOutbox                               *sql.Stmt // webhook.go
}

// list pairs each statement with its SQL for eng (nil: the SQL is not
// needed).
func (w *writeStmts) list(eng *engine) []struct {
	stmt  **sql.Stmt
	query string
} {
	return []struct {
		stmt  **sql.Stmt
		query string
	}{
		{&w.delOccupancy, sqlDeleteOccupancy},
		{&w.insOccupancy, sqlInsertOccupancy},
		{&w.insertHistory, eng.returning(sqlInsertHistory)},
		{&w.insertSession, sqlInsertSession},
		{&w.recallSession, sqlRecallSession},
		{&w.closeSession, sqlCloseSession},
		{&w.savepoint, "SAVEPOINT one"},
		{&w.release, "RELEASE one"},
		{&w.rollbackTo, "ROLLBACK TO one"},
		{&w.insertOutbox, sqlInsertOutbox},
	}
}

// NewDB returns a DB for the file at path with default options. It does not
// touch the file; Open does.
func NewDB(path string) *DB {
	return &DB{Driver: SQLite, Path: path, MaxReadConns: DefaultMaxReadConns, BusyTimeout: DefaultBusyTimeout}
}

// Open opens the database, creating the file if it does not exist, and
// applies any migrations it lacks.
//
// If the file exists but is not a SQLite database, or is another program's
// database (tables but no schema_migrations), Open returns an error wrapping
// ErrForeignDB; if a newer parkd migrated it, one wrapping ErrNewerSchema;
// if SQLite's quick_check finds it damaged, one wrapping ErrCorrupt. In
// those cases the file is not modified and no -wal or -shm file is left
// beside it. If the file, its directory or the filesystem is read-only, it
// fails with an error wrapping ErrReadOnly that says which, and if the
// directory does not exist, with one wrapping fs.ErrNotExist.
//
// On PostgreSQL, Open connects (the errors never show the password),
// refuses a schema that holds another program's tables (ErrForeignDB) or a
// newer parkd's (ErrNewerSchema), calls BeforeWrite, and applies the
// migrations under an advisory lock, so that two parkd opening one new
// database do not both apply them.
func (db *DB) Open() error {
	if db.Driver == Postgres {
		return db.openPostgres(context.Background(), pgServe)
	}
	if db.w != nil || db.r != nil {
		return fmt.Errorf("store: %s already open", db.Path)
	}
	db.eng = newEngine(SQLite)
	migs, err := checkOpen(db.Path)
	if err != nil {
		return err
	}
	if db.BeforeWrite != nil {
		if err := db.BeforeWrite(); err != nil {
			return err
		}
	}
	if err := db.openWriter(context.Background(), migs, true); err != nil {
		db.Close()
		return classify(db.Path, err)
	}
	if err := db.dropUnconfiguredWebhooks(context.Background()); err != nil {
		db.Close()
		return classify(db.Path, err)
	}
	if db.r, err = db.openReader(readParams); err != nil {
		db.Close()
		return err
	}
	return db.noteFile()
}

// OpenReadOnly opens an existing parkd database for queries only, for
// example to read one that a running daemon writes. It never creates the
// file, applies migrations or writes; Record returns ErrReadOnly. It returns
// an error wrapping ErrOlderSchema if the database needs migrations (run the
// daemon once to apply them), and the errors Open returns for foreign files,
// newer schemas and damaged files (ErrCorrupt: it runs SQLite's
// quick_check on files up to 64 MiB, and any read that meets a damaged page
// fails with ErrCorrupt).
//
// It works on a read-only file and in a read-only directory or filesystem.
// A WAL-mode database with no -shm and no (or an empty) -wal file beside
// it (no daemon has it open) is read with SQLite's immutable=1, which
// needs no -wal or -shm file and leaves none behind; such a DB does not
// see rows a daemon that starts later writes, so readers that run for
// long (slots --watch) open the file again for each read.
func OpenReadOnly(path string) (*DB, error) {
	db, _, err := openExisting(path, false)
	return db, err
}

// OpenExisting opens an existing parkd database for reading and writing
// alongside the daemon that owns it, for the CLI commands that write (such
// as notes). Like OpenReadOnly it never creates the file or applies
// migrations, and fails the same way on a missing, foreign, older, newer or
// damaged database, except that it runs quick_check whatever the file's
// size, so that it never writes into a damaged file; like Open it fails
// with ErrReadOnly if the file or its directory cannot be written. Writes
// wait for the daemon's (SQLite's busy timeout, 5 s) and the daemon's wait
// for them; neither ever sees the other's half-done transaction.
func OpenExisting(path string) (*DB, error) {
	db, migs, err := openExisting(path, true)
	if err != nil {
		return nil, err
	}
	if err := db.openWriter(context.Background(), migs, false); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

// openExisting opens the read pool of an existing, fully migrated database,
// after checking that it can be written if the caller will.
func openExisting(path string, write bool) (*DB, []migration, error) {
	db := NewDB(path)
	db.eng = newEngine(SQLite)
	if err := db.checkPath(); err != nil {
		return nil, nil, err
	}
	migs, err := loadMigrations(SQLite)
	if err != nil {
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	st, err := readFileState(path)
	if err != nil {
		return nil, nil, err
	}
	if !st.exists {
		// mode=ro never creates the file, but say so plainly rather than
		// with SQLite's "unable to open database file".
		_, err := os.Stat(path)
		return nil, nil, fmt.Errorf("store: %w", err)
	}
	version := 0
	if !st.empty {
		// A writer checks every page whatever the size: a write that
		// misses the damaged page would succeed and change a file that
		// must be left as it is for .recover.
		quick := write || st.size <= quickCheckMax
		if version, err = inspectFile(context.Background(), path, st, migs, quick); err != nil {
			return nil, nil, err
		}
	}
	if latest := migs[len(migs)-1].version; version < latest {
		return nil, nil, fmt.Errorf("store: %s has schema version %d, this parkd needs %d: %w; run parkd serve once to migrate",
			path, version, latest, ErrOlderSchema)
	}
	params := readParams
	if write {
		if err := checkWritable(path, st); err != nil {
			return nil, nil, err
		}
	} else if st.immutable() {
		params += "&immutable=1"
	}
	if db.r, err = db.openReader(params); err != nil {
		return nil, nil, err
	}
	if err := db.noteFile(); err != nil {
		db.Close()
		return nil, nil, err
	}
	return db, migs, nil
}

// Close closes the database. It is safe to call on a DB that failed to open.
func (db *DB) Close() error {
	var errs []error
	for _, p := range db.stmts.list(nil) {
		if *p.stmt != nil {
			errs = append(errs, (*p.stmt).Close())
			*p.stmt = nil
		}
	}
	errs = append(errs, db.closePools())
	if db.lockConn != nil {
		errs = append(errs, db.lockConn.Close())
		db.lockConn = nil
	}
	if db.lock != nil {
		errs = append(errs, db.lock.Close())
		db.lock = nil
	}
	db.file, db.wal, db.shm = nil, nil, nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: close %s: %w", db.Path, err)
	}
	return nil
}

// closePools closes the reader pool, then the writer, so that the writer's
// connection is the last one and checkpoints the WAL into the file.
func (db *DB) closePools() error {
	var errs []error
	if db.r != nil {
		errs = append(errs, db.r.Close())
		db.r = nil
	}
	if db.w != nil {
		errs = append(errs, db.w.Close())
		db.w = nil
	}
	return errors.Join(errs...)
}

// checkPath rejects paths that cannot name a file shared by two pools.
func (db *DB) checkPath() error {
	switch db.Path {
	case "":
		return errors.New("store: database path required")
	case ":memory:":
		return errors.New("store: in-memory databases are not supported: each pooled connection would get its own")
	}
	return nil
}

// dsn returns a file: URI for path with params. The path is escaped so that
// '?', '#' and '%' in a file name reach SQLite intact.
func dsn(path, params string) string {
	u := url.URL{Path: filepath.ToSlash(filepath.Clean(path))}
	return "file:" + u.EscapedPath() + "?" + params
}

// openReader opens the read-only query pool with the DSN parameters params.
func (db *DB) openReader(params string) (*pool, error) {
	r, err := sql.Open("sqlite3", dsn(db.Path, params))
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", db.Path, err)
	}
	n := db.MaxReadConns
	if n <= 0 {
		n = DefaultMaxReadConns
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	// No Ping: inspectFile has read the file; the first query connects.
	return &pool{db: r, eng: db.eng}, nil
}

// openWriter opens the single write connection, migrates the schema and
// prepares the statements Record uses. Without doMigrate it leaves the
// schema alone.
func (db *DB) openWriter(ctx context.Context, migs []migration, doMigrate bool) error {
	busy := db.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	w, err := sql.Open("sqlite3", dsn(db.Path, fmt.Sprintf("%s&_busy_timeout=%d", writeParams, busy.Milliseconds())))
	if err != nil {
		return fmt.Errorf("store: open %s: %w", db.Path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	db.w = &pool{db: w, eng: db.eng}
	if err := w.PingContext(ctx); err != nil {
		return fmt.Errorf("store: open %s: %w", db.Path, err)
	}
	if _, err := w.ExecContext(ctx, writerPragmas); err != nil {
		return fmt.Errorf("store: open %s: %w", db.Path, err)
	}
	if doMigrate {
		if err := migrate(ctx, db.w, migs); err != nil {
			return fmt.Errorf("store: %s: %w", db.Path, err)
		}
	}
	if err := db.prepare(ctx); err != nil {
		return fmt.Errorf("store: %s: %w", db.Path, err)
	}
	return nil
}

// prepare prepares the writer's statements.
func (db *DB) prepare(ctx context.Context) error {
	for _, p := range db.stmts.list(db.eng) {
		var err error
		if *p.stmt, err = db.w.PrepareContext(ctx, p.query); err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
	}
	return nil
}

// tableNames lists the user tables and views in the database behind q.
func tableNames(ctx context.Context, q querier, eng *engine) ([]string, error) {
	rows, err := q.QueryContext(ctx, eng.tablesQuery())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		names = append(names, name)
	}
	return names, rows.Err()
}

// querier is what pool and txn have in common for queries.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// formatTime renders t as stored: UTC, milliseconds, fixed width.
func formatTime(t time.Time) string {
	return t.UTC().Format(timeLayout)
}

// parseTime parses a stored time; the result is in UTC.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(timeLayout, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("stored time %q: %w", s, err)
	}
	return t, nil
}

// validTime reports whether t can be stored in the fixed-width format.
func validTime(t time.Time) bool {
	y := t.UTC().Year()
	return !t.IsZero() && y >= 1 && y <= 9999
}
