package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// storeFile is what the watch needs of the database: to tell that its
// path no longer names the file it has open, and to open the path again
// (creating a new database if the file is gone). pathWatch implements it
// over store.DB.
type storeFile interface {
	Replaced() (bool, error)
	Reopen() error
}

// pathWatch gives a store.DB Replaced and Reopen: it remembers which file
// the path named when the database was opened.
type pathWatch struct {
	db   *store.DB
	log  zerolog.Logger
	file os.FileInfo // nil while the database is closed
}

func newPathWatch(db *store.DB, log zerolog.Logger) (*pathWatch, error) {
	fi, err := os.Stat(db.Path)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return &pathWatch{db: db, log: log, file: fi}, nil
}

// Replaced reports whether the path no longer names the file opened:
// deleted, or another file moved or copied into its place.
func (p *pathWatch) Replaced() (bool, error) {
	fi, err := os.Stat(p.db.Path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return true, nil
	case err != nil:
		return false, err
	}
	return p.file == nil || !os.SameFile(fi, p.file), nil
}

// Reopen closes the database and opens the path again: a new database if
// it is free, else the file there, if it is a parkd database.
//
// SQLite does not checkpoint a WAL-mode file that was deleted or renamed
// while open when it closes it: the -wal and -shm beside the path are
// still the old file's, and opened with a new file they would be read as
// its own. So after closing, they are set aside (the -wal under a name
// that says so, for an operator who wants the old file's last rows back)
// before the path is opened.
func (p *pathWatch) Reopen() error {
	var cerr error
	if p.file != nil {
		cerr = p.db.Close()
		p.file = nil
		p.setAside()
	}
	if err := p.db.Open(); err != nil {
		return err
	}
	fi, err := os.Stat(p.db.Path)
	if err != nil {
		return err
	}
	p.file = fi
	return cerr
}

// setAside moves the closed file's -wal and -shm away from the path.
func (p *pathWatch) setAside() {
	path := p.db.Path
	if err := os.Remove(path + "-shm"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		p.log.Error().Err(err).Msg("cannot remove the lost database file's -shm")
	}
	fi, err := os.Stat(path + "-wal")
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err == nil && fi.Size() == 0:
		os.Remove(path + "-wal")
	default:
		kept := fmt.Sprintf("%s-wal.lost-%s", path, time.Now().UTC().Format("20060102T150405Z"))
		if err := os.Rename(path+"-wal", kept); err != nil {
			p.log.Error().Err(err).Msg("cannot set the lost database file's -wal aside")
			return
		}
		p.log.Warn().Str("kept", kept).Msg("the lost database file's last writes are in its -wal, set aside")
	}
}

// gatedStore is the store as the service and the prune loop use it: the
// watch closes it for a Reopen, which must not run beside any other use.
type gatedStore struct {
	mu sync.RWMutex
	db *store.DB
}

func (g *gatedStore) Record(ctx context.Context, t parking.Transition) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.db.Record(ctx, t)
}

func (g *gatedStore) RecordAll(ctx context.Context, ts []parking.Transition) ([]error, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.db.RecordAll(ctx, ts)
}

func (g *gatedStore) Occupied(ctx context.Context) ([]parking.Occupant, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.db.Occupied(ctx)
}

func (g *gatedStore) Prune(ctx context.Context, before time.Time) (int64, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	return g.db.Prune(ctx, before)
}

// reopen runs f with the store to itself.
func (g *gatedStore) reopen(f storeFile) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return f.Reopen()
}

// storeWatch notices the database file deleted or replaced under the
// running daemon, and puts a database back at its path. Policy: parkd
// re-creates the database at the path (or takes the file now there, if it
// is a parkd database) and writes into it what it knows: the calls parked
// now and the history rows it still holds. Parks and retrieves never stop
// meanwhile: the calls are in FreeSWITCH, not in the file, and turning
// callers away would cost more than a gap in the history. Until the
// database is back, Ready reports why and rows wait in memory.
type storeWatch struct {
	m    *Main
	f    storeFile
	path string
	// lost says how the file was lost ("deleted", "replaced by another
	// file") while the database is not back; owned by the watch goroutine.
	lost string
	// reopened: the path is open again but the occupancy is not yet
	// written into it.
	reopened bool
}

// run checks the file every interval until ctx is done.
func (w *storeWatch) run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.check(ctx)
		}
	}
}

// check looks at the file once and repairs what it finds.
func (w *storeWatch) check(ctx context.Context) {
	log := w.m.Logger.With().Str("component", "store").Str("store", w.path).Logger()
	if w.lost == "" {
		replaced, err := w.f.Replaced()
		if err != nil {
			w.m.setReady(fmt.Errorf("cannot check the database file: %w", err))
			log.Error().Err(err).Msg("cannot check the database file")
			return
		}
		if !replaced {
			w.m.setReady(nil)
			return
		}
		w.lost = "replaced by another file"
		if _, err := os.Stat(w.path); errors.Is(err, fs.ErrNotExist) {
			w.lost = "deleted"
		}
		w.m.setReady(fmt.Errorf("the database file %s was %s while parkd had it open", w.path, w.lost))
		log.Error().Str("how", w.lost).
			Msg("the database file was deleted or replaced while parkd had it open; putting a database back at its path with the calls parked now and the rows held in memory")
	}
	if !w.reopened {
		if err := w.m.store.reopen(w.f); err != nil {
			log.Error().Err(err).
				Msg("cannot open a database at the path; calls are parked as usual, history rows wait in memory, retrying")
			return
		}
		w.reopened = true
	}
	if err := w.m.Service.Resync(ctx, "written again: the database file was "+w.lost); err != nil {
		log.Error().Err(err).Msg("cannot write the parked calls into the database; retrying")
		return
	}
	log.Warn().Str("how", w.lost).Int("parked", len(w.m.Service.Occupants())).
		Msg("database back at its path with the calls parked now; the history that was only in the lost file is not in it")
	w.lost, w.reopened = "", false
	w.m.setReady(nil)
}

// Ready reports whether the daemon works fully: nil, or why not (the
// database file was deleted or replaced and is not back yet). Parks and
// retrieves go on either way; a health check reports it.
func (m *Main) Ready() error {
	m.readyMu.Lock()
	defer m.readyMu.Unlock()
	return m.notReady
}

func (m *Main) setReady(err error) {
	m.readyMu.Lock()
	m.notReady = err
	m.readyMu.Unlock()
}
