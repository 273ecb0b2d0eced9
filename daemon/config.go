package daemon

import (
	"fmt"
	"io"
	"net/netip"
	"os"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/internal/passhash"
	"github.com/parkd/parkd/parking"
)

// lotConfigs maps the configuration's lots into the domain's.
func lotConfigs(c conf.Config) []parking.LotConfig {
	out := make([]parking.LotConfig, 0, len(c.Lots))
	for _, l := range c.Lots {
		r := l.Recall
		ext, dialplan, context := l.FallbackDestination()
		out = append(out, parking.LotConfig{
			Name: l.Name, Domain: l.Domain, First: l.First, Last: l.Last, Music: l.Music, Timeout: l.Timeout,
			Announce: l.Announce, OverflowTo: l.OverflowLot(), NextIfTaken: l.OnOccupied == "next",
			Recall: parking.RecallConfig{
				Enabled: r.Enabled, Dial: r.Dial, AlertInfo: r.AlertInfo, CallerIDName: r.CallerIDName,
				CallerIDNumber: r.CallerIDNumber, RingFor: r.RingFor, RetryAfter: r.RetryAfter,
				Attempts: r.Attempts, Domain: r.Domain,
			},
			Fallback: parking.Destination{Extension: ext, Dialplan: dialplan, Context: context},
			Outside:  outsideConfig(l.Outside),
		})
	}
	return out
}

// outsideConfig maps a lot's [lot.outside] into the domain's; off (no
// PIN checker) when the lot has no outside number.
func outsideConfig(o conf.Outside) parking.OutsideConfig {
	if !o.Enabled() {
		return parking.OutsideConfig{}
	}
	l := o.Lockout
	return parking.OutsideConfig{
		PIN: pinHash(o.PINHash), AskSlot: o.Slot, DigitTimeout: o.DigitTimeout, Reprompts: o.Reprompts,
		Prompts: parking.OutsidePrompts{Slot: o.Prompts.Slot, PIN: o.Prompts.PIN, WrongPIN: o.Prompts.WrongPIN, NoCall: o.Prompts.NoCall},
		Lockout: parking.Lockout{
			Tries: l.Tries, NumberFailures: l.NumberFailures, NumberWindow: l.NumberWindow, NumberLock: l.NumberLock,
			LotFailures: l.LotFailures, LotWindow: l.LotWindow, LotLock: l.LotLock,
		},
	}
}

// pinHash checks a PIN against a lot's pin_hash with passhash: argon2id
// or bcrypt, compared in constant time. A hash conf let through is never
// malformed; if it were, no PIN would be right.
type pinHash string

func (h pinHash) CheckPIN(pin string) bool {
	ok, err := passhash.Check(string(h), pin)
	return err == nil && ok
}

// String keeps the hash out of logs and %v.
func (h pinHash) String() string { return "[pin hash]" }

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

// NewLogger builds the process logger from [log], writing to w. Only the
// commands build loggers; everything else is handed one. Unless w is
// already a *LogSink, it is wrapped in one, so that a log destination that
// fails never stops the daemon (pass a LogSink to read how many lines
// were lost).
func NewLogger(c conf.Log, w io.Writer) (zerolog.Logger, error) {
	level, err := zerolog.ParseLevel(c.Level)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("log.level: %w", err)
	}
	sink, ok := w.(*LogSink)
	if !ok {
		sink = NewLogSink(w)
	}
	format := func(w io.Writer) io.Writer { return w }
	if c.Format == "console" {
		color := isTerminal(sink.w)
		format = func(w io.Writer) io.Writer {
			return zerolog.ConsoleWriter{Out: w, TimeFormat: "15:04:05.000", NoColor: !color}
		}
	}
	sink.mu.Lock()
	sink.notice = lostNotice(format)
	sink.mu.Unlock()
	// Many goroutines log; the writer must take whole lines one at a time.
	return zerolog.New(zerolog.SyncWriter(format(sink))).Level(level).Hook(timeHook{}), nil
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
