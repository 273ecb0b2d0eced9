package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/parkd/parkd/internal/pgtest"
	"github.com/parkd/parkd/store"
)

// pgLoc is a new, empty PostgreSQL database for the test.
func pgLoc(t *testing.T) store.Location { return backends[1].newLoc(t) }

// columns lists "table column" for every column of parkd's tables and
// views in db, whatever the engine.
func columns(t *testing.T, db *store.DB) []string {
	t.Helper()
	q := `SELECT m.name || ' ' || p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
		WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY 1`
	if db.Driver == store.Postgres {
		q = `SELECT table_name || ' ' || column_name FROM information_schema.columns
			WHERE table_schema = current_schema() ORDER BY 1`
	}
	rows, err := db.ReadPool().Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	slices.Sort(out) // both engines' collation: bytes
	return out
}

// Ensure PostgreSQL's migrations, from an empty database, make the same
// tables and views with the same columns as SQLite's, record the same
// versions and names, and that reopening applies none twice.
func TestPostgres_MigratesFromEmpty(t *testing.T) {
	loc := pgLoc(t)
	pg := backends[1].openAt(t, loc)
	lite := MustOpenDB(t)
	if got, want := columns(t, pg), columns(t, lite); !slices.Equal(got, want) {
		t.Fatalf("PostgreSQL's tables and views:\n%s\nSQLite's:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	applied := func(db *store.DB) []string {
		rows, err := db.ReadPool().Query(`SELECT version, name, applied_at FROM schema_migrations ORDER BY version`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v int
			var name, at string
			if err := rows.Scan(&v, &name, &at); err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(at) {
				t.Fatalf("applied_at=%q, want UTC text with milliseconds", at)
			}
			out = append(out, fmt.Sprintf("%d %s", v, name))
		}
		return out
	}
	first := applied(pg)
	if want := applied(lite); !slices.Equal(first, want) {
		t.Fatalf("PostgreSQL's migrations %v, SQLite's %v", first, want)
	}
	if len(first) != schemaVersion {
		t.Fatalf("%d migrations, want %d", len(first), schemaVersion)
	}
	MustRecord(t, pg, Parked("call-1", "default", 1, t0))
	again := backends[1].openAt(t, loc)
	if got := applied(again); !slices.Equal(got, first) {
		t.Fatalf("after reopen %v, want %v", got, first)
	}
	if occ, err := again.Occupied(context.Background()); err != nil || len(occ) != 1 {
		t.Fatalf("occupied after reopen=%v, %v", occ, err)
	}
}

// Ensure parkd processes opening one new database at once apply each
// migration once: the others wait for the advisory lock and find it done.
func TestPostgres_ConcurrentOpen(t *testing.T) {
	loc := pgLoc(t)
	const n = 4
	errs := make([]error, n)
	dbs := make([]*store.DB, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			dbs[i] = loc.New()
			errs[i] = dbs[i].Open()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		defer dbs[i].Close()
	}
	var count int
	if err := dbs[0].ReadPool().QueryRow(`SELECT count(*) FROM schema_migrations`).Scan(&count); err != nil {
		t.Fatal(err)
	}
	if count != schemaVersion {
		t.Fatalf("schema_migrations has %d rows, want %d", count, schemaVersion)
	}
}

// Ensure Open refuses a schema that holds another program's tables, and
// one a newer parkd migrated, and leaves both as they were.
func TestPostgres_Refuses(t *testing.T) {
	ctx := context.Background()
	t.Run("ErrForeignDB", func(t *testing.T) {
		loc := pgLoc(t)
		raw, err := sql.Open("pgx", loc.DSN)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		if _, err := raw.Exec(`CREATE TABLE foo (id int); INSERT INTO foo VALUES (1)`); err != nil {
			t.Fatal(err)
		}
		for _, open := range []func() error{
			func() error { return loc.New().Open() },
			func() error { _, err := loc.OpenReadOnly(); return err },
			loc.Check,
		} {
			err := open()
			if !errors.Is(err, store.ErrForeignDB) || !strings.Contains(err.Error(), "holds tables (foo)") {
				t.Fatalf("err=%v, want %v naming foo", err, store.ErrForeignDB)
			}
		}
		var tables int
		if err := raw.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'`).Scan(&tables); err != nil {
			t.Fatal(err)
		}
		if tables != 1 {
			t.Fatalf("%d tables after the refusals, want foo alone", tables)
		}
	})
	t.Run("ErrNewerSchema", func(t *testing.T) {
		loc := pgLoc(t)
		db := backends[1].openAt(t, loc)
		rawExec(t, db, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, '2030-01-01T00:00:00.000Z')`,
			schemaVersion+1, fmt.Sprintf("%04d_future.sql", schemaVersion+1))
		for _, open := range []func() error{
			func() error { return loc.New().Open() },
			func() error { _, err := loc.OpenReadOnly(); return err },
			func() error { _, err := loc.OpenExisting(); return err },
			loc.Check,
		} {
			if err := open(); !errors.Is(err, store.ErrNewerSchema) {
				t.Fatalf("err=%v, want %v", err, store.ErrNewerSchema)
			}
		}
	})
	t.Run("ErrOlderSchema", func(t *testing.T) {
		loc := pgLoc(t) // empty: version 0
		if _, err := loc.OpenReadOnly(); !errors.Is(err, store.ErrOlderSchema) {
			t.Fatalf("OpenReadOnly err=%v, want %v", err, store.ErrOlderSchema)
		}
		if _, err := loc.OpenExisting(); !errors.Is(err, store.ErrOlderSchema) {
			t.Fatalf("OpenExisting err=%v, want %v", err, store.ErrOlderSchema)
		}
		if err := loc.Check(); err != nil {
			t.Fatalf("Check of an empty database: %v (serve would migrate it)", err)
		}
	})
}

// Ensure a read-only DB refuses writes, and its connections cannot write
// even with raw SQL.
func TestPostgres_ReadOnly(t *testing.T) {
	loc := pgLoc(t)
	backends[1].openAt(t, loc) // migrated
	ro, err := loc.OpenReadOnly()
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.Record(context.Background(), Parked("call-1", "default", 1, t0)); !errors.Is(err, store.ErrReadOnly) {
		t.Fatalf("Record err=%v, want %v", err, store.ErrReadOnly)
	}
	if _, err := ro.ReadPool().Exec(`INSERT INTO outside_locks (domain, lot, number, until) VALUES ('', 'main', '', 'x')`); err == nil ||
		!strings.Contains(err.Error(), "read-only transaction") {
		t.Fatalf("raw insert on the read pool: %v, want a read-only transaction's refusal", err)
	}
}

// Ensure the password, given in the DSN (keyword or URL) or in
// PGPASSWORD, connects, and is in no error and no name of the database:
// neither when it is wrong nor when the server cannot be reached nor when
// the DSN does not parse.
func TestPostgres_PasswordNeverShown(t *testing.T) {
	dsn := pgtest.PasswordDSN(t) // host=... user=parkd_pw dbname=...
	pw := pgtest.Password
	check := func(t *testing.T, what, s string) {
		t.Helper()
		if strings.Contains(s, pw) || strings.Contains(s, "wrong-"+pw[:6]) {
			t.Fatalf("%s shows the password: %s", what, s)
		}
	}
	open := func(t *testing.T, dsn string) error {
		t.Helper()
		db := store.NewPostgres(dsn)
		check(t, "Path", db.Path)
		check(t, "Location", db.Location().String())
		err := db.Open()
		if err == nil {
			db.Close()
			return nil
		}
		check(t, "the error", err.Error())
		return err
	}

	t.Run("KeywordDSN", func(t *testing.T) {
		if err := open(t, dsn+" password="+pw); err != nil {
			t.Fatal(err)
		}
		if err := open(t, dsn+" password='wrong-"+pw+"'"); err == nil {
			t.Fatal("a wrong password connected")
		}
	})
	t.Run("PGPASSWORD", func(t *testing.T) {
		t.Setenv("PGPASSWORD", pw)
		if err := open(t, dsn); err != nil {
			t.Fatal(err)
		}
		t.Setenv("PGPASSWORD", "wrong-"+pw)
		if err := open(t, dsn); err == nil {
			t.Fatal("a wrong password connected")
		}
	})
	t.Run("URL", func(t *testing.T) {
		// The URL form: postgres://user:password@/dbname?host=socketdir
		kv := map[string]string{}
		for _, f := range strings.Fields(dsn) {
			k, v, _ := strings.Cut(f, "=")
			kv[k] = v
		}
		url := fmt.Sprintf("postgres://%s:%s@/%s?host=%s&port=%s&sslmode=disable", kv["user"], pw, kv["dbname"], kv["host"], kv["port"])
		if err := open(t, url); err != nil {
			t.Fatal(err)
		}
		bad := strings.Replace(url, ":"+pw+"@", ":wrong-"+pw+"@", 1)
		if err := open(t, bad); err == nil {
			t.Fatal("a wrong password connected")
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		err := open(t, "host=127.0.0.1 port=1 user=x dbname=y connect_timeout=2 password="+pw)
		if err == nil {
			t.Fatal("connected to port 1")
		}
	})
	t.Run("Malformed", func(t *testing.T) {
		for _, bad := range []string{
			"postgres://u:" + pw + "@host:notaport/db",
			"host=h port=notaport password=" + pw,
			"host=h password='" + pw,
		} {
			if err := open(t, bad); err == nil {
				t.Fatalf("%q parsed", bad)
			}
		}
	})
}

// Ensure LockDaemon lets one daemon hold a database and refuses a second,
// naming the holder, until the first closes.
func TestPostgres_LockDaemon(t *testing.T) {
	ctx := context.Background()
	loc := pgLoc(t)
	first := backends[1].openAt(t, loc)
	if err := first.LockDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	second := loc.New()
	second.BeforeWrite = func() error { return second.LockDaemon(ctx) }
	err := second.Open()
	if !errors.Is(err, store.ErrLocked) || !strings.Contains(err.Error(), "backend PID") {
		t.Fatalf("second daemon: %v, want %v naming the holder", err, store.ErrLocked)
	}
	second.Close()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third := loc.New()
	third.BeforeWrite = func() error { return third.LockDaemon(ctx) }
	if err := third.Open(); err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	third.Close()
}

// Ensure ParseLocation reads the forms parkd migrate and --db take, and a
// location's name hides its password.
func TestParseLocation(t *testing.T) {
	for _, c := range []struct {
		in   string
		want store.Location
		name string
	}{
		{"parkd.db", store.Location{Driver: store.SQLite, Path: "parkd.db"}, "sqlite:parkd.db"},
		{"sqlite:/var/lib/parkd/parkd.db", store.Location{Driver: store.SQLite, Path: "/var/lib/parkd/parkd.db"}, "sqlite:/var/lib/parkd/parkd.db"},
		{"postgres:host=db1 dbname=parkd password=hunter22", store.Location{Driver: store.Postgres, DSN: "host=db1 dbname=parkd password=hunter22"},
			"postgres:host=db1 dbname=parkd password=xxxxx"},
		{"postgres://parkd:hunter22@db1/parkd", store.Location{Driver: store.Postgres, DSN: "postgres://parkd:hunter22@db1/parkd"},
			"postgres://parkd:xxxxx@db1/parkd"},
		{"postgresql://parkd@db1/parkd?password=hunter22", store.Location{Driver: store.Postgres, DSN: "postgresql://parkd@db1/parkd?password=hunter22"},
			"postgresql://parkd@db1/parkd?password=xxxxx"},
	} {
		got, err := store.ParseLocation(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseLocation(%q)=%+v, %v; want %+v", c.in, got, err, c.want)
		}
		if s := got.String(); s != c.name {
			t.Errorf("%q named %q, want %q", c.in, s, c.name)
		}
	}
	for _, bad := range []string{"", "sqlite:"} {
		if _, err := store.ParseLocation(bad); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ParseLocation(%q): %v, want %v", bad, err, store.ErrInvalid)
		}
	}
}
