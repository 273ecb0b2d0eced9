package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/parkd/parkd/daemon"
	"github.com/parkd/parkd/internal/gcfloor"
)

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	// A daemon must survive its signals and its log sink: SIGHUP (systemctl
	// reload, an operator) reloads the configuration instead of killing
	// parkd, and with SIGPIPE ignored a log pipe whose reader has gone makes
	// writes fail (the log sink counts them) instead of killing parkd.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	signal.Ignore(syscall.SIGPIPE)

	fs := NewFlags("serve", "Run the parkd daemon until SIGINT or SIGTERM; SIGHUP reloads the configuration.", stderr)
	path := addConfigFlag(fs)
	defaults := addDefaultsFlag(fs)
	if err := Parse(fs, args); err != nil {
		return err
	}
	c, load, err := serveConfig(fs, *path, *defaults)
	if err != nil {
		return err
	}
	sink := daemon.NewLogSink(stderr)
	logger, err := daemon.NewLogger(c.Log, sink)
	if err != nil {
		return err
	}
	// A floor under the heap's growth between collections: parkd's heap is
	// small, and with Go's default the collector ran some 13 times a
	// second at 200 parks a second, in the way of a park now and then
	// (internal/gcfloor). GOGC or GOMEMLIMIT in the environment win.
	stopFloor, _ := gcfloor.Start(gcfloor.DefaultFloor)
	defer stopFloor()
	if err := askForShortSlices(logger); err != nil {
		return err
	}
	if c.HA.Enabled {
		return servePair(ctx, c, load, logger, sink, hup)
	}
	m := &daemon.Main{Config: c, Logger: logger, Version: Version,
		Load: load}
	if err := m.Open(ctx); err != nil {
		return err
	}
	for {
		select {
		case <-hup:
			logger.Info().Msg("SIGHUP received; reloading the configuration")
			_ = m.Reload() // refused reloads are logged; parkd runs on
		case <-ctx.Done():
			logger.Info().Msg("signal received; shutting down")
			err := m.Close()
			if n := sink.Lost(); n > 0 {
				logger.Warn().Uint64("lines", n).Msg("log lines lost in all while the log's destination failed")
			}
			return err
		}
	}
}
