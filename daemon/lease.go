package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/internal/lease"
	"github.com/parkd/parkd/store"
)

// An active/standby pair ([ha]): two parkd with the same configuration on
// one PostgreSQL database, both able to reach the switch. Pair.Run
// campaigns for the lease (internal/lease, store.Lease). The parkd that
// holds it runs a whole daemon (Main), opened exactly as a restarted parkd
// opens: it loads the parked calls from the database, reconciles them with
// the switch, re-arms their recalls at their stored deadlines and
// republishes the lamps. The other stands by with one connection to the
// database and nothing else:
//
//   - It does not listen for the switch's socket connections. The
//     dialplan tries every parkd in order (fsconf, [ha] sockets); a
//     connection refused costs the call nothing and it reaches the active
//     parkd. A standby that took parks and retrieves itself would need the
//     slots, the recall timers and the calls' sockets to be shared live
//     between two processes: that is the active's job alone, so two parkd
//     never decide about the same call.
//   - It rings no recall, publishes no lamp, answers no probe, serves no
//     board and delivers no webhook: everything a parkd does is done by
//     the lease holder only.
//   - It keeps no connection to the switch: the takeover connects as a
//     restart does (a few milliseconds on a LAN), and an idle connection
//     would only receive events nobody acts on.
//
// A parkd that loses the lease (renewal refused, or not renewed before
// its deadline, e.g. cut off from PostgreSQL) stops at once (Main.Halt):
// it closes its listener and its connection to the switch and stops its
// timers; the database refuses any write it still tries (the fence). It
// then stands by again. SIGTERM on the active hands the lease over: its
// daemon closes gracefully, then releases the lease, and the standby takes
// over at its next try (within ha.renew) rather than when the lease would
// have lapsed.

// DefaultLeaseName is the lease an active/standby pair shares on a site
// without nodes.
const DefaultLeaseName = "active"

// NodeLeaseName is the lease of node's pair ([[node]] with [ha]): one per
// node, so that each node's pair elects its active parkd on its own.
func NodeLeaseName(node string) string { return "node:" + node }

// Pair is one parkd of an active/standby pair.
type Pair struct {
	Config conf.Config
	Logger zerolog.Logger
	// Holder names this process in the lease, for the logs and the
	// lease's row. Default: the host name and the PID.
	Holder string
	// LeaseName is the lease. Default NodeLeaseName of the node
	// [esl] node names, or DefaultLeaseName without nodes.
	LeaseName string
	// NewMain returns the daemon to open for one term as the active parkd,
	// with Config and Logger set; Pair sets its Fence. Default: a Main
	// with Pair's Config and Logger. Tests and the bench set options.
	NewMain func() *Main
	// OnActive, if set, is told each daemon once it is open (nil when the
	// term ends).
	OnActive func(*Main)

	mu     sync.Mutex
	active *Main
}

// Active is the daemon while this parkd holds the lease, else nil; after
// a lost lease it is nil once the daemon has halted.
func (p *Pair) Active() *Main {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.active
}

func (p *Pair) setActive(m *Main) {
	p.mu.Lock()
	p.active = m
	p.mu.Unlock()
	if p.OnActive != nil {
		p.OnActive(m)
	}
}

// Run stands by and runs the daemon whenever this parkd holds the lease,
// until ctx ends (then it closes the daemon and hands the lease over) or
// the daemon fails to open.
func (p *Pair) Run(ctx context.Context) error {
	c := p.Config
	if !c.HA.Enabled || c.Store.Driver != string(store.Postgres) {
		return errors.New("ha: needs [ha] enabled = true and store.driver = \"postgres\"")
	}
	// A Config built in code rather than loaded may leave the timings
	// out: zero would retry the database without a pause.
	p.Config.HA = p.Config.HA.WithDefaults()
	c = p.Config
	holder := p.Holder
	if holder == "" {
		holder = fmt.Sprintf("%s/%d", esl.DefaultInstance(), os.Getpid())
	}
	self, _ := c.Self()
	name := p.LeaseName
	switch {
	case name != "":
	case self.Name != "":
		name = NodeLeaseName(self.Name)
	default:
		name = DefaultLeaseName
	}
	log := p.Logger.With().Str("component", "ha").Str("holder", holder).Logger()
	l, err := p.openLease(ctx, log, self.Name, name, holder)
	if l == nil {
		return err // ctx ended, or a lone parkd serves the database
	}
	defer l.Close()
	log.Info().Str("lease", name).Dur("renew", c.HA.Renew).Dur("ttl", c.HA.TTL).Msg("standby: campaigning for the lease")
	e := &lease.Elector{Store: l, Renew: c.HA.Renew, TTL: c.HA.TTL, Logger: log}
	return e.Run(ctx, p.lead)
}

