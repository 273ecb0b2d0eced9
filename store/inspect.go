package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
)

// sqliteMagic starts every SQLite database file.
const sqliteMagic = "SQLite format 3\x00"

// fileState is what the store learns about a database file before SQLite
// opens it: SQLite's own open of a WAL-mode file creates -wal and -shm
// files beside it, which a file the store then refuses must not be left
// with.
type fileState struct {
	exists bool
	size   int64
	empty  bool // zero bytes: a new database, ours to initialise
	wal    bool // the header says WAL mode
	// walExists: the -wal file exists, so a connection may be writing,
	// or one crashed with rows the main file lacks (walSize > 0).
	walExists bool
	walSize   int64
	shmExists bool
}

// readFileState reads the header of the file at path. A file that is not
// SQLite at all is refused here, before SQLite sees it, with ErrForeignDB.
func readFileState(path string) (fileState, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileState{}, nil
	}
	if err != nil {
		return fileState{}, fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fileState{}, fmt.Errorf("store: %w", err)
	}
	if fi.IsDir() {
		return fileState{}, fmt.Errorf("store: %s is a directory, not a database file", path)
	}
	st := fileState{exists: true, size: fi.Size()}
	var hdr [100]byte
	n, err := io.ReadFull(f, hdr[:])
	switch {
	case n == 0 && errors.Is(err, io.EOF):
		st.empty = true
		return st, nil
	case err != nil && !errors.Is(err, io.ErrUnexpectedEOF):
		return fileState{}, fmt.Errorf("store: read %s: %w", path, err)
	case n < len(hdr) || string(hdr[:len(sqliteMagic)]) != sqliteMagic:
		return fileState{}, fmt.Errorf("store: %s is %w: it is not a SQLite file", path, ErrForeignDB)
	}
	// Bytes 18 and 19 are the write and read format versions: 2 is WAL.
	st.wal = hdr[18] == 2 || hdr[19] == 2
	if fi, err := os.Stat(path + "-wal"); err == nil {
		st.walExists, st.walSize = true, fi.Size()
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fileState{}, fmt.Errorf("store: %w", err)
	}
	if _, err := os.Stat(path + "-shm"); err == nil {
		st.shmExists = true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fileState{}, fmt.Errorf("store: %w", err)
	}
	return st, nil
}

// immutable reports whether the file is to be read with SQLite's
// immutable=1: a WAL-mode file without a -wal file (or with an empty one)
// and without a -shm file, which therefore holds every committed row and
// has no connection writing it. Immutable readers take no locks and
// create nothing: a plain reader could not create the -wal and -shm in a
// read-only directory, would leave them behind in a writable one (a
// read-only connection may not checkpoint and delete them), and must not
// create them beside a file it may refuse (see inspectFile). A -shm file
// means a connection may have the file open (a daemon that has written
// nothing since it started leaves an empty -wal): an immutable reader
// would not see its checkpoints rewrite the file's pages, and would report
// a healthy database damaged; a plain read-only reader can use that -shm
// even where it cannot write it.
func (st fileState) immutable() bool {
	return st.wal && (!st.walExists || st.walSize == 0) && !st.shmExists
}

// unreadable returns an error if SQLite cannot read the file without
// creating files beside it and creating them is impossible: a -wal file
// with rows in it, whose index (-shm) is missing, in a read-only directory.
func (st fileState) unreadable(path string, mayCreate bool) error {
	if !st.wal || st.walSize == 0 || st.shmExists || mayCreate {
		return nil
	}
	return &readOnlyError{path: path, why: "its -wal file holds rows, its -shm file is missing and the directory is read-only, " +
		"so SQLite cannot read it here; open it once where it can be written (parkd serve does), or copy it with its -wal file to such a place"}
}

// quickCheckMax is the largest file the CLI's opens (OpenReadOnly,
// OpenExisting) run quick_check on: it reads every page, about half a
// second per 100 MiB, which the daemon's start can afford and a slots
// command on a year of history should not pay. Beyond it they rely on
// every read classifying the damage it meets (see DB.damaged).
var quickCheckMax int64 = 64 << 20

// inspectFile returns the schema version of the existing, non-empty
// database at path, or an error if it is not a parkd database this binary
// can use (ErrForeignDB, ErrNewerSchema) or is damaged (ErrCorrupt). With
// quick it also runs SQLite's quick_check over every page. It only reads,
// through a connection of its own that it closes; for a WAL-mode file with
// no -wal file that connection is immutable, so a refused file is left
// with no -wal or -shm beside it.
//
// An immutable read assumes no other connection writes meanwhile. None was
// open when readFileState found no -wal file; one that opens during the
// inspection and checkpoints before it ends could make it misread, which
// fails safe (an open refused, to be retried), never a write.
func inspectFile(ctx context.Context, path string, st fileState, migs []migration, quick bool) (int, error) {
	params := "mode=ro&_busy_timeout=5000"
	if st.immutable() {
		params += "&immutable=1"
	} else if err := st.unreadable(path, dirWritable(path)); err != nil {
		return 0, err
	}
	r, err := sql.Open("sqlite3", dsn(path, params))
	if err != nil {
		return 0, fmt.Errorf("store: open %s: %w", path, err)
	}
	defer r.Close()
	r.SetMaxOpenConns(1)
	version, err := inspect(ctx, &pool{db: r, eng: newEngine(SQLite)}, path, migs)
	if err == nil && quick {
		err = quickCheck(ctx, &pool{db: r, eng: newEngine(SQLite)}, path)
	}
	if err != nil {
		return 0, err
	}
	return version, r.Close()
}

