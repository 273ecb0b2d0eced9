package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL keeps the same tables, views and figures as SQLite (see
// migrations/postgres/), with the same fixed-width UTC text times, so that
// every query and every report is computed by the same code. What differs:
//
//   - Writes of one parkd still go through one connection, so that its
//     history ids are committed in order (live events resume after an id);
//     several processes writing one database are kept apart by the
//     database: the occupancy's keys refuse a second call in a slot
//     (parking.ErrSlotTaken, as on SQLite), migrations take an advisory
//     lock, and a daemon holds another one for as long as it runs
//     (LockDaemon), as the lock file does beside a SQLite database. The
//     two parkd of an active/standby pair hold it shared instead, and a
//     lease decides which of them writes (lease_postgres.go).
//   - Nothing is a file: Replaced is always false and Reopen reconnects.
//   - The DSN's password (or PGPASSWORD's, or the password file's) is
//     never shown: DB.Path holds the DSN without it, and the errors of
//     Open are scrubbed of it.

// DefaultConnectTimeout bounds each connection attempt to PostgreSQL when
// the DSN sets no connect_timeout.
const DefaultConnectTimeout = 10 * time.Second

// Advisory lock keys: parkd's class ("park" in ASCII) and one id per use.
const (
	lockClass   = 0x7061726b
	lockMigrate = 1 // held by a transaction applying a migration
	lockDaemon  = 2 // held by a serving daemon's connection
)

// ErrLocked: another parkd serves the database (LockDaemon).
var ErrLocked = errors.New("the database is in use by another parkd")

// NewPostgres returns a DB for the PostgreSQL database that dsn names, in
// libpq's keyword/value form ("host=db1 dbname=parkd user=parkd") or as a
// URL (postgres://parkd@db1/parkd); the libpq environment variables
// (PGHOST, PGUSER, PGPASSWORD, PGPASSFILE, ...) fill in what it leaves
// out. It does not connect; Open does. The tables live in the first
// schema of the connection's search_path.
func NewPostgres(dsn string) *DB {
	return &DB{Driver: Postgres, DSN: dsn, Path: redactDSN(dsn), MaxReadConns: DefaultMaxReadConns, BusyTimeout: DefaultBusyTimeout}
}

// openMode says how much of the store an open sets up.
type openMode int

const (
	pgServe    openMode = iota // migrate, write, drop unconfigured webhooks
	pgExisting                 // write, never migrate
	pgReadOnly                 // read only
	pgCheck                    // look, then close
)

// openPostgres connects db to its database for mode.
func (db *DB) openPostgres(ctx context.Context, mode openMode) (err error) {
	if db.w != nil || db.r != nil {
		return fmt.Errorf("store: %s already open", db.Path)
	}
	db.eng = newEngine(Postgres)
	cfg, err := db.pgConfig()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	migs, err := loadMigrations(Postgres)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}

	// The readers may not write, whatever the DSN says.
	rcfg := cfg.Copy()
	rcfg.RuntimeParams["default_transaction_read_only"] = "on"
	r := sql.OpenDB(stdlib.GetConnector(*rcfg))
	n := db.MaxReadConns
	if n <= 0 {
		n = DefaultMaxReadConns
	}
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.r = &pool{db: r, eng: db.eng}
	if err := db.r.PingContext(ctx); err != nil {
		return db.pgError("connect", err)
	}

	version, err := db.pgVersion(ctx, migs)
	if err != nil {
		return err
	}
	latest := migs[len(migs)-1].version
	if (mode == pgReadOnly || mode == pgExisting) && version < latest {
		return fmt.Errorf("store: %s has schema version %d, this parkd needs %d: %w; run parkd serve once to migrate",
			db.Path, version, latest, ErrOlderSchema)
	}
	if mode == pgReadOnly || mode == pgCheck {
		return nil
	}

	if mode == pgServe && db.BeforeWrite != nil {
		if err := db.BeforeWrite(); err != nil {
			return err
		}
	}
	wcfg := cfg.Copy()
	// A write waits for another process's lock as long as SQLite's busy
	// timeout would.
	busy := db.BusyTimeout
	if busy <= 0 {
		busy = DefaultBusyTimeout
	}
	wcfg.RuntimeParams["lock_timeout"] = fmt.Sprint(busy.Milliseconds())
	w := sql.OpenDB(stdlib.GetConnector(*wcfg))
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	db.w = &pool{db: w, eng: db.eng}
	if mode == pgServe {
		if err := migrate(ctx, db.w, migs); err != nil {
			return db.pgError("migrate", err)
		}
	}
	db.w.fence = db.Fence // after the migrations, which make parkd_fence
	if err := db.prepare(ctx); err != nil {
		return db.pgError("prepare", err)
	}
	if mode == pgServe {
		if err := db.dropUnconfiguredWebhooks(ctx); err != nil {
			return db.pgError("open", err)
		}
	}
	return nil
}