// openLease connects to the lease, retrying every ha.renew while the
// database cannot be reached. It returns nil when ctx ends or the
// database is served by a parkd without [ha].
func (p *Pair) openLease(ctx context.Context, log zerolog.Logger, node, name, holder string) (*store.Lease, error) {
	var last string
	for {
		octx, cancel := context.WithTimeout(ctx, max(p.Config.HA.TTL, 5*time.Second))
		l, err := store.OpenLease(octx, p.Config.Store.DSN, node, name, holder)
		cancel()
		if err == nil {
			return l, nil
		}
		if errors.Is(err, store.ErrLocked) || errors.Is(err, store.ErrForeignDB) || errors.Is(err, store.ErrNewerSchema) {
			return nil, err
		}
		if msg := err.Error(); msg != last {
			log.Warn().Err(err).Msg("standby: cannot reach the database; retrying")
			last = msg
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-time.After(p.Config.HA.Renew):
		}
	}
}

// lead runs the daemon for one term of generation gen, until ctx says the
// lease is lost (halt at once) or handed over (close gracefully).
func (p *Pair) lead(ctx context.Context, gen int64) error {
	m := &Main{Config: p.Config, Logger: p.Logger}
	if p.NewMain != nil {
		m = p.NewMain()
	}
	m.Fence = gen
	taken := time.Now()
	if err := m.Open(ctx); err != nil {
		if ctx.Err() != nil || errors.Is(err, store.ErrFenced) {
			// Lost while opening: stand by again.
			p.Logger.Warn().Err(err).Msg("the lease was lost while parkd opened")
			return nil
		}
		return err
	}
	p.Logger.Info().Int64("generation", gen).Dur("open", time.Since(taken)).Msg("active: parkd took over")
	p.setActive(m)
	<-ctx.Done()
	if errors.Is(context.Cause(ctx), lease.ErrLost) {
		m.Halt() // before Active says nil: nil means it has stopped acting
		p.setActive(nil)
		return nil
	}
	p.setActive(nil) // no reload of a daemon that is closing
	return m.Close()
}

// Halt stops the daemon acting at once, for a lease that is lost: the
// connection to the switch, the lamps, the retries and the webhooks stop
// first, then the recall timers, the listener and the calls' sockets, the
// board, and the database (in the background). It waits only for the
// daemon's own goroutines, which end at once when cancelled, never for an
// answer from the switch or the database, and writes nothing more (the
// fence would refuse it); the parked calls stay parked in the switch for
// the parkd that has the lease now. Only the first call acts.
func (m *Main) Halt() { m.haltOnce.Do(m.halt) }

func (m *Main) halt() {
	m.cancel()
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	_ = m.Service.Shutdown(expired)
	_ = m.Server.Shutdown(expired)
	if m.web != nil {
		_ = m.web.Close()
	}
	if m.events != nil {
		// Close runs no shutdown hook, where the Hub is closed: its
		// streams (taken over from the server) would stay open, the
		// boards would not reconnect to the active parkd, and its
		// writer thread would outlive the term.
		m.events.Close()
	}
	m.wg.Wait()
	// Closing a connection to a database that cannot be reached waits
	// for the driver's timeout (5 s): the store closes on its own.
	go func() { _ = m.closeStore() }()
	m.Logger.Warn().Msg("parkd halted: the lease is lost; parked calls stay parked in FreeSWITCH for the active parkd")
}
