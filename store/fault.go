package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// corruptError is a database file SQLite found damaged. Its message says
// how to recover the rows with the sqlite3 shell, naming the real paths.
type corruptError struct {
	path  string
	cause error // SQLite's error or quick_check's report
}

func (e *corruptError) Error() string {
	recovered := recoveredPath(e.path)
	return fmt.Sprintf("store: %s is damaged (%v); parkd has not changed it. "+
		"To recover what it holds: sqlite3 %s \".recover\" | sqlite3 %s, "+
		"then point store.path at %s and keep the damaged file",
		e.path, e.cause, shellQuote(e.path), shellQuote(recovered), recovered)
}

func (e *corruptError) Unwrap() error        { return e.cause }
func (e *corruptError) Is(target error) bool { return target == ErrCorrupt }

// recoveredPath names the file a recovery of path should go to:
// parkd.db → parkd-recovered.db, beside it.
func recoveredPath(path string) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "-recovered" + ext
}

// shellSafe matches what a POSIX shell takes literally without quotes.
var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_./,:+@=-]+$`)

// shellQuote quotes s for a POSIX shell, so that the recovery command can be
// pasted as it stands whatever the path.
func shellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// isCorrupt reports whether err is SQLite saying the file is damaged or is
// not a database (which, for a file with a SQLite header, means damaged).
func isCorrupt(err error) bool {
	var se sqlite3.Error
	return errors.As(err, &se) && (se.Code == sqlite3.ErrCorrupt || se.Code == sqlite3.ErrNotADB)
}

// classify returns err as a corruptError for path if SQLite reported the
// file damaged, and err unchanged otherwise.
func classify(path string, err error) error {
	if err == nil || errors.Is(err, ErrCorrupt) || !isCorrupt(err) {
		return err
	}
	return &corruptError{path: path, cause: err}
}

// damaged classifies *err (see classify), for a deferred call in every
// method that reads or writes the file: damage shows up on whatever page a
// query happens to touch, long after Open.
func (db *DB) damaged(err *error) {
	*err = classify(db.Path, *err)
}

// readOnlyError is a database that cannot be written for a reason Open
// found out before SQLite tried, and names.
type readOnlyError struct {
	path, why string
	cause     error // the system's error, if any
}

func (e *readOnlyError) Error() string        { return fmt.Sprintf("store: %s: %s", e.path, e.why) }
func (e *readOnlyError) Unwrap() error        { return e.cause }
func (e *readOnlyError) Is(target error) bool { return target == ErrReadOnly }
