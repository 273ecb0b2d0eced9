// Command parkd-bench is parkd's load tool: it drives parkd with the
// FreeSWITCH simulator under the scenarios of BENCHMARKS.md and reports
// its figures. parkd runs as a child process (a parkd binary given with
// --parkd), in this process (--inproc), or is one already running (-c).
// `parkd-bench gen-history` writes a synthetic history for report tests.
package main

import (
	"context"
	"io"
	"os"

	"github.com/parkd/parkd/cli"
)

func main() { cli.Main(run) }

// run dispatches: gen-history, or the load test (the default).
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "gen-history" {
		return runGenHistory(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "sse-clients" {
		return runSSEClients(ctx, args[1:], os.Stdin, stdout, stderr)
	}
	return runBench(ctx, args, stdout, stderr)
}
