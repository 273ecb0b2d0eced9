// Package lease runs the campaign of a parkd for the active role of an
// active/standby pair: it takes a lease held in a shared database, renews
// it, and tells the daemon when to act and when to stop at once. The
// database keeps the lease (store.Lease on PostgreSQL) and refuses the
// writes of a parkd whose lease has gone (its fence); this package decides
// when this process believes it holds the lease, always earlier than the
// database stops believing it.
package lease

import (
	"context"
	"errors"
	"time"

	"github.com/rs/zerolog"
)

// Store is the lease as the database keeps it (store.Lease).
type Store interface {
	// Acquire takes the lease for ttl if it is free or lapsed, with a new
	// generation; ok is false while another holder's lease runs, and left
	// is then how long it has to run.
	Acquire(ctx context.Context, ttl time.Duration) (gen int64, left time.Duration, ok bool, err error)
	// Renew pushes gen's deadline to ttl from now; ok is false when gen
	// is no longer the lease's or has lapsed.
	Renew(ctx context.Context, gen int64, ttl time.Duration) (ok bool, err error)
	// Release ends gen's lease now.
	Release(ctx context.Context, gen int64) error
}

// Defaults of Elector's timings.
const (
	DefaultRenew = time.Second
	DefaultTTL   = 3 * time.Second
)

// Causes of the cancellation of the context Run gives lead: context.Cause
// tells them apart.
var (
	// ErrLost: the lease was taken over, lapsed, or could not be renewed
	// in time. The holder must stop acting at once.
	ErrLost = errors.New("lease lost")
	// ErrShutdown: Run's own context ended (the daemon is stopping); the
	// lease is released once lead returns, so a standby takes over at
	// once.
	ErrShutdown = errors.New("shutting down: the lease is handed over")
)

// Elector campaigns for a lease and runs a leader function while it holds
// it. Its timings are measured on the local clock from the moment each
// acquire or renew was sent, so the local view of the deadline ends no
// later than the database's, which counted from when it received it; and
// it ends a tenth of the TTL earlier still (Margin), so that the leader
// has stopped, and clocks that run at slightly different rates agree,
// before the database lets a standby in.
type Elector struct {
	Store Store
	// Renew is how often the lease is renewed, and how often a standby
	// tries to take it. Default DefaultRenew.
	Renew time.Duration
	// TTL is how long a lease runs unrenewed. Default DefaultTTL; it
	// must exceed Renew, or one late renewal would lose the lease.
	TTL    time.Duration
	Logger zerolog.Logger
}

// Margin is how long before its lease lapses in the database a holder
// stops acting, if it could not renew it: a tenth of ttl.
func Margin(ttl time.Duration) time.Duration { return ttl / 10 }

func (e *Elector) timings() (renew, ttl time.Duration) {
	renew, ttl = e.Renew, e.TTL
	if renew <= 0 {
		renew = DefaultRenew
	}
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	return renew, ttl
}

// Run campaigns until ctx ends or lead fails. Each time it takes the
// lease it runs lead with the lease's generation and a context that is
// cancelled with ErrLost the moment the lease is lost, or with
// ErrShutdown when ctx ends; it then waits for lead to return. After a
// lost lease it campaigns again (the process is a standby again); after a
// shutdown it releases the lease and returns nil. An error from lead ends
// Run with that error, after releasing the lease.
func (e *Elector) Run(ctx context.Context, lead func(ctx context.Context, gen int64) error) error {
	renew, ttl := e.timings()
	if ttl <= renew {
		return errors.New("lease: ttl must exceed the renew interval")
	}
	for {
		gen, validUntil, err := e.acquire(ctx, renew, ttl)
		if err != nil {
			return nil // ctx ended while standing by
		}
		err = e.hold(ctx, gen, validUntil, renew, ttl, lead)
		if err != nil || ctx.Err() != nil {
			return err
		}
	}
}

