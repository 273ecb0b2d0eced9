// Package pgtest gives tests a real PostgreSQL: it starts a throwaway
// server from the distribution's binaries (initdb and postgres) in a
// temporary directory, listening on a unix socket only, once per test
// binary, and hands each test a database of its own, created empty and
// dropped when the test ends, so that tests stay independent and may run
// in parallel. Only tests import it.
//
// Use it from a package's TestMain, which stops the server after the
// tests:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// and in a test:
//
//	dsn := pgtest.DSN(t) // skips, or fails under CI, without PostgreSQL
//
// Where the binaries are: $PARKD_PG_BIN if set, else the newest
// /usr/lib/postgresql/*/bin (Debian's postgresql package), else initdb and
// postgres on $PATH. Run as root, the server runs as the unprivileged user
// nobody (PostgreSQL refuses to run as root), in a directory that user
// owns. With $PARKD_TEST_POSTGRES set to the DSN of an existing server's
// superuser (a database such as postgres), no server is started and the
// tests' databases are made there.
//
// Without PostgreSQL the tests that ask for it skip, with one message that
// says how to install it; with CI=1 or PARKD_REQUIRE_POSTGRES=1 in the
// environment they fail instead, so that CI never skips them.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// Environment variables the harness reads.
const (
	EnvBin      = "PARKD_PG_BIN"           // directory of initdb and postgres
	EnvExisting = "PARKD_TEST_POSTGRES"    // an existing server's superuser DSN
	EnvRequire  = "PARKD_REQUIRE_POSTGRES" // "1": fail rather than skip
)

// Password is the password of the role that PasswordDSN's databases
// belong to. The server asks it only of that role.
const Password = "s3cret-Pa55word"

// passwordRole is the role PasswordDSN connects as.
const passwordRole = "parkd_pw"

// server is the one server of this test binary.
type server struct {
	once sync.Once
	err  error  // why there is no server
	skip bool   // err means "no PostgreSQL here", not "it failed"
	dir  string // the temporary directory (the data directory is in it)
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd has exited
	// admin is a superuser pool on the server's postgres database.
	admin *sql.DB
	// host and port of the socket; for an existing server, its DSN.
	host     string
	port     int
	existing string
	n        atomic.Int64 // databases made so far
}

var srv server

// Main runs m's tests, then stops the server if a test started one, and
// exits with the tests' status.
func Main(m *testing.M) {
	code := m.Run()
	stop()
	os.Exit(code)
}

// Required reports whether the environment asks that tests needing
// PostgreSQL fail rather than skip without it: CI=1 (or true), or
// PARKD_REQUIRE_POSTGRES=1.
func Required() bool {
	for _, k := range []string{"CI", EnvRequire} {
		if v := strings.ToLower(os.Getenv(k)); v == "1" || v == "true" || v == "yes" {
			return true
		}
	}
	return false
}

// Available reports whether a server runs (or could start) for this test
// binary, starting it if needed; if not, err says why.
func Available() (ok bool, err error) {
	srv.once.Do(srv.start)
	return srv.err == nil, srv.err
}

// need starts the server if it is not running, or ends tb: a skip when
// there is no PostgreSQL here (a failure when Required), a failure when it
// would not start.
func need(tb testing.TB) {
	tb.Helper()
	srv.once.Do(srv.start)
	switch {
	case srv.err == nil:
	case srv.skip && !Required():
		tb.Skipf("PostgreSQL tests skipped: %v. Install Debian's postgresql package (or set %s), "+
			"or set CI=1 or %s=1 to make this a failure", srv.err, EnvBin, EnvRequire)
	default:
		tb.Fatalf("PostgreSQL: %v", srv.err)
	}
}

// DSN returns the DSN of a new, empty database for tb, owned by the
// server's superuser and dropped when tb ends (its connections are ended
// then). It skips tb, or fails it, as the package comment says, when
// there is no PostgreSQL.
func DSN(tb testing.TB) string {
	tb.Helper()
	return newDB(tb, "")
}

// PasswordDSN is DSN for a database owned by a role that must give
// Password, which the DSN leaves out: the test supplies it (in the DSN,
// or in PGPASSWORD). It returns the DSN without a password.
func PasswordDSN(tb testing.TB) string {
	tb.Helper()
	return newDB(tb, passwordRole)
}

// newDB makes a database owned by owner ("": the superuser) and returns
// its DSN, which names owner but no password.
func newDB(tb testing.TB, owner string) string {
	tb.Helper()
	need(tb)
	name := dbName(tb.Name(), srv.n.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	q := `CREATE DATABASE ` + name
	if owner != "" {
		q += ` OWNER ` + owner
	}
	if _, err := srv.admin.ExecContext(ctx, q); err != nil {
		tb.Fatalf("pgtest: %s: %v", q, err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := srv.admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			tb.Errorf("pgtest: drop database %s: %v", name, err)
		}
	})
	return srv.dsn(name, owner)
}

// Exec runs q on the server's postgres database as the superuser.
func Exec(tb testing.TB, q string, args ...any) {
	tb.Helper()
	need(tb)
	if _, err := srv.admin.ExecContext(context.Background(), q, args...); err != nil {
		tb.Fatalf("pgtest: %s: %v", q, err)
	}
}

// dsn is the keyword/value DSN of database name as user ("": the
// superuser).
func (s *server) dsn(name, user string) string {
	if s.existing != "" {
		cfg := s.existing
		if user != "" {
			cfg += " user=" + user
		}
		return cfg + " dbname=" + name
	}
	if user == "" {
		user = superuser
	}
	return fmt.Sprintf("host=%s port=%d user=%s dbname=%s sslmode=disable", s.host, s.port, user, name)
}

