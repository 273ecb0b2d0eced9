package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/parkd/parkd/store"
)

// ErrLocked means another parkd serve holds the database: two daemons on
// one database would park two calls into the same slot. It is the store's
// error, which a PostgreSQL database's lock returns.
var ErrLocked = store.ErrLocked

// dbLock is an exclusive flock(2) on a file beside the database
// (parkd.db.lock), holding the PID of the daemon that has it. The kernel
// releases it when that process exits, however it exits, so a crash never
// leaves a stale lock; the file itself stays (removing it would let two
// daemons lock two different files of the same name).
type dbLock struct{ f *os.File }

// lockDatabase takes the lock for the database at dbPath, or fails at once
// with an error wrapping ErrLocked that names the holder's PID.
func lockDatabase(dbPath string) (*dbLock, error) {
	path := dbPath + ".lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock the database: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by parkd serve with PID %s (lock file %s)",
				ErrLocked, dbPath, holder(path), path)
		}
		return nil, fmt.Errorf("lock the database: %s: %w", path, err)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("lock the database: write %s: %w", path, err)
	}
	return &dbLock{f: f}, nil
}

// LockStore takes the daemon's lock on the database at loc, as parkd serve
// does, for a command that must not run beside a daemon (parkd migrate);
// release lets it go. It fails with an error wrapping ErrLocked if a
// daemon holds it. A PostgreSQL database's lock is held by db, which must
// be loc's and open; release does not close db.
func LockStore(ctx context.Context, loc store.Location, db *store.DB) (release func() error, err error) {
	if loc.Driver == store.Postgres {
		if err := db.LockDaemon(ctx); err != nil {
			return nil, err
		}
		return func() error { return nil }, nil // db's Close lets it go
	}
	l, err := lockDatabase(loc.Path)
	if err != nil {
		return nil, err
	}
	return l.release, nil
}

// holder reads the PID in a lock file. The holder writes it right after
// taking the lock, so an empty file is read again for a moment.
func holder(path string) string {
	for range 20 {
		b, err := os.ReadFile(path)
		if pid := strings.TrimSpace(string(b)); err == nil && pid != "" {
			return pid
		}
		time.Sleep(10 * time.Millisecond)
	}
	return "unknown"
}

// release lets the lock go.
func (l *dbLock) release() error {
	if l == nil {
		return nil
	}
	return l.f.Close()
}
