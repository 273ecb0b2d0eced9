package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-sqlite3"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// dirFiles returns the name and content of every file in dir.
func dirFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = b
	}
	return out
}

// sameFiles fails the test unless dir holds exactly the files of before,
// byte for byte.
func sameFiles(t *testing.T, dir string, before map[string][]byte) {
	t.Helper()
	after := dirFiles(t, dir)
	if got, want := slices.Sorted(maps.Keys(after)), slices.Sorted(maps.Keys(before)); !slices.Equal(got, want) {
		t.Fatalf("directory holds %v, want %v as found", got, want)
	}
	for name, b := range before {
		if !bytes.Equal(after[name], b) {
			t.Fatalf("%s modified", name)
		}
	}
}

// makeParkdDB creates a closed parkd database at path holding n calls that
// were parked and retrieved and one still parked.
func makeParkdDB(t *testing.T, path string, n int) {
	t.Helper()
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		call := parking.CallID(fmt.Sprintf("call-%04d", i))
		at := t0.Add(time.Duration(i) * time.Minute)
		MustRecord(t, db, Parked(call, "main", 701+i%20, at))
		MustRecord(t, db, Retrieved(call, "main", 701+i%20, at, 30*time.Second))
	}
	MustRecord(t, db, Parked("call-held", "main", 799, t0))
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("-wal left after Close: %v", err)
	}
}

// rootPage returns the first page of table or index name in the database at
// path, read with a connection of the test's own.
func rootPage(t *testing.T, path, name string) int {
	t.Helper()
	raw := RawDB(t, path)
	var page int
	if err := raw.QueryRow(`SELECT rootpage FROM sqlite_master WHERE name = ?`, name).Scan(&page); err != nil {
		t.Fatal(err)
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}
	return page
}

// garble writes random bytes over page (numbered from 1) of the database
// file at path, as a failing disk or a stray write would.
func garble(t *testing.T, path string, page int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	size := int(binary.BigEndian.Uint16(b[16:18]))
	if size == 1 {
		size = 65536
	}
	if page < 2 || page*size > len(b) {
		t.Fatalf("page %d outside the file's %d pages", page, len(b)/size)
	}
	r := rand.New(rand.NewPCG(uint64(page), 42))
	for i := (page - 1) * size; i < page*size; i++ {
		b[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Ensure a parkd database with a damaged page is refused as damaged by every
// way of opening it, with a message that says how to recover it, and is
// left byte for byte as it was with nothing beside it.
func TestOpen_Corrupt(t *testing.T) {
	pristine := filepath.Join(t.TempDir(), "parkd.db")
	makeParkdDB(t, pristine, 300)
	good, err := os.ReadFile(pristine)
	if err != nil {
		t.Fatal(err)
	}
	pages := len(good) / int(binary.BigEndian.Uint16(good[16:18]))
	if pages < 10 {
		t.Fatalf("test database has %d pages, want a few more", pages)
	}

	page := func(n func(path string) int) func(t *testing.T, path string) {
		return func(t *testing.T, path string) { garble(t, path, n(path)) }
	}
	for _, tt := range []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"Page2", page(func(string) int { return 2 })},
		{"HistoryRoot", page(func(path string) int { return rootPage(t, path, "history") })},
		{"OccupancyRoot", page(func(path string) int { return rootPage(t, path, "occupancy") })},
		{"MiddlePage", page(func(string) int { return pages / 2 })},
		{"LastPage", page(func(string) int { return pages })},
		// The schema's page reads as a valid, empty one: the file looks
		// like a new database, which Open would initialise.
		{"SchemaEmptied", emptySchema},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "parkd.db")
			if err := os.WriteFile(path, good, 0o600); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, path)
			before := dirFiles(t, dir)

			opens := []struct {
				name string
				open func() error
			}{
				{"Open", func() error {
					db := store.NewDB(path)
					err := db.Open()
					db.Close()
					return err
				}},
				{"OpenReadOnly", func() error {
					db, err := store.OpenReadOnly(path)
					if err == nil {
						db.Close()
					}
					return err
				}},
				{"OpenExisting", func() error {
					db, err := store.OpenExisting(path)
					if err == nil {
						db.Close()
					}
					return err
				}},
				{"CheckOpen", func() error { return store.CheckOpen(path) }},
			}
			for _, o := range opens {
				err := o.open()
				if !errors.Is(err, store.ErrCorrupt) {
					t.Fatalf("%s err=%v, want %v", o.name, err, store.ErrCorrupt)
				}
				for _, want := range []string{
					path + " is damaged",
					"parkd has not changed it",
					`sqlite3 ` + path + ` ".recover" | sqlite3 ` + filepath.Join(dir, "parkd-recovered.db"),
					"keep the damaged file",
				} {
					if !strings.Contains(err.Error(), want) {
						t.Fatalf("%s err=%q, want it to contain %q", o.name, err, want)
					}
				}
				sameFiles(t, dir, before)
			}
		})
	}
}

