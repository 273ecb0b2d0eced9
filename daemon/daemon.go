// Package daemon wires parkd's adapters around the park service: the store,
// the outbound server for calls, the inbound client to FreeSWITCH. It is
// what `parkd serve` runs, importable so the bench and the demo run the
// same daemon in process.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/internal/metrics"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/web"
	"github.com/parkd/parkd/webhook"
)

// Main is the daemon: the store, the park service, the outbound server and
// the inbound client, wired together. `parkd serve` runs one; tests, the
// bench and the demo boot it in process the same way.
type Main struct {
	Config conf.Config
	Logger zerolog.Logger
	// Version is logged at start.
	Version string
	// ShutdownTimeout bounds Close. Default 5s.
	ShutdownTimeout time.Duration
	// ReconnectBackoff is the first wait before reconnecting to
	// FreeSWITCH. Default: the client's.
	ReconnectBackoff time.Duration
	// WrapStore, if set, wraps the store the service writes to (tests use
	// it to make the disk fail).
	WrapStore func(parking.Store) parking.Store
	// BusyTimeout, if set, overrides how long a store write waits for a
	// lock held by another process.
	BusyTimeout time.Duration
	// RetryEvery is how often history rows a failing store held back are
	// written again. Default 5s.
	RetryEvery time.Duration
	// CheckStoreEvery is how often the daemon checks that the database
	// path still names the file it has open. Default 5s.
	CheckStoreEvery time.Duration
	// WebhookBackoff, if set, is the first wait after a failed webhook
	// delivery (default: the worker's).
	WebhookBackoff time.Duration
	// Load reads the configuration again, for Reload; serve sets it to
	// read the file it started from.
	Load func() (conf.Config, error)
	// Fence, if not 0, is the generation of the lease this daemon holds as
	// the active parkd of a pair (lease.go): every write to the database
	// proves it, recalls are recorded before they ring, and the database
	// lock of a lone parkd is not taken (the lease replaces it).
	Fence int64
	// NodeBeatEvery and NodeLostAfter pace the watch over the other
	// nodes (nodes.go). Defaults: DefaultNodeBeatEvery and
	// DefaultNodeLostAfter.
	NodeBeatEvery, NodeLostAfter time.Duration

	DB      *store.DB
	Service *parking.Service
	Server  *esl.Server
	Client  *esl.Client
	// Presence publishes the busy lamps; nil unless [blf] is enabled.
	Presence *esl.Presence
	// Metrics are what GET /metrics serves.
	Metrics *metrics.Metrics

	// webhooks deliver the outbox, one per [[webhook]] (webhooks.go).
	webhooks []*webhook.Worker
	// nodeLamps shows the other nodes' calls on the lamps; nil unless
	// this parkd serves a node with [blf] on (nodelamps.go).
	nodeLamps *nodeLamps

	lock   *dbLock
	store  *gatedStore
	watch  *storeWatch
	ln     net.Listener
	web    *http.Server // nil when [http] is off
	events *web.Hub     // the live events' hub; nil when [http] is off
	webLn  net.Listener
	cancel context.CancelFunc
	wg     sync.WaitGroup

	reloadMu sync.Mutex // one Reload at a time

	readyMu  sync.Mutex
	notReady error // why Ready fails; nil when ready

	haltOnce sync.Once // Halt (lease.go) acts once
	// storeOnce closes the store once (closeStore); storeErr is its error.
	storeOnce sync.Once
	storeErr  error
}

// DefaultShutdownTimeout bounds Close when ShutdownTimeout is not set.
// The systemd unit's TimeoutStopSec leaves room for it.
const DefaultShutdownTimeout = 5 * time.Second

