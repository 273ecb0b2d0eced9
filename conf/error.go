package conf

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Error is one problem found in a configuration file. Parse, Load and
// Validate return several of them joined with errors.Join; use errors.As or
// the Unwrap() []error method of the joined error to inspect them.
type Error struct {
	// File is the file name given to Parse or Load; empty from Validate.
	File string
	// Line is the line the problem is on, when known; 0 otherwise.
	Line int
	// Key is the key path, such as "lot[1].slots" or "esl.allow[0]"; empty
	// for syntax errors.
	Key string
	// Problem says what is wrong, on one line.
	Problem string
}

// Error formats the problem as one line: "file: line N: key: problem",
// leaving out the parts that are unknown.
func (e *Error) Error() string {
	var parts []string
	if e.File != "" {
		parts = append(parts, e.File)
	}
	if e.Line > 0 {
		parts = append(parts, "line "+strconv.Itoa(e.Line))
	}
	if e.Key != "" {
		parts = append(parts, e.Key)
	}
	parts = append(parts, strings.NewReplacer("\r\n", "; ", "\n", "; ", "\r", "; ").Replace(strings.TrimSpace(e.Problem)))
	return strings.Join(parts, ": ")
}

// problems collects configuration errors in the order they are found.
type problems []*Error

// addf records a problem with key.
func (p *problems) addf(key, format string, args ...any) {
	*p = append(*p, &Error{Key: key, Problem: fmt.Sprintf(format, args...)})
}

// err joins the problems, naming file in each, or returns nil if there are
// none.
func (p problems) err(file string) error {
	errs := make([]error, len(p))
	for i, e := range p {
		e.File = file
		errs[i] = e
	}
	return errors.Join(errs...)
}

// maxQuoted is the longest value, in bytes, quoted whole in an error message.
const maxQuoted = 80

// quote returns v as a Go string literal for an error message, shortened if
// it is long. The result never contains a line break.
func quote(v string) string {
	if len(v) > maxQuoted {
		return strconv.Quote(v[:maxQuoted]) + "..."
	}
	return strconv.Quote(v)
}

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// joinKey appends piece to the key path parent, quoting piece unless it is a
// bare TOML key, so that odd keys cannot break the one-line format.
func joinKey(parent, piece string) string {
	if !bareKey.MatchString(piece) {
		piece = quote(piece)
	}
	if parent == "" {
		return piece
	}
	return parent + "." + piece
}
