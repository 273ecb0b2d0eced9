package cli

import (
	"context"
	"io"

	"github.com/parkd/parkd/daemon"
)

func runServe(ctx context.Context, args []string, stderr io.Writer) error {
	fs := NewFlags("serve", "Run the parkd daemon until SIGINT or SIGTERM.", stderr)
	path := fs.String("c", "", "configuration `FILE`")
	if err := Parse(fs, args); err != nil {
		return err
	}
	c, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	logger, err := daemon.NewLogger(c.Log, stderr)
	if err != nil {
		return err
	}
	m := &daemon.Main{Config: c, Logger: logger, Version: Version}
	if err := m.Open(ctx); err != nil {
		return err
	}
	<-ctx.Done()
	logger.Info().Msg("signal received; shutting down")
	return m.Close()
}