// emptySchema rewrites the b-tree header of page 1, the root of the schema
// table, to that of an empty leaf page (type 0x0d, no cells).
func emptySchema(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	copy(b[100:108], []byte{0x0d, 0, 0, 0, 0, b[16], b[17], 0})
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// Ensure a file whose schema page was damaged into an empty one is refused
// as damaged, not taken for a new database, by a reader of a file too large
// for quick_check on open.
func TestOpenReadOnly_SchemaEmptied(t *testing.T) {
	store.SetQuickCheckMax(t, 0)
	dir := t.TempDir()
	path := filepath.Join(dir, "parkd.db")
	makeParkdDB(t, path, 30)
	emptySchema(t, path)
	before := dirFiles(t, dir)
	db, err := store.OpenReadOnly(path)
	if !errors.Is(err, store.ErrCorrupt) {
		if db != nil {
			db.Close()
		}
		t.Fatalf("err=%v, want %v", err, store.ErrCorrupt)
	}
	if want := "no tables, but"; !strings.Contains(err.Error(), want) {
		t.Fatalf("err=%q, want it to say %q", err, want)
	}
	sameFiles(t, dir, before)
}

// Ensure a read that meets a damaged page fails with ErrCorrupt, wrapping
// SQLite's error, whatever opened the file: damage can appear after Open
// checked it, and a reader must not take a damaged table for an empty one.
func TestDB_Reads_Corrupt(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		table string
		read  func(db *store.DB) error
	}{
		{"history", func(db *store.DB) error {
			_, err := db.History(ctx, store.HistoryFilter{})
			return err
		}},
		{"occupancy", func(db *store.DB) error {
			_, err := db.Parked(ctx)
			return err
		}},
		{"sessions", func(db *store.DB) error {
			_, err := db.Sessions(ctx, time.Time{}, time.Time{})
			return err
		}},
	} {
		t.Run(tt.table, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "parkd.db")
			makeParkdDB(t, path, 300)
			page := rootPage(t, path, tt.table)
			db, err := store.OpenReadOnly(path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			// The read pool connects on its first query, after the damage.
			garble(t, path, page)
			err = tt.read(db)
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("read err=%v, want %v", err, store.ErrCorrupt)
			}
			var se sqlite3.Error
			if !errors.As(err, &se) || se.Code != sqlite3.ErrCorrupt {
				t.Fatalf("err=%v, want it to wrap SQLITE_CORRUPT", err)
			}
		})
	}
}