// inspect returns the schema version of the database behind r, or an error if
// it is not a parkd database this binary can use. It only reads.
func inspect(ctx context.Context, r *pool, path string, migs []migration) (int, error) {
	tables, err := tableNames(ctx, r, r.eng)
	if isCorrupt(err) {
		// The header said SQLite (readFileState): so the file is damaged.
		return 0, classify(path, err)
	}
	if err != nil {
		return 0, fmt.Errorf("store: open %s: %w", path, err)
	}
	if len(tables) == 0 {
		// An empty SQLite file is ours to initialise, unless pages that
		// are neither the schema's nor free say the schema was damaged.
		var used int
		err := r.QueryRowContext(ctx, `SELECT (SELECT page_count FROM pragma_page_count) - (SELECT freelist_count FROM pragma_freelist_count)`).Scan(&used)
		switch {
		case isCorrupt(err):
			return 0, classify(path, err)
		case err != nil:
			return 0, fmt.Errorf("store: open %s: %w", path, err)
		case used > 1:
			return 0, &corruptError{path: path, cause: fmt.Errorf("no tables, but %d pages in use", used)}
		}
		return 0, nil
	}
	if !slices.Contains(tables, "schema_migrations") {
		return 0, fmt.Errorf("store: %s is %w (found tables: %s)", path, ErrForeignDB, strings.Join(tables, ", "))
	}
	version, err := checkApplied(ctx, r, r.eng, migs)
	if isCorrupt(err) {
		return 0, classify(path, err)
	}
	if err != nil {
		return 0, fmt.Errorf("store: %s: %w", path, err)
	}
	return version, nil
}

// quickCheck runs SQLite's quick_check, which reads every page and checks
// its structure (not the indexes' agreement with their tables, which
// integrity_check adds at many times the cost), and returns a corruption
// error for path unless it says ok.
func quickCheck(ctx context.Context, q querier, path string) error {
	rows, err := q.QueryContext(ctx, `PRAGMA quick_check(3)`)
	if err != nil {
		if isCorrupt(err) {
			return classify(path, err)
		}
		return fmt.Errorf("store: %s: quick_check: %w", path, err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return classify(path, fmt.Errorf("store: %s: quick_check: %w", path, err))
		}
		problems = append(problems, line)
	}
	if err := rows.Err(); err != nil {
		if isCorrupt(err) {
			return classify(path, err)
		}
		return fmt.Errorf("store: %s: quick_check: %w", path, err)
	}
	if len(problems) == 1 && problems[0] == "ok" {
		return nil
	}
	return &corruptError{path: path, cause: fmt.Errorf("quick_check: %s", strings.Join(problems, "; "))}
}

// accessWrite is access(2)'s W_OK.
const accessWrite = 0x2

// checkWritable returns nil if this process can write the database at path
// and create the -wal and -shm files SQLite keeps beside it; otherwise an
// error that says why: the filesystem is read-only (ErrReadOnly, even for
// root), the file or the directory is not writable by this user
// (ErrReadOnly), or the directory does not exist (fs.ErrNotExist). It
// changes nothing.
func checkWritable(path string, st fileState) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("store: %s: the directory %s does not exist: %w", path, dir, fs.ErrNotExist)
	case err != nil:
		return fmt.Errorf("store: %s: %w", path, err)
	case !fi.IsDir():
		return fmt.Errorf("store: %s: %s is not a directory", path, dir)
	}
	check := func(name, what string) error {
		switch err := syscall.Access(name, accessWrite); {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EROFS):
			return &readOnlyError{path: path, why: "the filesystem is read-only", cause: err}
		case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
			return &readOnlyError{path: path, why: what, cause: err}
		case errors.Is(err, syscall.ENOENT):
			return nil // gone since: SQLite will create it
		default:
			return fmt.Errorf("store: %s: %w", path, err)
		}
	}
	if err := check(dir, "the directory "+dir+" is not writable by this user"); err != nil {
		return err
	}
	if !st.exists {
		return nil
	}
	if err := check(path, "the file is read-only for this user"); err != nil {
		return err
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := check(path+suffix, "the file "+path+suffix+" is read-only for this user"); err != nil {
			return err
		}
	}
	return nil
}

// dirWritable reports whether this process could create files beside path.
func dirWritable(path string) bool {
	return syscall.Access(filepath.Dir(path), accessWrite) == nil
}
