// Command parkd is call park for FreeSWITCH: a daemon that parks and
// retrieves calls over the event socket, and the CLI around it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// errUsage marks a command-line mistake: exit code 2.
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(exitCode(run(ctx, os.Args[1:], os.Stdout, os.Stderr), os.Stderr))
}

// exitCode maps run's error to the process exit code: 0 ok (and --help),
// 2 usage, 1 anything else.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintln(stderr, "parkd:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "parkd:", err)
		return 1
	}
}

const usage = `parkd: call park for FreeSWITCH

Usage: parkd <command> [flags]

Commands:
  serve     run the daemon
  slots     show who is parked now
  history   show the park history and notes (filters: --lot, --parker, --caller, --since, ...)
  report    parked calls, outcomes and waits per lot, parker, retriever, hour or day
  note      attach a note to a parked call: parkd note LOT SLOT "TEXT"
  export    write the history and notes as CSV, for archiving
  bench     drive parkd with the simulator under load and report its figures
  fsconf    print the FreeSWITCH dialplan include for the configured lots
  check     validate a configuration file
  demo      run a hospital scenario against the built-in FreeSWITCH simulator
  version   print the version

Every command takes -c FILE (default: built-in defaults). Run
"parkd <command> --help" for its flags.
`

// run dispatches a subcommand. It never calls os.Exit, so tests can run it.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return runServe(ctx, rest, stderr)
	case "slots":
		return runSlots(ctx, rest, stdout, stderr)
	case "history":
		return runHistory(ctx, rest, stdout, stderr)
	case "report":
		return runReport(ctx, rest, stdout, stderr)
	case "note":
		return runNote(ctx, rest, stdout, stderr)
	case "bench":
		return runBench(ctx, rest, stdout, stderr)
	case "export":
		return runExport(ctx, rest, stdout, stderr)
	case "gen-history": // hidden: load-test fixtures
		return runGenHistory(ctx, rest, stdout, stderr)
	case "fsconf":
		return runFSConf(rest, stdout, stderr)
	case "check":
		return runCheck(rest, stdout, stderr)
	case "demo":
		return runDemo(ctx, rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "parkd", version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
	}
}

// newFlags returns a flag set for a subcommand whose parse errors are
// usage errors and whose --help prints to stderr.
func newFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: parkd %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args, turning flag errors into usage errors and rejecting
// stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", errUsage, fs.Name(), fs.Arg(0))
	}
	return nil
}

// parseFlags parses the flags at the head of args, turning flag errors
// into usage errors; the arguments after them are fs.Args().
func parseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return fmt.Errorf("%w: %s: %v", errUsage, fs.Name(), err)
	}
	return err
}