// Ensure refusing a file leaves its directory exactly as it was found: no
// -wal or -shm file appears beside a WAL-mode foreign database or a
// database of a newer parkd, whatever way it is opened.
func TestOpen_Refuses_NoLitter(t *testing.T) {
	for _, tt := range []struct {
		name   string
		make   func(t *testing.T, path string)
		target error
	}{
		{"ForeignWAL", func(t *testing.T, path string) {
			raw := RawDB(t, path)
			if _, err := raw.Exec(`PRAGMA journal_mode = WAL; CREATE TABLE foo (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO foo (v) VALUES ('keep me')`); err != nil {
				t.Fatal(err)
			}
			if err := raw.Close(); err != nil {
				t.Fatal(err)
			}
		}, store.ErrForeignDB},
		{"NewerSchema", func(t *testing.T, path string) {
			makeParkdDB(t, path, 1)
			raw := RawDB(t, path)
			if _, err := raw.Exec(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '0099_future.sql', '2030-01-01T00:00:00.000Z')`); err != nil {
				t.Fatal(err)
			}
			if err := raw.Close(); err != nil {
				t.Fatal(err)
			}
		}, store.ErrNewerSchema},
		{"NotSQLite", func(t *testing.T, path string) {
			if err := os.WriteFile(path, bytes.Repeat([]byte("not a database\n"), 500), 0o600); err != nil {
				t.Fatal(err)
			}
		}, store.ErrForeignDB},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "parkd.db")
			tt.make(t, path)
			if b, err := os.ReadFile(path); err != nil {
				t.Fatal(err)
			} else if tt.name != "NotSQLite" && b[18] != 2 {
				t.Fatalf("test file is not in WAL mode (header byte 18 = %d)", b[18])
			}
			before := dirFiles(t, dir)
			if len(before) != 1 {
				t.Fatalf("test directory holds %v, want the database alone", slices.Sorted(maps.Keys(before)))
			}
			if err := store.NewDB(path).Open(); !errors.Is(err, tt.target) {
				t.Fatalf("Open err=%v, want %v", err, tt.target)
			}
			sameFiles(t, dir, before)
			if db, err := store.OpenReadOnly(path); !errors.Is(err, tt.target) {
				if db != nil {
					db.Close()
				}
				t.Fatalf("OpenReadOnly err=%v, want %v", err, tt.target)
			}
			sameFiles(t, dir, before)
			if db, err := store.OpenExisting(path); !errors.Is(err, tt.target) {
				if db != nil {
					db.Close()
				}
				t.Fatalf("OpenExisting err=%v, want %v", err, tt.target)
			}
			sameFiles(t, dir, before)
			if err := store.CheckOpen(path); !errors.Is(err, tt.target) {
				t.Fatalf("CheckOpen err=%v, want %v", err, tt.target)
			}
			sameFiles(t, dir, before)
		})
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
	if err := os.WriteFile(filepath.Join(mnt, "probe"), nil, 0o600); err == nil {
		t.Fatal("the read-only mount accepted a write")
	}
	return mnt
}

// Ensure the readers read a database on a read-only filesystem, and Open,
// OpenExisting and CheckOpen say the filesystem is read-only instead of
// failing to open the file.
func TestOpen_ReadOnlyFilesystem(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	makeParkdDB(t, filepath.Join(src, "parkd.db"), 3)
	mnt := roBindMount(t, src)
	path := filepath.Join(mnt, "parkd.db")
	before := dirFiles(t, mnt)

	db, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	if got, want := HistoryLen(t, db), 7; got != want {
		t.Fatalf("history=%d, want %d", got, want)
	}
	parked, err := db.Parked(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(parked), 1; got != want {
		t.Fatalf("parked=%d, want %d", got, want)
	}
	if _, err := db.Report(ctx, store.ReportQuery{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	wantRO := func(name string, err error) {
		t.Helper()
		if !errors.Is(err, store.ErrReadOnly) {
			t.Fatalf("%s err=%v, want %v", name, err, store.ErrReadOnly)
		}
		if got, want := err.Error(), "store: "+path+": the filesystem is read-only"; got != want {
			t.Fatalf("%s err=%q, want %q", name, got, want)
		}
	}
	err = store.NewDB(path).Open()
	wantRO("Open", err)
	_, err = store.OpenExisting(path)
	wantRO("OpenExisting", err)
	wantRO("CheckOpen", store.CheckOpen(path))
	sameFiles(t, mnt, before)

	// A new database on the read-only filesystem.
	path = filepath.Join(mnt, "new.db")
	wantRO("Open new", store.NewDB(path).Open())
	wantRO("CheckOpen new", store.CheckOpen(path))
	sameFiles(t, mnt, before)
}

// Ensure the readers read a read-only file in a read-only directory, and
// Open and CheckOpen say what is read-only. Root may write such files, so
// this runs only for other users (TestOpen_ReadOnlyFilesystem covers root).
func TestOpen_ReadOnlyFileAndDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write a read-only file and directory; see TestOpen_ReadOnlyFilesystem")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "parkd.db")
	makeParkdDB(t, path, 3)
	if err := os.Chmod(path, 0o444); err != nil {
		t.Fatal(err)
	}
	err := store.NewDB(path).Open()
	if got, want := fmt.Sprint(err), "store: "+path+": the file is read-only for this user"; !errors.Is(err, store.ErrReadOnly) || got != want {
		t.Fatalf("Open err=%v, want %q (ErrReadOnly)", err, want)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })
	before := dirFiles(t, dir)
	db, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatalf("OpenReadOnly: %v", err)
	}
	if got, want := HistoryLen(t, db), 7; got != want {
		t.Fatalf("history=%d, want %d", got, want)
	}
	db.Close()
	err = store.CheckOpen(path)
	if want := "is not writable by this user"; !errors.Is(err, store.ErrReadOnly) || !strings.Contains(fmt.Sprint(err), want) {
		t.Fatalf("CheckOpen err=%v, want ErrReadOnly saying %q", err, want)
	}
	sameFiles(t, dir, before)
}

// Ensure CheckOpen passes what Open will open and refuses, with Open's
// errors, what it will not, and never creates or changes anything.
func TestCheckOpen(t *testing.T) {
	t.Run("NewFile", func(t *testing.T) {
		dir := t.TempDir()
		if err := store.CheckOpen(filepath.Join(dir, "parkd.db")); err != nil {
			t.Fatal(err)
		}
		sameFiles(t, dir, map[string][]byte{})
	})
	t.Run("ParkdDB", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "parkd.db")
		makeParkdDB(t, path, 3)
		before := dirFiles(t, dir)
		if err := store.CheckOpen(path); err != nil {
			t.Fatal(err)
		}
		sameFiles(t, dir, before)
	})
	t.Run("OlderSchema", func(t *testing.T) {
		// Open migrates it, so it passes.
		dir := t.TempDir()
		path := filepath.Join(dir, "parkd.db")
		if err := store.MigrateTo(path, 1); err != nil {
			t.Fatal(err)
		}
		before := dirFiles(t, dir)
		if err := store.CheckOpen(path); err != nil {
			t.Fatal(err)
		}
		sameFiles(t, dir, before)
	})
	t.Run("MissingDirectory", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "nope")
		path := filepath.Join(dir, "parkd.db")
		err := store.CheckOpen(path)
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("err=%v, want %v", err, fs.ErrNotExist)
		}
		if got, want := err.Error(), "store: "+path+": the directory "+dir+" does not exist"; !strings.HasPrefix(got, want) {
			t.Fatalf("err=%q, want %q", got, want)
		}
		// Open says the same.
		if err := store.NewDB(path).Open(); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Open err=%v, want %v", err, fs.ErrNotExist)
		}
		if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("directory created: %v", err)
		}
	})
	t.Run("DirectoryIsAFile", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "file")
		if err := os.WriteFile(file, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		err := store.CheckOpen(filepath.Join(file, "parkd.db"))
		if err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Fatalf("err=%v, want it to say %s is not a directory", err, file)
		}
	})
	t.Run("PathIsADirectory", func(t *testing.T) {
		path := t.TempDir()
		if err := store.CheckOpen(path); err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Fatalf("err=%v, want it to say %s is a directory", err, path)
		}
	})
	// Foreign, newer and not-SQLite files: TestOpen_Refuses_NoLitter;
	// damaged ones: TestOpen_Corrupt; read-only ones:
	// TestOpen_ReadOnlyFilesystem and TestOpen_ReadOnlyFileAndDir.
}

// Ensure the readers read, on a read-only filesystem, a database a daemon
// left with its -wal file (rows the main file lacks), and say clearly why
// they cannot when SQLite has no -shm file to read that -wal with.
func TestOpenReadOnly_ReadOnlyFilesystemWAL(t *testing.T) {
	// snapshot copies the files of a database a daemon has open, with
	// rows in its -wal, to a new directory mounted read-only, leaving out
	// those in skip, and returns the database's path there.
	snapshot := func(t *testing.T, skip ...string) string {
		t.Helper()
		src := t.TempDir()
		path := filepath.Join(src, "parkd.db")
		db := MustOpenPath(t, path)
		MustRecord(t, db, Parked("call-1", "main", 701, t0))
		dst := t.TempDir()
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if slices.Contains(skip, suffix) {
				continue
			}
			b, err := os.ReadFile(path + suffix)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dst, "parkd.db"+suffix), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		return filepath.Join(roBindMount(t, dst), "parkd.db")
	}

	t.Run("WithShm", func(t *testing.T) {
		path := snapshot(t)
		db, err := store.OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		if got, want := HistoryLen(t, db), 1; got != want {
			t.Fatalf("history=%d, want %d (the row in the -wal)", got, want)
		}
	})
	t.Run("WithoutShm", func(t *testing.T) {
		path := snapshot(t, "-shm")
		db, err := store.OpenReadOnly(path)
		if err == nil {
			db.Close()
		}
		if !errors.Is(err, store.ErrReadOnly) || !strings.Contains(err.Error(), "its -shm file is missing and the directory is read-only") {
			t.Fatalf("err=%v, want ErrReadOnly saying the -shm is missing", err)
		}
	})
}

// Ensure OpenExisting, which the CLI's writing commands use, refuses a
// damaged file too large for the readers' quick_check: a note written
// beside a damaged page succeeded and changed the file that .recover
// needs as it was.
func TestOpenExisting_CorruptBeyondQuickCheckMax(t *testing.T) {
	store.SetQuickCheckMax(t, 1) // every test file is larger
	dir := t.TempDir()
	path := filepath.Join(dir, "parkd.db")
	makeParkdDB(t, path, 300)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	garble(t, path, len(b)/int(binary.BigEndian.Uint16(b[16:18]))/2)
	before := dirFiles(t, dir)
	db, err := store.OpenExisting(path)
	if err == nil {
		_, nerr := db.AddNote(context.Background(), "", "main", 799, "a note", t0)
		db.Close()
		t.Fatalf("OpenExisting opened a damaged file (AddNote err=%v)", nerr)
	}
	if !errors.Is(err, store.ErrCorrupt) {
		t.Fatalf("OpenExisting err=%v, want %v", err, store.ErrCorrupt)
	}
	sameFiles(t, dir, before)
}

// Ensure a reader that cannot write the directory (a parkd-group reader,
// a read-only mount) reads a database a daemon has open through SQLite's
// locks, not as immutable: a daemon that had written nothing since it
// started left an empty -wal, the reader took the file as immutable, and
// once the daemon's writes were checkpointed into the file it reported
// the healthy database as damaged.
func TestOpenReadOnly_DaemonIdleSinceStart(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "parkd.db")
	makeParkdDB(t, path, 50)
	ro := filepath.Join(roBindMount(t, dir), "parkd.db")
	// The daemon closes before the mount goes (cleanups run last first):
	// SQLite keeps a closed reader's descriptor while another connection
	// of the process holds the same file.
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if fi, err := os.Stat(path + "-wal"); err != nil || fi.Size() != 0 {
		t.Fatalf("daemon idle since start: -wal %v, %v; want an empty one", fi, err)
	}

	r, err := store.OpenReadOnly(ro)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, want := HistoryLen(t, r), 101; got != want {
		t.Fatalf("history=%d, want %d", got, want)
	}
	// Enough rows for SQLite's automatic checkpoint (1000 pages) to
	// write them into the database file under the reader.
	for i := range 3000 {
		call := parking.CallID(fmt.Sprintf("new-%04d", i))
		at := t0.Add(time.Duration(i) * time.Minute)
		MustRecord(t, db, Parked(call, "main", 701+i%20, at))
		MustRecord(t, db, Retrieved(call, "main", 701+i%20, at, 30*time.Second))
	}
	if _, err := r.Sessions(context.Background(), time.Time{}, time.Time{}); err != nil {
		t.Fatalf("Sessions: %v", err)
	}
	if got, want := HistoryLen(t, r), 6101; got != want {
		t.Fatalf("history=%d, want %d", got, want)
	}
}

// Ensure Open calls BeforeWrite only for a file it will use, before it
// writes anything, and stops on its error.
func TestOpen_BeforeWrite(t *testing.T) {
	dir := t.TempDir()
	foreign := filepath.Join(dir, "foreign.db")
	if err := os.WriteFile(foreign, []byte("not a database at all, not even close"), 0o600); err != nil {
		t.Fatal(err)
	}
	called := false
	db := store.NewDB(foreign)
	db.BeforeWrite = func() error { called = true; return nil }
	if err := db.Open(); !errors.Is(err, store.ErrForeignDB) || called {
		t.Fatalf("foreign file: Open=%v, BeforeWrite called=%v; want ErrForeignDB and no call", err, called)
	}

	path := filepath.Join(dir, "parkd.db")
	errLocked := errors.New("locked")
	db = store.NewDB(path)
	db.BeforeWrite = func() error {
		if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("BeforeWrite called after the file was created (%v)", err)
		}
		return errLocked
	}
	if err := db.Open(); !errors.Is(err, errLocked) {
		t.Fatalf("Open=%v, want BeforeWrite's error", err)
	}
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open stopped by BeforeWrite created the file (%v)", err)
	}
}
