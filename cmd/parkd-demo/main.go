// Command parkd-demo runs a narrated hospital scenario: parkd against the
// built-in FreeSWITCH simulator, from the receptionist's park to the
// recall she misses and the one she answers.
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
	os.Exit(cli.ExitCode(runDemo(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}