// pgConfig parses the DSN, with parkd's defaults for what it leaves out.
func (db *DB) pgConfig() (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(db.DSN)
	if err != nil {
		// pgx hides the password on a best-effort basis; so does this,
		// knowing where it may be.
		return nil, fmt.Errorf("store: PostgreSQL DSN: %s", scrub(err.Error(), dsnSecrets(db.DSN, "")...))
	}
	db.secret = cfg.Password
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "parkd"
	}
	if db.Node != "" {
		cfg.RuntimeParams["parkd.node"] = db.Node // the rows' node (nodes.go)
	}
	if db.Fence != 0 {
		idle := db.FenceIdle
		if idle <= 0 {
			idle = DefaultFenceIdle
		}
		cfg.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.FormatInt(idle.Milliseconds(), 10)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
		cfg.DialFunc = (&net.Dialer{Timeout: DefaultConnectTimeout, KeepAlive: 5 * time.Minute}).DialContext
	}
	// Statements are cached per connection (pgx's default); times and
	// texts are text, so no type needs registering.
	return cfg, nil
}

// pgError wraps err, from step, with db's name and without its password.
func (db *DB) pgError(step string, err error) error {
	msg := scrub(err.Error(), append(dsnSecrets(db.DSN, ""), db.secret)...)
	if msg == err.Error() {
		return fmt.Errorf("store: %s: %s: %w", db.Path, step, err)
	}
	// The cause held the password: only its scrubbed text is kept.
	return fmt.Errorf("store: %s: %s: %s", db.Path, step, msg)
}

// pgVersion returns the schema version of db's schema (0 for an empty
// one), refusing another program's tables and a newer parkd's schema as
// SQLite's inspection does.
func (db *DB) pgVersion(ctx context.Context, migs []migration) (int, error) {
	tables, err := tableNames(ctx, db.r, db.eng)
	if err != nil {
		return 0, db.pgError("list tables", err)
	}
	if len(tables) > 0 && !slices.Contains(tables, "schema_migrations") {
		return 0, fmt.Errorf("store: %s is %w: its schema %s holds tables (%s); give parkd a database of its own, or a schema of its own with search_path",
			db.Path, ErrForeignDB, db.pgSchema(ctx), strings.Join(tables, ", "))
	}
	version, err := checkApplied(ctx, db.r, db.eng, migs)
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", db.Path, err)
	}
	return version, nil
}

// pgSchema names the schema parkd's tables are in, for messages.
func (db *DB) pgSchema(ctx context.Context) string {
	var s sql.NullString
	_ = db.r.QueryRowContext(ctx, `SELECT current_schema()`).Scan(&s)
	if !s.Valid {
		return "(none: search_path names no existing schema)"
	}
	return s.String
}

