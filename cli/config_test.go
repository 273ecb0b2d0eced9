package cli

import (
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
)

// noDefaultConfig clears $PARKD_CONFIG, and skips the test on a host where
// conf.DefaultPath exists (a host with parkd installed).
func noDefaultConfig(t *testing.T) {
	t.Helper()
	t.Setenv(conf.EnvPath, "")
	if _, err := os.Stat(conf.DefaultPath); err == nil {
		t.Skipf("%s exists on this host", conf.DefaultPath)
	}
}

// Ensure serve refuses to start without a configuration file, saying where
// it looked and how to run on the defaults, and that --defaults and -c
// exclude each other.
func TestCLI_ServeNeedsConfig(t *testing.T) {
	noDefaultConfig(t)
	code, out, errOut := runCLI(t, "serve")
	if code != 1 || out != "" || strings.Count(errOut, "\n") != 1 ||
		!strings.Contains(errOut, conf.DefaultPath) || !strings.Contains(errOut, "--defaults") {
		t.Fatalf("serve without a config: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	missing := filepath.Join(t.TempDir(), "gone.toml")
	t.Setenv(conf.EnvPath, missing)
	if code, _, errOut := runCLI(t, "serve"); code != 1 || !strings.Contains(errOut, conf.EnvPath+"="+missing) {
		t.Fatalf("serve with $%s missing: exit %d: %s", conf.EnvPath, code, errOut)
	}
	if code, _, errOut := runCLI(t, "serve", "-c", missing, "--defaults"); code != 2 || !strings.Contains(errOut, "exclude") {
		t.Fatalf("serve -c --defaults: exit %d: %s", code, errOut)
	}
}

// Ensure every command reads $PARKD_CONFIG when no -c is given, finds a
// relative store.path beside the configuration from any directory, and
// that the read commands without a configuration ask for -c or --db.
func TestCLI_ConfigFromEnvironment(t *testing.T) {
	db := fixtureDB(t)
	cfg := filepath.Join(filepath.Dir(db), "parkd.toml")
	if err := os.WriteFile(cfg, []byte("[store]\npath = \"fixture.db\"\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	t.Setenv(conf.EnvPath, cfg)
	for _, args := range [][]string{{"slots"}, {"history", "--event", "note"}, {"note", "reception", "302", "VIP"}} {
		if code, _, errOut := runCLI(t, args...); code != 0 {
			t.Errorf("%q with $%s: exit %d: %s", args, conf.EnvPath, code, errOut)
		}
	}
	if code, out, _ := runCLI(t, "check"); code != 0 || !strings.Contains(out, "store "+db+": OK") {
		t.Errorf("check with $%s: exit %d\n%s", conf.EnvPath, code, out)
	}

	noDefaultConfig(t)
	code, _, errOut := runCLI(t, "slots")
	if code != 1 || !strings.Contains(errOut, conf.DefaultPath) || !strings.Contains(errOut, "--db") {
		t.Errorf("slots without a config: exit %d: %s", code, errOut)
	}
	if code, out, _ := runCLI(t, "fsconf", "--defaults"); code != 0 || !strings.Contains(out, "127.0.0.1:8084") {
		t.Errorf("fsconf --defaults: exit %d\n%s", code, out)
	}
}

// Ensure check tests what serve needs of the store (its directory exists,
// an existing file there is an intact parkd database), prints the absolute
// path it checked, and warns when the file with the password is readable
// by every user.
func TestCLI_CheckStore(t *testing.T) {
	config := func(t *testing.T, storePath string, mode os.FileMode) string {
		t.Helper()
		p := filepath.Join(t.TempDir(), "parkd.toml")
		content := "[esl]\npassword = \"s3cret\"\n[store]\npath = " + strconv.Quote(storePath) + "\n"
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
		return p
	}
	good := fixtureDB(t)
	damaged := fixtureDB(t)
	damage(t, damaged, "history")
	foreign := filepath.Join(t.TempDir(), "other.db")
	db, err := sql.Open("sqlite3", foreign)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE invoices (id INTEGER PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	newDir := t.TempDir()

	for _, tt := range []struct {
		name      string
		store     string
		mode      os.FileMode
		code      int
		out, err  string // in stdout, in stderr
		noWarning bool
	}{
		{name: "existing", store: good, mode: 0o640, code: 0, out: "store " + good + ": OK", noWarning: true},
		{name: "new file", store: filepath.Join(newDir, "parkd.db"), mode: 0o600, code: 0, out: "store " + filepath.Join(newDir, "parkd.db") + ": OK", noWarning: true},
		{name: "relative", store: "parkd.db", mode: 0o600, code: 0, out: "/parkd.db: OK", noWarning: true},
		{name: "world-readable", store: good, mode: 0o644, code: 0, out: ": OK", err: "every user can read it (mode 0644)"},
		{name: "no directory", store: filepath.Join(newDir, "missing", "parkd.db"), mode: 0o640, code: 1, err: filepath.Join(newDir, "missing")},
		{name: "damaged", store: damaged, mode: 0o640, code: 1, err: "damaged"},
		{name: "foreign", store: foreign, mode: 0o640, code: 1, err: "not a parkd database"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "check", "-c", config(t, tt.store, tt.mode))
			if code != tt.code || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) ||
				tt.noWarning && strings.Contains(errOut, "warning") {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, out, errOut)
			}
			if tt.code == 0 && !strings.Contains(out, "store /") {
				t.Fatalf("check does not print the absolute store path:\n%s", out)
			}
		})
	}
	if entries, _ := os.ReadDir(newDir); len(entries) != 0 {
		t.Errorf("check created %d file(s) in the store's directory", len(entries))
	}
}

// Ensure serve's configuration reloads from the file found at start, even
// when that file came from $PARKD_CONFIG rather than -c.
func TestServeConfig_ReloadsTheSameFile(t *testing.T) {
	cfg := writeFile(t, "parkd.toml", "[[lot]]\nname = \"main\"\nslots = \"201-220\"\n")
	t.Setenv(conf.EnvPath, cfg)
	fs := NewFlags("serve", "test", io.Discard)
	c, reload, err := serveConfig(fs, "", false)
	if err != nil || len(c.Lots) != 1 || c.Lots[0].Name != "main" {
		t.Fatalf("serveConfig: %v, lots %v", err, c.Lots)
	}
	if err := os.WriteFile(cfg, []byte("[[lot]]\nname = \"main\"\nslots = \"201-220\"\n[[lot]]\nname = \"vip\"\nslots = \"301-305\"\npark_code = \"*80\"\nretrieve_code = \"*81\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv(conf.EnvPath, "")
	if c, err := reload(); err != nil || len(c.Lots) != 2 {
		t.Fatalf("reload: %v, lots %v, want both lots of the edited file", err, c.Lots)
	}
	_, reload, err = serveConfig(fs, "", true)
	if c, rerr := reload(); err != nil || rerr != nil || len(c.Lots) != len(conf.Default().Lots) {
		t.Fatalf("reload with --defaults: %v %v, lots %v", err, rerr, c.Lots)
	}
}

// Ensure `parkd fsconf` writes the busy-lamp keys' extensions from the
// configuration, each lot's blf_prefix and lot key carried through, only
// with [blf] enabled.
func TestCLI_FsconfBLF(t *testing.T) {
	lots := `
[[lot]]
name = "main"
slots = "701-705"

[[lot]]
name = "vip"
slots = "201-202"
park_code = "*80"
retrieve_code = "*81"
blf_prefix = "valet+"
blf_lot = "name"
`
	off := writeFile(t, "off.toml", lots)
	if code, out, errOut := runCLI(t, "fsconf", "-c", off); code != 0 || strings.Contains(out, "parkd_action=key") {
		t.Fatalf("fsconf with [blf] off: exit %d, keys written?\n%s%s", code, out, errOut)
	}
	on := writeFile(t, "on.toml", "[blf]\nenabled = true\n"+lots)
	code, out, errOut := runCLI(t, "fsconf", "-c", on)
	if code != 0 {
		t.Fatalf("fsconf: exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		`<extension name="parkd_key_main">`, `expression="^park\+(70[1-5])$"`,
		`<extension name="parkd_lotkey_main">`, `expression="^park\+\*70$"`,
		`<extension name="parkd_key_vip">`, `expression="^valet\+(20[1-2])$"`,
		`<extension name="parkd_lotkey_vip">`, `expression="^valet\+vip$"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("fsconf output lacks %s\n%s", want, out)
		}
	}
}

// Ensure check, with [blf] on, warns when the running switch has
// mod_valet_parking loaded (it would answer the park+ probes itself), says
// so plainly when the switch is fine or cannot be reached, and never shows
// the password.
func TestCLI_CheckValet(t *testing.T) {
	config := func(t *testing.T, addr string) string {
		t.Helper()
		p := filepath.Join(t.TempDir(), "parkd.toml")
		content := "[esl]\nfreeswitch = " + strconv.Quote(addr) + "\npassword = \"ClueCon\"\n" +
			"[store]\npath = " + strconv.Quote(filepath.Join(t.TempDir(), "parkd.db")) + "\n[blf]\nenabled = true\n"
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	loaded := fstest.Start(t, fstest.Options{Valet: true})
	clean := fstest.Start(t, fstest.Options{})
	for _, tt := range []struct {
		name, addr, out, err string
	}{
		{name: "valet loaded", addr: loaded.Addr(), out: "store ", err: "warning: FreeSWITCH at " + loaded.Addr() + ": mod_valet_parking is loaded"},
		{name: "valet not loaded", addr: clean.Addr(), out: "mod_valet_parking is not loaded"},
		{name: "switch down", addr: "127.0.0.1:1", out: "FreeSWITCH at 127.0.0.1:1: not checked"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "check", "-c", config(t, tt.addr))
			if code != 0 || !strings.Contains(out, tt.out) || !strings.Contains(errOut, tt.err) ||
				tt.err == "" && strings.Contains(errOut, "warning") || strings.Contains(out+errOut, "ClueCon") {
				t.Fatalf("exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
		})
	}
}
