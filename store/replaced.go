package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// noteFile remembers which file Path names now that it is open, for
// Replaced.
func (db *DB) noteFile() error {
	fi, err := os.Stat(db.Path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	db.file = fi
	return nil
}

// Replaced reports whether Path no longer names the file db opened: the
// file was deleted (true), or another file was moved or copied into its
// place (true, it is another inode). An open SQLite connection keeps
// writing to the file it opened, so a daemon whose file was replaced
// writes where nobody will ever read; it should poll Replaced and Reopen.
// It fails if db is not open or Path cannot be examined (for example a
// directory on the way lost its search permission).
func (db *DB) Replaced() (bool, error) {
	if db.file == nil {
		return false, fmt.Errorf("store: replaced: %w", errNotOpen)
	}
	fi, err := os.Stat(db.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("store: %w", err)
	}
	return !os.SameFile(fi, db.file), nil
}

// Reopen closes db and opens Path again with Open, creating a new, empty
// database if the file was deleted: for a daemon to write its current
// occupancy and the rows it still holds into a database at the path
// operators read, after Replaced said the old one is gone. If another file
// now stands at Path, Open's checks apply to it (it may be refused as
// foreign, newer or damaged). The old file is closed first, so SQLite
// checkpoints into it and removes its -wal and -shm files before a new
// file takes the name; a -wal left behind would otherwise be read as the
// new file's.
//
// Reopen must not run concurrently with any other method of db. It may be
// called again after it failed (db is closed then). It returns Open's
// error, or Close's if Open succeeded but closing the old file failed (the
// new file is open then). A DB from OpenReadOnly or OpenExisting cannot be
// reopened (ErrReadOnly: Reopen may create the file).
func (db *DB) Reopen() error {
	if db.w == nil && db.r != nil {
		return fmt.Errorf("store: reopen %s: %w", db.Path, ErrReadOnly)
	}
	cerr := db.Close()
	if err := db.Open(); err != nil {
		return err
	}
	return cerr
}
