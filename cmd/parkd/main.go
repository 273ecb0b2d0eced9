// Command parkd is call park for FreeSWITCH: the daemon (parkd serve) and
// the operator commands around it. The load tool is cmd/parkd-bench and
// the narrated demo cmd/parkd-demo; neither is linked into this binary.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/parkd/parkd/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(cli.ExitCode(cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}
