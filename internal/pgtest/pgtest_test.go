package pgtest_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/parkd/parkd/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Ensure each test gets an empty database of its own: a table made in one
// is not in the other.
func TestDSN_Independent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a, b := open(t, pgtest.DSN(t)), open(t, pgtest.DSN(t))
	if _, err := a.ExecContext(ctx, `CREATE TABLE only_in_a (x int)`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_name = 'only_in_a'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if got, want := n, 0; got != want {
		t.Fatalf("tables named only_in_a in the other database=%d, want %d", got, want)
	}
}

// Ensure the server really runs unprivileged and PasswordDSN's role is
// refused without its password and let in with it.
func TestPasswordDSN(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dsn := pgtest.PasswordDSN(t)
	if strings.Contains(dsn, pgtest.Password) {
		t.Fatalf("DSN %q holds the password", dsn)
	}
	err := open(t, dsn+" password=wrong").PingContext(ctx)
	if err == nil {
		t.Fatal("connected with a wrong password")
	}
	if err := open(t, dsn+" password="+pgtest.Password).PingContext(ctx); err != nil {
		t.Fatal(err)
	}
	var super bool
	if err := open(t, pgtest.DSN(t)).QueryRowContext(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super); err != nil {
		t.Fatal(err)
	}
	if !super {
		t.Fatal("the default DSN's user is not the superuser")
	}
}