// Open starts the daemon and returns once it listens for calls.
func (m *Main) Open(ctx context.Context) error {
	if m.ShutdownTimeout == 0 {
		m.ShutdownTimeout = DefaultShutdownTimeout
	}
	if m.RetryEvery == 0 {
		m.RetryEvery = 5 * time.Second
	}
	if m.CheckStoreEvery == 0 {
		m.CheckStoreEvery = 5 * time.Second
	}
	c := m.Config
	allow, err := allowList(c)
	if err != nil {
		return err
	}
	if c.Instance != "" {
		// conf checks it too; a Config built by hand is checked here, as
		// the listener would refuse to serve after Open returned.
		if err := esl.ValidateInstance(c.Instance); err != nil {
			return fmt.Errorf("instance: %w", err)
		}
	}
	loc := StoreLocation(c)
	m.DB = loc.New()
	m.setupNode() // nodes.go
	m.startEvents()
	if m.BusyTimeout > 0 {
		m.DB.BusyTimeout = m.BusyTimeout
	}
	m.setupWebhooks()
	// One daemon per database, taken once the store has found the file
	// usable and before it writes: a store serve refuses (read-only,
	// foreign, damaged, newer) gets no lock file beside it, and its error
	// says what is wrong rather than that a lock file cannot be created.
	// Reopen keeps the lock it has. On PostgreSQL the lock is an advisory
	// lock the store holds on a connection of its own (LockDaemon).
	m.DB.Fence = m.Fence
	// A session cut off mid-write must not hold the lease row much past
	// the lease; at least 2 s, so that a loaded host's pause between two
	// statements does not end a healthy one.
	m.DB.FenceIdle = max(c.HA.TTL, 2*time.Second)
	m.DB.BeforeWrite = func() error {
		if m.Fence != 0 {
			return nil // the lease, held already, keeps the other parkd out
		}
		if loc.Driver == store.Postgres {
			return m.DB.LockDaemon(ctx)
		}
		if m.lock != nil {
			return nil
		}
		var err error
		m.lock, err = lockDatabase(c.Store.Path)
		return err
	}
	m.startMetrics()
	if err := m.DB.Open(); err != nil {
		m.lock.release()
		m.lock = nil
		return err // the store's errors name the store and the path
	}
	m.store = &gatedStore{db: m.DB}

	m.Client = esl.NewClient(c.ESL.FreeSWITCH, c.ESL.Password)
	m.Client.Logger = m.Logger.With().Str("component", "inbound").Logger()
	m.Client.Timeout = c.ESL.CommandTimeout
	// The instance name marks every call this parkd parks, so that it
	// adopts only its own; conf defaults it to the host name, as esl does
	// for a Config built by hand that leaves it empty.
	if c.Instance != "" {
		m.Client.Instance = c.Instance
	}
	if m.ReconnectBackoff > 0 {
		m.Client.MinBackoff = m.ReconnectBackoff
	}

	var st parking.Store = m.store
	if m.WrapStore != nil {
		st = m.WrapStore(st)
	}
	st = countWrites(st, m.Metrics.StoreWriteFailed)
	m.Service, err = parking.NewService(lotConfigs(c), m.Client, st)
	if err != nil {
		m.closeStore()
		return err
	}
	m.Service.Logger = m.Logger.With().Str("component", "parking").Logger()
	m.Service.PINs = m.DB // outside pick-up's wrong PINs and lockouts
	m.Service.RecordRecallFirst = m.Fence != 0
	m.Service.CommitEvery = HistoryCommitEvery
	m.Client.Calls = m.Service
	m.Metrics.Watch(m.Service, m.Client)
	if err := m.startLamps(); err != nil {
		m.closeStore()
		return err
	}
	if err := m.recordUnrecordedParks(ctx); err != nil { // nodes.go
		m.closeStore()
		return err
	}
	if err := m.Service.Open(ctx); err != nil {
		m.closeStore()
		return err
	}

	m.Server = esl.NewServer(m.Service)
	m.Server.Logger = m.Logger.With().Str("component", "outbound").Logger()
	m.Server.Allow = allow
	m.Server.Timeout = c.ESL.CommandTimeout
	m.Server.Instance = m.Client.Instance
	m.Server.Observe = m.Metrics.Observe
	m.wireNodes() // nodes.go
	m.ln, err = net.Listen("tcp", c.ESL.Listen)
	if err != nil {
		m.closeStore()
		// The net error names the address ("listen tcp 127.0.0.1:8084: bind:
		// address already in use"); this says what the listener is for.
		return fmt.Errorf("esl.listen: listen for FreeSWITCH's socket application: %w", err)
	}
	if err := m.startWeb(); err != nil {
		m.ln.Close()
		m.closeStore()
		return err
	}
	// Calls routed to a park extension before now and left waiting in the
	// socket application were on their way to a parkd that stopped: the
	// first survey sends them back.
	m.Client.StrandedBefore = time.Now()

	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	m.cancel = cancel
	m.wg.Add(3)
	go func() {
		defer m.wg.Done()
		if err := m.Server.Serve(m.ln); err != nil && !errors.Is(err, esl.ErrServerClosed) {
			m.Logger.Error().Err(err).Msg("outbound listener stopped")
		}
	}()
	go func() {
		defer m.wg.Done()
		_ = m.Client.Run(runCtx)
	}()
	go func() {
		defer m.wg.Done()
		m.retryHistory(runCtx)
	}()
	if m.Presence != nil {
		m.wg.Go(func() {
			if err := m.Presence.Run(runCtx); err != nil && runCtx.Err() == nil {
				m.Logger.Error().Err(err).Msg("busy lamps stopped")
			}
		})
	}
	m.serveWeb()
	m.wg.Go(func() {
		pruneEvery(runCtx, m.store, c.Store.Keep, 24*time.Hour, m.Logger.With().Str("component", "prune").Logger())
	})
	m.runWebhooks(runCtx)
	// The other nodes' watch, when this parkd serves a node (nodes.go).
	m.watchNodes(runCtx)
	if loc.Driver != store.Postgres { // a file can be deleted or replaced; a PostgreSQL database is no file
		m.watch = &storeWatch{m: m, path: c.Store.Path}
		m.wg.Go(func() { m.watch.run(runCtx, m.CheckStoreEvery) })
	}
	m.Logger.Info().Str("instance", m.Client.Instance).Str("listen", m.ln.Addr().String()).Str("freeswitch", c.ESL.FreeSWITCH).
		Str("store", loc.String()).Int("lots", len(c.Lots)).Bool("blf", m.Presence != nil).Str("version", m.Version).Msg("parkd started")
	return nil
}

