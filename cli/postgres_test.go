package cli

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/daemon"
	"github.com/parkd/parkd/internal/pgtest"
	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storegen"
	"github.com/parkd/parkd/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// siteFile makes a SQLite database with a generated history and the
// fixture (a call still parked, with a note), closed.
func siteFile(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "parkd.db")
	if _, err := storegen.Generate(ctx, path, storegen.Options{Rows: 3000, Seed: 5, End: storetest.Base().Add(-time.Hour), Span: 10 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	storetest.Record(t, db, storetest.Transitions())
	if _, err := db.AddNote(ctx, "", "reception", 302, "wants Dr. Smith", storetest.WindowEnd()); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Ensure parkd migrate copies a SQLite site into PostgreSQL and prints the
// comparison (every table the same, the report's figures the same); that
// it refuses a target with rows unless --replace, and a source a daemon
// holds; and that the CLI then reads the PostgreSQL database through the
// configuration and through --db, never printing the password.
func TestMigrate_SQLiteToPostgres(t *testing.T) {
	path := siteFile(t)
	t.Setenv("PGPASSWORD", pgtest.Password)
	dsn := pgtest.PasswordDSN(t)
	to := "postgres:" + dsn

	code, out, errOut := runCLI(t, "migrate", "--from", "sqlite:"+path, "--to", to)
	if code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		"copied sqlite:" + path + " to postgres:host=",
		"history", "sessions", "notes", "occupancy",
		"report of all history by lot:", "report of all history by day:",
		"OK: the target holds the source's every row and gives the same report figures",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if m := regexp.MustCompile(`(?m)^ *history +(\d+) +(\d+) +yes *$`).FindStringSubmatch(out); m == nil || m[1] != m[2] || m[1] == "0" {
		t.Errorf("no history line with equal, non-zero counts:\n%s", out)
	}
	if strings.Contains(out, "NO") || strings.Contains(out, "DIFFER") {
		t.Errorf("something differs:\n%s", out)
	}

	// Again: the target has rows now.
	code, out, errOut = runCLI(t, "migrate", "--from", path, "--to", to)
	if code != 1 || !strings.Contains(errOut, "not empty") || !strings.Contains(errOut, "--replace") {
		t.Fatalf("second migrate: exit %d, want 1 asking for --replace\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "migrate", "--from", path, "--to", to, "--replace")
	if code != 0 || !strings.Contains(out, "OK:") {
		t.Fatalf("migrate --replace: exit %d\n%s%s", code, out, errOut)
	}

	// The CLI reads PostgreSQL as it reads SQLite: the same slots and
	// report through the configuration and through --db.
	cfg := writeFile(t, "parkd.toml", "[store]\ndriver = \"postgres\"\ndsn = \""+dsn+"\"\n[[lot]]\nname = \"main\"\nslots = \"201-299\"\n")
	for _, args := range [][]string{{"-c", cfg}, {"--db", to}} {
		_, lite, _ := runCLI(t, "report", "--db", path, "--from", "2026-10-01", "--to", "2026-11-03", "--tz", "UTC")
		code, pg, errOut := runCLI(t, append([]string{"report", "--from", "2026-10-01", "--to", "2026-11-03", "--tz", "UTC"}, args...)...)
		if code != 0 || pg != lite {
			t.Fatalf("report %v: exit %d\n%s%s\nSQLite's:\n%s", args, code, pg, errOut, lite)
		}
		_, lite, _ = runCLI(t, "slots", "--db", path)
		code, pg, errOut = runCLI(t, append([]string{"slots"}, args...)...)
		// WAITING is read from the clock at each run: two runs straddling
		// a half second differ there by a second.
		waiting := regexp.MustCompile(`\b\d+h\d+m\d+s\b`)
		if code != 0 || waiting.ReplaceAllString(pg, "W") != waiting.ReplaceAllString(lite, "W") || !strings.Contains(pg, "wants Dr. Smith") {
			t.Fatalf("slots %v: exit %d\n%s%s\nSQLite's:\n%s", args, code, pg, errOut, lite)
		}
	}
	code, out, errOut = runCLI(t, "check", "-c", cfg)
	if code != 0 || !strings.Contains(out, "store postgres:host=") {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "note", "-c", cfg, "reception", "302", "called back")
	if code != 0 {
		t.Fatalf("note: exit %d\n%s%s", code, out, errOut)
	}

	// A wrong password: refused, and not shown.
	t.Setenv("PGPASSWORD", "wrong-"+pgtest.Password)
	code, out, errOut = runCLI(t, "slots", "--db", to)
	if code != 1 || strings.Contains(out+errOut, pgtest.Password) {
		t.Fatalf("slots with a wrong password: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "slots", "--db", to+" password="+pgtest.Password)
	if code != 0 || strings.Contains(out+errOut, pgtest.Password) {
		t.Fatalf("slots with the password in the DSN: exit %d\n%s%s", code, out, errOut)
	}
}

// Ensure parkd migrate refuses a source a running daemon holds (its copy
// would miss what the daemon writes next) and a missing or wrong flag.
func TestMigrate_Refuses(t *testing.T) {
	path := siteFile(t)
	to := "postgres:" + pgtest.DSN(t)
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"migrate", "--from", path}, 2, "both --from and --to are required"},
		{[]string{"migrate", "--from", path, "--to", path}, 2, "the same database"},
		{[]string{"migrate", "--from", "sqlite:", "--to", to}, 2, "--from"},
		{[]string{"migrate", "--from", filepath.Join(t.TempDir(), "none.db"), "--to", to}, 1, "none.db"},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(out+errOut, tc.out) {
			t.Errorf("%v: exit %d, want %d with %q\n%s%s", tc.args, code, tc.code, tc.out, out, errOut)
		}
	}

	// A daemon holds the source.
	daemonDB := store.NewDB(path)
	if err := daemonDB.Open(); err != nil {
		t.Fatal(err)
	}
	defer daemonDB.Close()
	release, err := lockForTest(path)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	code, out, errOut := runCLI(t, "migrate", "--from", path, "--to", to)
	if code != 1 || !strings.Contains(errOut, "in use by another parkd") || !strings.Contains(errOut, "stop it first") {
		t.Fatalf("migrate from a held database: exit %d\n%s%s", code, out, errOut)
	}
}

// lockForTest takes the daemon's lock on the SQLite database at path, as a
// running parkd serve holds it.
func lockForTest(path string) (func() error, error) {
	return daemon.LockStore(context.Background(), store.Location{Driver: store.SQLite, Path: path}, nil)
}
