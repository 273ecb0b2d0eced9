package cli

import (
	"flag"
	"fmt"
	"time"

	"github.com/parkd/parkd/parking"
)

const (
	// timeFormat is the times of JSON and CSV output: UTC, milliseconds.
	timeFormat = "2006-01-02T15:04:05.000Z"
	// tableTime is the times of the slots and history tables, in --tz.
	tableTime = "2006-01-02 15:04:05"
)

// loadZone resolves --tz. An unknown zone is a usage error.
func loadZone(fs *flag.FlagSet, name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, Usagef(fs, "--tz %q: unknown time zone", name)
	}
	return loc, nil
}

// The helpers below format a table cell; each makes what it shows safe
// with tableText.

func callerText(c parking.Caller) string {
	switch {
	case c.Name != "" && c.Number != "":
		return fmt.Sprintf("%s <%s>", tableText(c.Name), tableText(c.Number))
	case c.Number != "":
		return tableText(c.Number)
	case c.Name != "":
		return tableText(c.Name)
	}
	return "unknown"
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return tableText(s)
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return tableText(s)
}