// dbName makes a database name from a test's name: lower case letters,
// digits and _, unique by n, at most 63 bytes.
func dbName(test string, n int64) string {
	clean := regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(test), "_")
	name := fmt.Sprintf("t%d_%s", n, clean)
	if len(name) > 63 {
		name = name[:63]
	}
	return strings.TrimRight(name, "_")
}

// superuser is the superuser initdb makes.
const superuser = "postgres"

// start starts the server, or records in s.err why not.
func (s *server) start() {
	if dsn := os.Getenv(EnvExisting); dsn != "" {
		s.existing = dsn
		s.err = s.connect(dsn + " dbname=postgres")
		if s.err == nil {
			s.err = s.addPasswordRole()
		}
		return
	}
	bin, err := findBin()
	if err != nil {
		// A directory named in PARKD_PG_BIN that lacks the binaries is a
		// mistake to report, not a machine without PostgreSQL.
		s.err, s.skip = err, os.Getenv(EnvBin) == ""
		return
	}
	if s.err = s.run(bin); s.err != nil {
		s.stop()
	}
}

// findBin finds the directory holding initdb and postgres.
func findBin() (string, error) {
	has := func(dir string) bool {
		for _, name := range []string{"initdb", "postgres"} {
			if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
				return false
			}
		}
		return true
	}
	if dir := os.Getenv(EnvBin); dir != "" {
		if !has(dir) {
			return "", fmt.Errorf("%s=%s holds no initdb and postgres", EnvBin, dir)
		}
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	// Newest version first: 9.6 < 10 < 15 compared as numbers.
	version := func(dir string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(dir)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return int(version(b)*100 - version(a)*100) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil && has(filepath.Dir(real)) {
			return filepath.Dir(real), nil
		}
		if has(filepath.Dir(p)) {
			return filepath.Dir(p), nil
		}
	}
	return "", errors.New("no PostgreSQL server binaries (initdb, postgres) in $" + EnvBin + ", /usr/lib/postgresql/*/bin or $PATH")
}

// run makes a data directory with initdb and starts postgres on it.
func (s *server) run(bin string) error {
	cred, err := serverUser()
	if err != nil {
		return err
	}
	if s.dir, err = os.MkdirTemp("", "parkd-pgtest-"); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(s.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
		// The user must reach the directory through its parents.
		if err := reachable(s.dir); err != nil {
			return err
		}
	}
	data := filepath.Join(s.dir, "data")
	hba := filepath.Join(s.dir, "pg_hba.conf")
	// The superuser connects without a password over the socket; every
	// other role must give its password.
	if err := os.WriteFile(hba, []byte("local all "+superuser+" trust\nlocal all all scram-sha-256\n"), 0o644); err != nil {
		return err
	}
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", superuser, "--auth=trust",
		"--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
	if out, err := s.command(initdb, cred).CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %v: %s", err, lastLines(string(out), 5))
	}
	s.host, s.port = s.dir, 5432
	s.cmd = s.command(exec.Command(filepath.Join(bin, "postgres"), "-D", data,
		"-k", s.dir, "-p", strconv.Itoa(s.port),
		"-c", "listen_addresses=",
		"-c", "hba_file="+hba,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300", "-c", "shared_buffers=64MB",
		"-c", "log_min_messages=fatal", "-c", "logging_collector=off",
	), cred)
	log, err := os.Create(filepath.Join(s.dir, "postgres.log"))
	if err != nil {
		return err
	}
	defer log.Close()
	s.cmd.Stdout, s.cmd.Stderr = log, log
	// If the test binary dies, so does the server (immediate shutdown).
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.exit = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exit) }()

	dsn := s.dsn("postgres", "")
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := s.connect(dsn)
		if err == nil {
			break
		}
		select {
		case <-s.exit:
			b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
			return fmt.Errorf("postgres exited: %s", lastLines(string(b), 5))
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within 60s: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return s.addPasswordRole()
}

// connect opens s.admin on dsn and checks that it answers.
func (s *server) connect(dsn string) error {
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		return err
	}
	db.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return err
	}
	s.admin = db
	return nil
}

// addPasswordRole makes the role of PasswordDSN's databases.
func (s *server) addPasswordRole() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var exists bool
	if err := s.admin.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, passwordRole).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	_, err := s.admin.ExecContext(ctx, `CREATE ROLE `+passwordRole+` LOGIN PASSWORD '`+Password+`'`)
	return err
}

// command prepares cmd to run as cred (nil: as this process's user),
// with a plain environment.
func (s *server) command(cmd *exec.Cmd, cred *syscall.Credential) *exec.Cmd {
	cmd.Dir = s.dir
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C.UTF-8", "HOME=" + s.dir}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	return cmd
}

// serverUser is who runs the server: nil (this process's user) unless
// this process is root, which PostgreSQL refuses; then the user nobody.
func serverUser() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("running as root, the server needs an unprivileged user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("user nobody: uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: false}, nil
}

// reachable checks that every directory above dir lets others through
// (the server's user is not this one).
func reachable(dir string) error {
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			return fmt.Errorf("the server's user cannot reach %s through %s (mode %v): set TMPDIR to a directory such as /tmp", dir, d, fi.Mode().Perm())
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// lastLines returns the last n lines of s, joined with " | ".
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// stop stops the server, if this binary started one, and removes its
// directory.
func stop() { srv.stop() }

func (s *server) stop() {
	if s.admin != nil {
		s.admin.Close()
		s.admin = nil
	}
	if s.cmd != nil && s.cmd.Process != nil && s.exit != nil {
		// Fast shutdown; immediate if that takes too long.
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exit:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-s.exit:
			case <-time.After(5 * time.Second):
				_ = s.cmd.Process.Kill()
				<-s.exit
			}
		}
	}
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}
