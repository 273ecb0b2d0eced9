// Command parkd-bench is parkd's load tool: it drives parkd with the
// FreeSWITCH simulator under the scenarios of BENCHMARKS.md and reports
// its figures. parkd runs as a child process (a parkd binary given with
// --parkd), in this process (--inproc), or is one already running (-c).
// `parkd-bench gen-history` writes a synthetic history for report tests.
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
	os.Exit(cli.ExitCode(run(ctx, os.Args[1:]), os.Stderr))
}

// run dispatches: gen-history, or the load test (the default).
func run(ctx context.Context, args []string) error {
	if len(args) > 0 && args[0] == "gen-history" {
		return runGenHistory(ctx, args[1:], os.Stdout, os.Stderr)
	}
	return runBench(ctx, args, os.Stdout, os.Stderr)
}
