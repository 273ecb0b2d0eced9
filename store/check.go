package store

import (
	"context"
	"fmt"
)

// CheckOpen reports whether Open would succeed on path, for a check command
// to run before the daemon does, and changes nothing: it creates no file,
// not even SQLite's -wal and -shm. It returns nil when the directory exists
// and this user may create files in it and, if the file exists, when it is
// writable and a parkd database of a schema version this parkd knows (an
// older one passes: Open migrates it) that SQLite's quick_check finds
// intact. Otherwise it returns the error Open would: one wrapping
// fs.ErrNotExist for a missing directory, ErrReadOnly (a read-only
// filesystem, even for root, or a file or directory this user cannot
// write), ErrForeignDB, ErrNewerSchema or ErrCorrupt.
func CheckOpen(path string) error {
	_, err := checkOpen(path)
	return err
}

// checkOpen makes the checks Open makes before it touches the file, and
// returns the migrations it loaded for Open to apply. An existing file is
// inspected through a read-only connection of its own: opening the writer
// switches the file to WAL, which rewrites its header.
func checkOpen(path string) ([]migration, error) {
	if err := (&DB{Path: path}).checkPath(); err != nil {
		return nil, err
	}
	migs, err := loadMigrations(SQLite)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	st, err := readFileState(path)
	if err != nil {
		return nil, err
	}
	if st.exists && !st.empty {
		if _, err := inspectFile(context.Background(), path, st, migs, true); err != nil {
			return nil, err
		}
	}
	if err := checkWritable(path, st); err != nil {
		return nil, err
	}
	return migs, nil
}
