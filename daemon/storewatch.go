package daemon

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

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

// reopen opens the database's path again (creating a new database if the
// file is gone), with the store to itself.
func (g *gatedStore) reopen() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.db.Reopen()
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
	everyTick(ctx, every, func() { w.check(ctx) })
}

// check looks at the file once and repairs what it finds.
func (w *storeWatch) check(ctx context.Context) {
	log := w.m.Logger.With().Str("component", "store").Str("store", w.path).Logger()
	if w.lost == "" {
		replaced, err := w.m.DB.Replaced()
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
		if err := w.m.store.reopen(); err != nil {
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
// database file was deleted or replaced and is not back yet; see
// notReadyNow for the rest). Parks and retrieves go on either way; a
// health check reports it.
func (m *Main) Ready() error {
	m.readyMu.Lock()
	err := m.notReady
	m.readyMu.Unlock()
	if err != nil {
		return err
	}
	return m.notReadyNow()
}

func (m *Main) setReady(err error) {
	m.readyMu.Lock()
	m.notReady = err
	m.readyMu.Unlock()
}
