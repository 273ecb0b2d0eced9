// Package cli is parkd's command line: serve and the operator commands,
// and the plumbing the other commands (parkd-bench, parkd-demo) share with
// them: flag parsing, config loading, exit codes and the slots table.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
)

// Version is set at build time with
// -ldflags "-X github.com/parkd/parkd/cli.Version=...".
var Version = "dev"

// ErrUsage marks a command-line mistake: exit code 2.
var ErrUsage = errors.New("usage")

// ExitCode maps Run's error to the process exit code: 0 ok (and --help),
// 2 usage, 1 anything else.
func ExitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, ErrUsage):
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
  fsconf    print the FreeSWITCH dialplan include for the configured lots
  check     validate a configuration file
  version   print the version

Every command takes -c FILE (default: built-in defaults). Run
"parkd <command> --help" for its flags.
`

// Run dispatches a subcommand. It never calls os.Exit, so tests can run it.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command given", ErrUsage)
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
	case "export":
		return runExport(ctx, rest, stdout, stderr)
	case "fsconf":
		return runFSConf(rest, stdout, stderr)
	case "check":
		return runCheck(rest, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "parkd", Version)
		return nil
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: unknown command %q", ErrUsage, cmd)
	}
}

// NewFlags returns a flag set for a subcommand whose parse errors are
// usage errors and whose --help prints to stderr.
func NewFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: parkd %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args, turning flag errors into usage errors and rejecting
// stray arguments.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: %s: unexpected argument %q", ErrUsage, fs.Name(), fs.Arg(0))
	}
	return nil
}

// ParseFlags parses the flags at the head of args, turning flag errors
// into usage errors; the arguments after them are fs.Args().
func ParseFlags(fs *flag.FlagSet, args []string) error {
	err := fs.Parse(args)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		return fmt.Errorf("%w: %s: %v", ErrUsage, fs.Name(), err)
	}
	return err
}
