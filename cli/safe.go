package cli

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Caller names and numbers come from outside callers, parker and retriever
// from SIP headers, notes from operators: none of it is trusted where it is
// shown. The database keeps it as it came and JSON output carries it
// verbatim (a JSON reader neither executes nor renders it); the two outputs
// below that people read or open in a spreadsheet neutralise it.

// tableText makes s safe to show in a table cell on a terminal: every
// control character and every invisible formatting character (bidi
// overrides and isolates U+202A-U+202E, U+2066-U+2069, zero-width
// characters, line separators, ...) is shown as a visible escape such as
// \u202e, so that no value can reorder, hide or split a row; invalid UTF-8
// becomes U+FFFD.
func tableText(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		switch {
		case !invisible(r):
			b.WriteRune(r)
		case r <= 0xFFFF:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			fmt.Fprintf(&b, `\U%08x`, r)
		}
	}
	return b.String()
}

func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	return strings.IndexFunc(s, invisible) >= 0
}

// invisible reports whether r is a control or formatting character, or a
// line or paragraph separator: characters that show nothing themselves
// but change how the text around them shows.
func invisible(r rune) bool {
	return unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp)
}

// csvText makes s safe as a CSV cell a spreadsheet may open: a cell that
// starts with =, +, -, @, a tab or a carriage return would be read as a
// formula, so it gets a leading single quote (OWASP's rule for CSV
// injection). A plain number (+15550100, -3, 1.5) is left alone: a
// spreadsheet reads it as a number, never a formula, and a phone number
// keeps its "+". Only cells holding text from outside (names, numbers,
// notes) go through it; parkd's own figures are written as they are.
func csvText(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) || plainNumber(s) {
		return s
	}
	return "'" + s
}

// plainNumber reports whether s is an optional sign, digits and at most
// one decimal point between digits.
func plainNumber(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	intPart, frac, hasDot := strings.Cut(s, ".")
	digits := func(p string) bool {
		return p != "" && strings.Trim(p, "0123456789") == ""
	}
	return digits(intPart) && (!hasDot || digits(frac))
}
