package store

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// noteFile remembers which files Path and its -wal and -shm name now that
// the database is open, for Replaced and Reopen.
func (db *DB) noteFile() error {
	if db.Driver == Postgres {
		return nil
	}
	fi, err := os.Stat(db.Path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	db.file = fi
	// Absent (nil) for a reader of a file no writer has open.
	db.wal, _ = os.Stat(db.Path + "-wal")
	db.shm, _ = os.Stat(db.Path + "-shm")
	return nil
}

// Replaced reports whether Path no longer names the file db opened: the
// file was deleted (true), or another file was moved into its place (true:
// another inode). A copy over the file itself (cp onto it) keeps the inode
// and is not seen. An open SQLite connection keeps writing the file it
// opened, so a daemon whose file was deleted writes where nobody will ever
// read, and its pooled readers, which open the path anew, may read another
// file than it writes: it should poll Replaced and Reopen promptly. Replaced
// fails if db is not open or Path cannot be examined (for example a
// directory on the way lost its search permission).
//
// A PostgreSQL database is no file: it is never replaced.
func (db *DB) Replaced() (bool, error) {
	if db.Driver == Postgres {
		if db.r == nil {
			return false, fmt.Errorf("store: replaced: %w", errNotOpen)
		}
		return false, nil
	}
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
// foreign, newer or damaged).
//
// SQLite does not remove the -wal and -shm files of a database file that
// was deleted or moved when it closes it, and would read that -wal as the
// new file's: rows of the lost file would appear in, or corrupt, the new
// one. So when Path was replaced, Reopen first empties the -wal into the
// old file (a file moved away, not deleted, then holds every row written
// to it) and then removes the -wal and -shm files it had open (the same
// inodes), never others.
//
// If the -wal cannot be emptied (another process's reader of the old file
// holds a snapshot, past SQLite's busy timeout), Reopen returns an error
// and leaves db open, writing the old file: call it again later.
//
// Reopen must not run concurrently with any other method of db. It may be
// called again after it failed (db is closed then). It returns Open's
// error, or the old file's close error if Open succeeded (the new file is
// open then). A DB from OpenReadOnly cannot be reopened (ErrReadOnly). On
// PostgreSQL it closes the connections and opens them again.
func (db *DB) Reopen() error {
	if db.w == nil && db.r != nil {
		return fmt.Errorf("store: reopen %s: %w", db.Path, ErrReadOnly)
	}
	var replaced bool
	if db.file != nil {
		var err error
		if replaced, err = db.Replaced(); err != nil {
			return err
		}
	}
	wal, shm := db.wal, db.shm
	var errs []error
	if replaced && db.w != nil {
		// Readers first: a checkpoint cannot pass a reader's snapshot.
		if db.r != nil {
			errs = append(errs, db.r.Close())
			db.r = nil
		}
		if err := checkpoint(db.w.db); err != nil {
			// Removing the -wal now would lose, or leave half-copied,
			// the rows a moved file lacks: stay on the old file, with
			// a read pool again, for the caller to retry.
			var rerr error
			db.r, rerr = db.openReader(readParams)
			return errors.Join(fmt.Errorf("store: reopen %s: %w", db.Path, err), rerr)
		}
	}
	errs = append(errs, db.Close())
	if replaced {
		errs = append(errs, removeIfSame(db.Path+"-wal", wal), removeIfSame(db.Path+"-shm", shm))
	}
	if err := db.Open(); err != nil {
		return err
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("store: reopen %s: %w", db.Path, err)
	}
	return nil
}

// removeIfSame removes the file at name if it is still was, the file
// seen before.
func removeIfSame(name string, was os.FileInfo) error {
	if was == nil {
		return nil
	}
	fi, err := os.Stat(name)
	if err != nil || !os.SameFile(fi, was) {
		return nil // gone, or another file's: not ours to remove
	}
	if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// checkpoint copies every frame of w's -wal into its database file and
// empties the -wal. The pragma reports a checkpoint that a reader stopped
// short in a row, not as an error.
func checkpoint(w *sql.DB) error {
	var busy, logFrames, done int
	if err := w.QueryRow(`PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &done); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	if busy != 0 {
		return fmt.Errorf("checkpoint: %d of %d frames copied, a reader of the old file holds the rest", done, logFrames)
	}
	return nil
}
