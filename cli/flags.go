package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// NewFlags returns a flag set for a parkd command (name "note") or a
// program of its own (name "parkd-bench"): its --help prints the synopsis
// and the flags to stderr, and Parse and ParseFlags turn its mistakes into
// usage errors.
func NewFlags(name, synopsis string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	title := "parkd " + name
	if isProgram(name) {
		title = name
	}
	fs.Usage = func() {
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if !hasFlags {
			fmt.Fprintf(stderr, "Usage: %s\n\n%s\n", title, synopsis)
			return
		}
		fmt.Fprintf(stderr, "Usage: %s [flags]\n\n%s\n\nFlags:\n", title, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// isProgram reports whether a flag set's name is a program's (parkd-bench)
// rather than one of parkd's commands.
func isProgram(name string) bool { return strings.HasPrefix(name, "parkd") }

// Parse parses args as ParseFlags does and rejects arguments that are not
// flags.
func Parse(fs *flag.FlagSet, args []string) error {
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return Usagef(fs, "unexpected argument %q", fs.Arg(0))
	}
	return nil
}

// ParseFlags parses the flags in args, before, between or after the other
// arguments, which become fs.Args() in their order; "--" ends the flags
// (the arguments after it are all kept, "-x" included). An unknown flag is
// a usage error that suggests the nearest known one; a flag error prints
// no usage, --help prints it (and returns flag.ErrHelp).
func ParseFlags(fs *flag.FlagSet, args []string) error {
	flags, positional, err := splitArgs(fs, args)
	if err != nil {
		return err
	}
	// The flag package prints its error and the usage on any mistake; the
	// caller prints the error once, so parse silently.
	out, usage := fs.Output(), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err = fs.Parse(append(append(flags, "--"), positional...))
	fs.SetOutput(out)
	fs.Usage = usage
	switch {
	case errors.Is(err, flag.ErrHelp):
		fs.Usage()
		return err
	case err != nil:
		return Usagef(fs, "%v", err)
	}
	return nil
}

// splitArgs separates the flags in args (each with its value, if it takes
// one as the next argument) from the other arguments. It refuses unknown
// flags itself, to suggest a known one.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(positional, args[i+1:]...), nil
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(a[1:], "-"), "=")
		flags = append(flags, a)
		f := fs.Lookup(name)
		switch {
		case f == nil && (name == "h" || name == "help"):
			continue // the flag package's --help
		case f == nil:
			return nil, nil, unknownFlag(fs, name)
		case hasValue || isBoolFlag(f):
			continue
		case i+1 == len(args):
			return nil, nil, Usagef(fs, "%s needs a value", dashed(name))
		default:
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// unknownFlag is the usage error for --name, with the nearest known flag.
func unknownFlag(fs *flag.FlagSet, name string) error {
	var known []string
	fs.VisitAll(func(f *flag.Flag) { known = append(known, f.Name) })
	msg := fmt.Sprintf("unknown flag %s", dashed(name))
	if s := suggest(name, known); s != "" {
		msg += fmt.Sprintf("; did you mean %q?", dashed(s))
	}
	return Usagef(fs, "%s", msg)
}

// dashed writes a flag name the way the help does: -c, --db.
func dashed(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}