// StoreLocation is the database c's [store] names: its SQLite file, or
// its PostgreSQL DSN.
func StoreLocation(c conf.Config) store.Location {
	if c.Store.Driver == string(store.Postgres) {
		return store.Location{Driver: store.Postgres, DSN: c.Store.DSN}
	}
	return store.Location{Driver: store.SQLite, Path: c.Store.Path}
}

// ListenAddr is the address the outbound listener took.
func (m *Main) ListenAddr() string { return m.ln.Addr().String() }

// retryHistory writes history rows that a failing disk held back.
func (m *Main) retryHistory(ctx context.Context) {
	everyTick(ctx, m.RetryEvery, func() {
		if m.Service.Pending() > 0 {
			_ = m.Service.Flush(ctx)
		}
	})
}

// everyTick runs f every interval until ctx is done.
func everyTick(ctx context.Context, every time.Duration, f func()) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// Close shuts down gracefully: no new calls are taken, parks and retrieves
// under way finish, parked calls stay parked in FreeSWITCH.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.ShutdownTimeout)
	defer cancel()
	var errs []error
	// The API first: it reads the service and the store closed below.
	if m.web != nil {
		if err := m.web.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("http: %w", err))
		}
	}
	if err := m.Server.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := m.Service.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	m.cancel()
	m.wg.Wait()
	if err := m.closeStore(); err != nil {
		errs = append(errs, err)
	}
	if n := m.Service.Pending(); n > 0 {
		m.Logger.Error().Int("rows", n).Msg("history rows could not be written before exit")
	}
	m.Logger.Info().Msg("parkd stopped; parked calls stay parked in FreeSWITCH")
	return errors.Join(errs...)
}

// closeStore closes the database, then lets its lock go. Only the first
// call acts; the others wait for it and return its error (a Close after
// Halt, whose background close may still be under way).
func (m *Main) closeStore() error {
	m.storeOnce.Do(func() {
		err := m.DB.Close()
		m.storeErr = errors.Join(err, m.lock.release())
	})
	return m.storeErr
}

// HistoryCommitEvery is parking.Service.CommitEvery for the daemon: under
// load, at most one history transaction per period, each carrying every
// call's rows decided meanwhile. A commit writes a dozen B-tree pages to
// the WAL whatever it holds; one per transition was most of parkd's CPU in
// SQLite (BENCHMARKS.md, issue 16 point 3). The wait follows the switch's
// commands, so no caller hears it.
const HistoryCommitEvery = 10 * time.Millisecond
