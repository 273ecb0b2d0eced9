package cli

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parkd/parkd/internal/testkit"
)

// damage writes garbage over the root page of table in the parkd database
// at path (closed), as a failing disk or a stray write would, and returns
// the file's bytes after.
func damage(t *testing.T, path, table string) []byte {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro&immutable=1") // leaves no -wal, no -shm
	if err != nil {
		t.Fatal(err)
	}
	var pageSize, root int64
	err = db.QueryRow("PRAGMA page_size").Scan(&pageSize)
	if err == nil {
		err = db.QueryRow("SELECT rootpage FROM sqlite_master WHERE name = ?", table).Scan(&root)
	}
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(bytes.Repeat([]byte{0xA5, 0x5A, 0x00, 0xFF}, int(pageSize)/4), (root-1)*pageSize); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Ensure every command that reads the database refuses a damaged one with
// the store's message (it says the file is damaged and how to recover),
// exits 1, and leaves the file as it was.
func TestCLI_DamagedDatabase(t *testing.T) {
	for _, table := range []string{"history", "occupancy"} {
		path := fixtureDB(t)
		before := damage(t, path, table)
		for _, args := range [][]string{
			{"slots"}, {"history"}, {"history", "--csv"}, {"report", "--from", "2026-11-01", "--to", "2026-11-03"},
			{"export"}, {"note", "reception", "302", "hi"},
		} {
			code, out, errOut := runCLI(t, append(args, "--db", path)...)
			if code != 1 || out != "" || !bytes.Contains([]byte(errOut), []byte("damaged")) ||
				!bytes.Contains([]byte(errOut), []byte(".recover")) {
				t.Errorf("%s damaged, %q: exit %d\nstdout: %s\nstderr: %s", table, args, code, out, errOut)
			}
		}
		cfg := writeFile(t, "p.toml", fmt.Sprintf("[esl]\nlisten = %q\n[store]\npath = %q\n", testkit.FreeAddr(t), path))
		for _, cmd := range []string{"serve", "check"} {
			code, _, errOut := runCLI(t, cmd, "-c", cfg)
			if code != 1 || !strings.Contains(errOut, "damaged") || !strings.Contains(errOut, ".recover") {
				t.Errorf("%s damaged, %s: exit %d\nstderr: %s", table, cmd, code, errOut)
			}
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Errorf("%s damaged: the file was modified", table)
		}
		if names := testkit.DirNames(t, filepath.Dir(path)); !slices.Equal(names, []string{filepath.Base(path)}) {
			t.Errorf("%s damaged: the directory holds %v afterwards, want the database alone", table, names)
		}
	}
}

// roBindMount mounts dir read-only at a new directory and returns it, or
// skips the test where that is not possible (not root, no mount
// privilege). The mount is undone when the test ends.
func roBindMount(t *testing.T, dir string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a read-only bind mount needs root")
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "--bind", dir, mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot bind-mount (%v: %s)", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", mnt, err, out)
		}
	})
	if out, err := exec.Command("mount", "-o", "remount,ro,bind", mnt).CombinedOutput(); err != nil {
		t.Skipf("cannot remount read-only (%v: %s)", err, out)
	}
	return mnt
}

// readCommands are the commands that only read the database, with the
// output that shows each read it.
var readCommands = []struct {
	args []string
	out  string
}{
	{[]string{"slots"}, "Ana Silva"},
	{[]string{"history", "--call", "call-i"}, "parked"},
	{[]string{"report", "--from", "2026-11-01", "--to", "2026-11-03", "--tz", "UTC"}, "TOTAL"},
	{[]string{"export"}, "call-i"},
}

// Ensure the read commands read a database in a read-only file and
// directory, and on a read-only mount (where note says the filesystem is
// read-only), and leave the file as it was.
func TestCLI_ReadOnlyDatabase(t *testing.T) {
	run := func(t *testing.T, path string) {
		t.Helper()
		before, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range readCommands {
			code, out, errOut := runCLI(t, append(c.args, "--db", path)...)
			if code != 0 || !strings.Contains(out, c.out) {
				t.Errorf("%q: exit %d\nstdout: %s\nstderr: %s", c.args, code, out, errOut)
			}
		}
		if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
			t.Error("reading modified the database")
		}
	}
	t.Run("file", func(t *testing.T) {
		path := fixtureDB(t)
		dir := filepath.Dir(path)
		if err := os.Chmod(path, 0o444); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, 0o555); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(dir, 0o755) })
		run(t, path)
	})
	t.Run("mount", func(t *testing.T) {
		path := fixtureDB(t)
		mnt := roBindMount(t, filepath.Dir(path))
		ro := filepath.Join(mnt, filepath.Base(path))
		run(t, ro)
		code, _, errOut := runCLI(t, "note", "--db", ro, "reception", "302", "hi")
		if code != 1 || !strings.Contains(errOut, "read-only") || strings.Count(errOut, "\n") != 1 {
			t.Errorf("note on a read-only mount: exit %d, stderr %q", code, errOut)
		}
		cfg := writeFile(t, "ro.toml", fmt.Sprintf("[esl]\nlisten = %q\n[store]\npath = %q\n", testkit.FreeAddr(t), ro))
		code, _, errOut = runCLI(t, "serve", "-c", cfg)
		if want := "store: " + ro + ": the filesystem is read-only"; code != 1 || !strings.HasPrefix(errOut, "parkd: "+want) {
			t.Errorf("serve on a read-only mount: exit %d, stderr %q, want %q", code, errOut, want)
		}
	})
}
