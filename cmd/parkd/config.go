package main

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/fsconf"
	"github.com/parkd/parkd/parking"
)

// loadConfig reads -c FILE, or returns the defaults when path is "".
func loadConfig(path string) (conf.Config, error) {
	if path == "" {
		c := conf.Default()
		return c, c.Validate()
	}
	return conf.Load(path)
}

// lotConfigs maps the configuration's lots into the domain's.
func lotConfigs(c conf.Config) []parking.LotConfig {
	out := make([]parking.LotConfig, 0, len(c.Lots))
	for _, l := range c.Lots {
		r := l.Recall
		ext, dialplan, context := l.FallbackDestination()
		out = append(out, parking.LotConfig{
			Name: l.Name, First: l.First, Last: l.Last, Music: l.Music, Timeout: l.Timeout,
			Announce: l.Announce, OverflowTo: l.OverflowLot(), NextIfTaken: l.OnOccupied == "next",
			Recall: parking.RecallConfig{
				Enabled: r.Enabled, Dial: r.Dial, AlertInfo: r.AlertInfo, CallerIDName: r.CallerIDName,
				CallerIDNumber: r.CallerIDNumber, RingFor: r.RingFor, RetryAfter: r.RetryAfter,
				Attempts: r.Attempts, Domain: r.Domain,
			},
			Fallback: parking.Destination{Extension: ext, Dialplan: dialplan, Context: context},
		})
	}
	return out
}

// fsconfParams maps the configuration into the dialplan renderer's input.
func fsconfParams(c conf.Config) fsconf.Params {
	p := fsconf.Params{Listen: c.ESL.Listen}
	for _, l := range c.Lots {
		p.Lots = append(p.Lots, fsconf.Lot{
			Name: l.Name, ParkCode: l.ParkCode, RetrieveCode: l.RetrieveCode, First: l.First, Last: l.Last,
		})
	}
	return p
}

// allowList parses esl.allow (already validated by conf).
func allowList(c conf.Config) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range c.ESL.Allow {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("esl.allow: %w", err)
		}
		out = append(out, p)
	}
	return out, nil
}

// newLogger builds the process logger from [log]. Only main-level code
// builds loggers; everything else is handed one.
func newLogger(c conf.Log, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("log.level: %w", err)
	}
	if c.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: !isTerminal(w)}
	}
	// Many goroutines log; the writer must take whole lines one at a time.
	w = zerolog.SyncWriter(w)
	return zerolog.New(w).Level(level).Hook(timeHook{}), nil
}

// timeHook stamps every line with the time in UTC to the millisecond,
// without touching zerolog's package-level time format.
type timeHook struct{}

func (timeHook) Run(e *zerolog.Event, _ zerolog.Level, _ string) {
	e.Str(zerolog.TimestampFieldName, time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00"))
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("check", "Validate a configuration file and report every problem.", stderr)
	path := fs.String("c", "", "configuration `FILE`")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	name := *path
	if name == "" {
		name = "built-in defaults"
	}
	fmt.Fprintf(stdout, "%s: OK: %d lot(s), listening on %s, FreeSWITCH at %s, store %s\n",
		name, len(c.Lots), c.ESL.Listen, c.ESL.FreeSWITCH, c.Store.Path)
	return nil
}

func runFSConf(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("fsconf", "Print the FreeSWITCH dialplan include (conf/dialplan/default/00_parkd.xml).", stderr)
	path := fs.String("c", "", "configuration `FILE`")
	if err := parse(fs, args); err != nil {
		return err
	}
	c, err := loadConfig(*path)
	if err != nil {
		return err
	}
	return fsconf.Render(stdout, fsconfParams(c))
}
