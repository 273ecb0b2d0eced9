package cli

import (
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	// The zone database is built in, so --tz works on hosts without one.
	_ "time/tzdata"
)

// ParseWhen parses a time given on the command line: "now"; a date or date
// and time (2026-11-01, 2026-11-01T08:00, 2026-11-01 08:00:30) in loc; an
// RFC 3339 time with its own offset; or a duration meaning that long before
// now ("7d", "24h", "90m", "1h30m"). "" gives the zero time.
func ParseWhen(s string, now time.Time, loc *time.Location) (time.Time, error) {
	switch s {
	case "":
		return time.Time{}, nil
	case "now":
		return now, nil
	}
	// The absolute forms, read in loc.
	for _, layout := range []string{"2006-01-02", "2006-01-02T15:04", "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02 15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if d, err := parseAgo(s); err == nil {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q: want a date (2026-11-01), a date and time (2026-11-01T08:00) or a duration ago (7d, 24h)", s)
}

// parseAgo parses a non-negative duration: whole days ("7d") or a Go
// duration ("24h", "1h30m").
func parseAgo(s string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*366 {
			return 0, fmt.Errorf("%q: not a number of days", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q: not a duration", s)
	}
	return d, nil
}

// timeFlags are the time window flags of report, history and export.
type timeFlags struct {
	from, to, tz *string
	fromName     string
	toName       string
}

// addTimeFlags declares the window flags named from and to, and --tz
// described by tzUsage (what the zone is for depends on the command).
func addTimeFlags(fs *flag.FlagSet, from, to, fromDefault, toDefault, what, tzUsage string) timeFlags {
	return timeFlags{
		from:     fs.String(from, fromDefault, "start of the "+what+" (inclusive): `WHEN`, a date 2026-11-01, 2026-11-01T08:00, or a duration ago such as 7d or 24h"),
		to:       fs.String(to, toDefault, "end of the "+what+" (exclusive): `WHEN`, as --"+from),
		tz:       fs.String("tz", "Local", tzUsage),
		fromName: from, toName: to,
	}
}

// window resolves the flags against now. Errors are usage errors.
func (f timeFlags) window(fs *flag.FlagSet, now time.Time) (from, to time.Time, loc *time.Location, err error) {
	if loc, err = loadZone(fs, *f.tz); err != nil {
		return from, to, nil, err
	}
	if from, err = ParseWhen(*f.from, now, loc); err != nil {
		return from, to, nil, Usagef(fs, "--%s %v", f.fromName, err)
	}
	if to, err = ParseWhen(*f.to, now, loc); err != nil {
		return from, to, nil, Usagef(fs, "--%s %v", f.toName, err)
	}
	if !from.IsZero() && !to.IsZero() && !from.Before(to) {
		return from, to, nil, Usagef(fs, "--%s %s is not before --%s %s", f.fromName, *f.from, f.toName, *f.to)
	}
	return from, to, loc, nil
}