// LockDaemon takes the daemon's lock on a PostgreSQL database, on a
// connection of its own that holds it until Close (or until that
// connection is lost): the lock file's counterpart on SQLite, so that two
// parkd serve never run on one database. It fails at once with an error
// wrapping ErrLocked, naming the holder's host and process, if another
// connection has it. On SQLite it does nothing (the daemon locks a file
// beside the database).
func (db *DB) LockDaemon(ctx context.Context) error {
	if db.Driver != Postgres {
		return nil
	}
	if db.lock != nil {
		return nil
	}
	cfg, err := db.pgConfig()
	if err != nil {
		return err
	}
	l := sql.OpenDB(stdlib.GetConnector(*cfg))
	l.SetMaxOpenConns(1)
	conn, err := l.Conn(ctx)
	if err != nil {
		l.Close()
		return db.pgError("lock", err)
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1, $2)`, lockClass, db.daemonLockID()).Scan(&got); err != nil {
		conn.Close()
		l.Close()
		return db.pgError("lock", err)
	}
	if !got {
		var who sql.NullString
		_ = conn.QueryRowContext(ctx, `SELECT coalesce(host(a.client_addr), 'local socket') || ', backend PID ' || a.pid || ', ' || a.application_name
			FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
			WHERE l.locktype = 'advisory' AND l.classid = $1 AND l.objid = $2 AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
			LIMIT 1`, lockClass, db.daemonLockID()).Scan(&who)
		conn.Close()
		l.Close()
		holder := who.String
		if holder == "" {
			holder = "unknown"
		}
		return fmt.Errorf("%w: %s is locked by a parkd serve connected from %s", ErrLocked, db.Path, holder)
	}
	db.lock, db.lockConn = l, conn
	return nil
}

// Location names a parkd database: a SQLite file or a PostgreSQL
// database.
type Location struct {
	Driver Driver
	Path   string // SQLite: the database file
	DSN    string // PostgreSQL: the connection string
}

// ParseLocation reads a database named on a command line: sqlite:PATH,
// postgres:DSN (keyword/value or URL), a postgres:// or postgresql:// URL,
// or a bare PATH (SQLite).
func ParseLocation(s string) (Location, error) {
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return Location{Driver: Postgres, DSN: s}, nil
	case strings.HasPrefix(s, "postgres:"):
		return Location{Driver: Postgres, DSN: strings.TrimPrefix(s, "postgres:")}, nil
	case strings.HasPrefix(s, "postgresql:"):
		return Location{Driver: Postgres, DSN: strings.TrimPrefix(s, "postgresql:")}, nil
	case strings.HasPrefix(s, "sqlite:"):
		s = strings.TrimPrefix(s, "sqlite:")
	}
	if s == "" {
		return Location{}, fmt.Errorf("%w: empty database name: want sqlite:PATH or postgres:DSN", ErrInvalid)
	}
	return Location{Driver: SQLite, Path: s}, nil
}

// String names l without its password: sqlite:PATH or postgres:DSN.
func (l Location) String() string {
	if l.Driver == Postgres {
		return redactDSN(l.DSN)
	}
	return "sqlite:" + l.Path
}

// Location is where db is: its file or its DSN.
func (db *DB) Location() Location {
	if db.Driver == Postgres {
		return Location{Driver: Postgres, DSN: db.DSN}
	}
	return Location{Driver: SQLite, Path: db.Path}
}

// New returns a DB for l with default options, not yet open.
func (l Location) New() *DB {
	if l.Driver == Postgres {
		return NewPostgres(l.DSN)
	}
	return NewDB(l.Path)
}

// OpenReadOnly opens the database l names for queries only; see the
// package function OpenReadOnly. On PostgreSQL its connections are
// read-only sessions.
func (l Location) OpenReadOnly() (*DB, error) {
	if l.Driver != Postgres {
		return OpenReadOnly(l.Path)
	}
	db := l.New()
	if err := db.openPostgres(context.Background(), pgReadOnly); err != nil {
		return nil, err
	}
	return db, nil
}

// OpenExisting opens the database l names for reading and writing beside
// a running daemon, never migrating it; see the package function
// OpenExisting.
func (l Location) OpenExisting() (*DB, error) {
	if l.Driver != Postgres {
		return OpenExisting(l.Path)
	}
	db := l.New()
	if err := db.openPostgres(context.Background(), pgExisting); err != nil {
		return nil, err
	}
	return db, nil
}

// Check reports whether Open would succeed on l and changes nothing; see
// CheckOpen. On PostgreSQL it connects and reads the schema's version.
func (l Location) Check() error {
	if l.Driver != Postgres {
		return CheckOpen(l.Path)
	}
	db := l.New()
	err := db.openPostgres(context.Background(), pgCheck)
	if err == nil {
		err = db.Close()
	}
	return err
}

// dsnKeyRE finds key=value pairs of a keyword/value DSN, the value bare or
// single-quoted with backslash escapes.
var dsnKeyRE = regexp.MustCompile(`([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|\S*)`)

// redactDSN shows dsn as postgres:DSN with any password replaced by
// xxxxx, for messages and logs.
func redactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if m := urlPasswordRE.FindStringSubmatchIndex(dsn); m != nil {
			dsn = dsn[:m[2]] + "xxxxx" + dsn[m[3]:]
		}
		dsn = urlQueryPasswordRE.ReplaceAllString(dsn, "${1}xxxxx")
		return scrub(dsn, dsnSecrets(dsn, "")...)
	}
	out := dsnKeyRE.ReplaceAllStringFunc(dsn, func(kv string) string {
		m := dsnKeyRE.FindStringSubmatch(kv)
		if k := strings.ToLower(m[1]); k == "password" || k == "sslpassword" {
			return m[1] + "=xxxxx"
		}
		return kv
	})
	return "postgres:" + scrub(out, dsnSecrets(dsn, "")...)
}

// urlPasswordRE finds the password of a URL's user info.
var urlPasswordRE = regexp.MustCompile(`^[a-z]+://[^/@:]*:([^@/]*)@`)

// urlQueryPasswordRE finds a URL's password and sslpassword query values.
var urlQueryPasswordRE = regexp.MustCompile(`(?i)([?&](?:ssl)?password=)([^&#]*)`)

// dsnSecrets lists what in dsn (or the environment) may be a password:
// the URL's user info password (as written and decoded), its password
// and sslpassword query values, the password keyword's value, and
// PGPASSWORD; extra is added if not empty.
func dsnSecrets(dsn, extra string) []string {
	var out []string
	add := func(s string) {
		if s != "" && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if m := urlPasswordRE.FindStringSubmatch(dsn); m != nil {
		add(m[1])
		add(unescapeURL(m[1]))
	}
	for _, m := range urlQueryPasswordRE.FindAllStringSubmatch(dsn, -1) {
		add(m[2])
		add(unescapeURL(m[2]))
	}
	for _, m := range dsnKeyRE.FindAllStringSubmatch(dsn, -1) {
		if k := strings.ToLower(m[1]); k == "password" || k == "sslpassword" {
			v := m[2]
			add(v)
			if len(v) >= 2 && v[0] == '\'' {
				add(strings.NewReplacer(`\'`, `'`, `\\`, `\`).Replace(v[1 : len(v)-1]))
			}
		}
	}
	add(os.Getenv("PGPASSWORD"))
	add(extra)
	return out
}

// unescapeURL percent-decodes s, or returns it as it is if it does not
// decode.
func unescapeURL(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) {
			var v byte
			if _, err := fmt.Sscanf(s[i+1:i+3], "%02x", &v); err == nil {
				b.WriteByte(v)
				i += 2
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// scrub replaces every secret (of 3 bytes or more: shorter ones cannot be
// told from ordinary text) in s with xxxxx, longest first.
func scrub(s string, secrets ...string) string {
	secrets = slices.Clone(secrets)
	slices.SortFunc(secrets, func(a, b string) int { return len(b) - len(a) })
	for _, p := range secrets {
		if len(p) >= 3 {
			s = strings.ReplaceAll(s, p, "xxxxx")
		}
	}
	return s
}