// acquire tries to take the lease every renew until it has it or ctx
// ends, and sooner when the holder's lease is about to lapse: then it
// tries right after the lapse, so a standby takes over within a round trip
// of it rather than up to renew later.
func (e *Elector) acquire(ctx context.Context, renew, ttl time.Duration) (gen int64, validUntil time.Time, err error) {
	wait := time.NewTimer(0)
	defer wait.Stop()
	<-wait.C
	var last string // the last reason logged, so a standby logs changes only
	for {
		start := time.Now()
		actx, cancel := context.WithTimeout(ctx, renew)
		gen, left, ok, err := e.Store.Acquire(actx, ttl)
		cancel()
		next := renew - time.Since(start)
		switch {
		case err == nil && ok:
			e.Logger.Info().Int64("generation", gen).Msg("lease taken: this parkd is active")
			return gen, start.Add(ttl - Margin(ttl)), nil
		case err != nil && ctx.Err() == nil:
			if msg := err.Error(); msg != last {
				e.Logger.Warn().Err(err).Msg("standby: cannot reach the lease")
				last = msg
			}
		case err == nil:
			if last != "held" {
				e.Logger.Info().Msg("standby: another parkd holds the lease")
				last = "held"
			}
			// Just past the lapse, if it comes before the next try.
			next = min(next, left-time.Since(start)+lapseSlack)
		}
		wait.Reset(max(next, lapseSlack))
		select {
		case <-ctx.Done():
			return 0, time.Time{}, ctx.Err()
		case <-wait.C:
		}
	}
}

// lapseSlack is how long after the holder's lease should lapse a standby
// tries to take it, and the shortest pause between two tries.
const lapseSlack = 5 * time.Millisecond

// hold runs lead while renewing gen, until the lease is lost, ctx ends or
// lead returns.
func (e *Elector) hold(ctx context.Context, gen int64, validUntil time.Time, renew, ttl time.Duration,
	lead func(ctx context.Context, gen int64) error) error {
	lctx, stop := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stop(nil)
	done := make(chan error, 1)
	go func() { done <- lead(lctx, gen) }()

	release := func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), renew)
		defer cancel()
		if err := e.Store.Release(rctx, gen); err != nil {
			e.Logger.Warn().Err(err).Int64("generation", gen).Msg("lease not released; the standby takes it when it lapses")
			return
		}
		e.Logger.Info().Int64("generation", gen).Msg("lease released")
	}
	lost := func(why string, err error) {
		e.Logger.Error().Err(err).Int64("generation", gen).Msg("lease lost (" + why + "): this parkd stops acting")
		stop(ErrLost)
	}

	tick := time.NewTicker(renew)
	defer tick.Stop()
	lapse := time.NewTimer(time.Until(validUntil))
	defer lapse.Stop()
	shutdown := ctx.Done()
	bg := context.WithoutCancel(ctx)
	for {
		select {
		case err := <-done:
			release()
			return err
		case <-shutdown:
			// The leader stops gracefully, and the lease is renewed until
			// it has: a graceful stop may outlast the lease, and the
			// standby must not act before it is over.
			shutdown = nil
			stop(ErrShutdown)
		case <-lapse.C:
			lost("not renewed in time", nil)
			<-done
			return nil
		case <-tick.C:
			start := time.Now()
			rctx, cancel := context.WithDeadline(bg, validUntil)
			ok, err := e.Store.Renew(rctx, gen, ttl)
			cancel()
			switch {
			case err == nil && ok:
				validUntil = start.Add(ttl - Margin(ttl))
				lapse.Reset(time.Until(validUntil))
			case err == nil:
				lost("taken over or lapsed", nil)
				<-done
				return nil
			case !time.Now().Before(validUntil):
				lost("not renewed in time", err)
				<-done
				return nil
			default:
				e.Logger.Warn().Err(err).Int64("generation", gen).Dur("left", time.Until(validUntil)).Msg("lease renewal failed; retrying")
			}
		}
	}
}
