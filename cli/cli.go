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

	"github.com/parkd/parkd/conf"
)

// Version is set at build time with
// -ldflags "-X github.com/parkd/parkd/cli.Version=...".
var Version = "dev"

// ErrUsage marks a command-line mistake: exit code 2.
var ErrUsage = errors.New("usage")

// ExitCode maps Run's error to the process exit code: 0 ok (and --help),
// 2 usage, 1 anything else. It prints the error on one line; a usage error
// from Run, NewFlags' flag sets or Parse adds a line saying where help is.
func ExitCode(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	var ue *usageError
	prog := "parkd"
	if errors.As(err, &ue) && ue.prog != "" {
		prog = ue.prog
	}
	fmt.Fprintf(stderr, "%s: %v\n", prog, err)
	if !errors.Is(err, ErrUsage) {
		return 1
	}
	if ue != nil && ue.hint != "" {
		fmt.Fprintln(stderr, ue.hint)
	}
	return 2
}

// usageError is a command-line mistake made in a known place, with the
// hint that says where the help for it is.
type usageError struct {
	prog string // the program, if not parkd
	msg  string // the mistake, naming the command
	hint string // one line: where the help is
}

func (e *usageError) Error() string        { return e.msg }
func (e *usageError) Is(target error) bool { return target == ErrUsage }

// Usagef returns a usage error (exit code 2) of the command or program fs
// parses, followed on stderr by the line saying where its help is.
func Usagef(fs *flag.FlagSet, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if isProgram(fs.Name()) {
		return &usageError{prog: fs.Name(), msg: msg, hint: helpHint(fs.Name())}
	}
	return &usageError{msg: fs.Name() + ": " + msg, hint: helpHint(fs.Name())}
}

// helpHint says where the help for the command named name is.
func helpHint(name string) string {
	if isProgram(name) {
		return fmt.Sprintf("run %q", name+" --help")
	}
	return fmt.Sprintf("run %q (or %q)", "parkd help", "parkd "+name+" --help")
}

// commands are parkd's commands in the order help lists them.
var commands = []struct{ name, what string }{
	{"serve", "run the daemon"},
	{"slots", "show who is parked now"},
	{"history", "show the park history and notes (filters: --lot, --parker, --caller, --since, ...)"},
	{"report", "parked calls, outcomes and waits per lot, parker, retriever, hour or day"},
	{"note", `attach a note to a parked call: parkd note LOT SLOT "TEXT"`},
	{"export", "write the history and notes as CSV, for archiving"},
	{"fsconf", "print the FreeSWITCH dialplan include for the configured lots"},
	{"check", "check the configuration serve would run with, and its store"},
	{"passwd", "print the hash of a board password for [[http.user]], or with --token a new API token"},
	{"unlock", "lift outside pick-up lockouts: parkd unlock LOT [NUMBER]"},
	{"migrate", "copy a site's database into another and compare: --from sqlite:PATH --to postgres:DSN"},
	{"pin", "print the hash of an outside pick-up PIN for pin_hash in [lot.outside]"},
	{"version", "print the version"},
	{"help", "print this help, or a command's: parkd help COMMAND"},
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, "parkd: call park for FreeSWITCH\n\nUsage: parkd COMMAND [flags] [arguments]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.what)
	}
	fmt.Fprint(w, "\nThe configuration is -c FILE, else $"+conf.EnvPath+", else "+conf.DefaultPath+".\n"+
		"Flags may come before or after the arguments; \"--\" ends the flags.\n"+
		"Run \"parkd COMMAND --help\" for a command's flags.\n")
}

// Run dispatches a subcommand. It never calls os.Exit, so tests can run it.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stderr)
		return &usageError{msg: "no command given"}
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
	case "passwd":
		return runPasswd(rest, stdout, stderr)
	case "pin":
		return runPin(rest, stdout, stderr)
	case "unlock":
		return runUnlock(ctx, rest, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, stdout, stderr)
	case "version":
		return runVersion(rest, stdout, stderr)
	case "help", "-h", "-help", "--help":
		return runHelp(ctx, rest, stdout, stderr)
	}
	names := make([]string, len(commands))
	for i, c := range commands {
		names[i] = c.name
	}
	msg := fmt.Sprintf("unknown command %q", cmd)
	if s := suggest(cmd, names); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", s)
	}
	return &usageError{msg: msg, hint: `run "parkd help"`}
}

// runHelp prints the list of commands to stdout, or with a command name
// that command's help (as "parkd COMMAND --help" does).
func runHelp(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		printUsage(stdout)
		return nil
	}
	if args[0] == "help" {
		return runHelp(ctx, nil, stdout, stderr)
	}
	return Run(ctx, []string{args[0], "--help"}, stdout, stderr)
}

func runVersion(args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("version", "Print parkd's version.", stderr)
	if err := Parse(fs, args); err != nil {
		return err
	}
	_, err := fmt.Fprintln(stdout, "parkd", Version)
	return err
}
