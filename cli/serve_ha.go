package cli

import (
	"context"
	"os"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/daemon"
)

// servePair runs serve as one parkd of an active/standby pair ([ha]): it
// stands by, and runs the daemon while it holds the lease. SIGHUP reloads
// the active daemon's configuration (a standby reads the file when it
// takes over); SIGINT or SIGTERM closes the daemon and hands the lease
// over to the standby.
func servePair(ctx context.Context, c conf.Config, load func() (conf.Config, error), logger zerolog.Logger,
	sink *daemon.LogSink, hup <-chan os.Signal) error {
	p := &daemon.Pair{Config: c, Logger: logger}
	p.NewMain = func() *daemon.Main {
		// A takeover runs on the file as it is now, as a restart would.
		cur := c
		if next, err := load(); err == nil {
			cur = next
		} else {
			logger.Error().Err(err).Msg("the configuration file cannot be read again; taking over with the one parkd started with")
		}
		return &daemon.Main{Config: cur, Logger: logger, Version: Version, Load: load}
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	for {
		select {
		case <-hup:
			if m := p.Active(); m != nil {
				logger.Info().Msg("SIGHUP received; reloading the configuration")
				_ = m.Reload()
			} else {
				logger.Info().Msg("SIGHUP received on the standby: the configuration is read when it takes over")
			}
		case err := <-done:
			if ctx.Err() != nil {
				logger.Info().Msg("signal received; the lease is handed over")
			}
			if n := sink.Lost(); n > 0 {
				logger.Warn().Uint64("lines", n).Msg("log lines lost in all while the log's destination failed")
			}
			return err
		}
	}
}
