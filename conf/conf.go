// Package conf loads and validates parkd's configuration file.
//
// The file is TOML. Every key is optional and has a default (see Default),
// unknown keys are rejected, and every problem is reported on its own line
// naming the file, the key and what is wrong with it. The ESL password is
// never included in an error message or in String output.
package conf

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// Defaults applied to keys that the file does not set.
const (
	DefaultListen         = "127.0.0.1:8084"
	DefaultFreeSWITCH     = "127.0.0.1:8021"
	DefaultPassword       = "ClueCon"
	DefaultCommandTimeout = 5 * time.Second
	DefaultStorePath      = "parkd.db"
	DefaultLogLevel       = "info"
	DefaultLogFormat      = "json"

	DefaultLotName      = "default"
	DefaultSlots        = "701-720"
	DefaultMusic        = "local_stream://moh"
	DefaultTimeout      = 120 * time.Second
	DefaultOnFull       = "reject"
	DefaultOnOccupied   = "reject"
	DefaultParkCode     = "*70"
	DefaultRetrieveCode = "*71"
)

// DefaultAllow returns the default list of CIDR prefixes allowed to connect to
// parkd's outbound-socket listener: the loopback addresses. It returns a new
// slice on every call.
func DefaultAllow() []string { return []string{"127.0.0.1/32", "::1/128"} }

// Config is the whole configuration file.
type Config struct {
	ESL   ESL   `toml:"esl"`
	Store Store `toml:"store"`
	Log   Log   `toml:"log"`
	// Lots holds the parking lots in file order. The first lot is the
	// default lot, used when a call does not name one.
	Lots []Lot `toml:"lot"`
}

// ESL configures both directions of the FreeSWITCH event socket.
type ESL struct {
	// Listen is the host:port of parkd's outbound-socket listener, which
	// FreeSWITCH's socket application dials.
	Listen string `toml:"listen"`
	// FreeSWITCH is the host:port of FreeSWITCH's inbound event socket.
	FreeSWITCH string `toml:"freeswitch"`
	// Password authenticates parkd on the inbound event socket. It is never
	// printed.
	Password string `toml:"password"`
	// Allow lists the CIDR prefixes allowed to connect to Listen.
	Allow []string `toml:"allow"`
	// CommandTimeout is the deadline for every ESL command.
	CommandTimeout time.Duration `toml:"command_timeout"`
}

// Store configures the SQLite database.
type Store struct {
	// Path is the SQLite database file.
	Path string `toml:"path"`
}

// Log configures logging.
type Log struct {
	// Level is one of debug, info, warn or error.
	Level string `toml:"level"`
	// Format is json or console.
	Format string `toml:"format"`
}

// Lot is one parking lot: a range of slots with its own codes and behaviour.
type Lot struct {
	// Name identifies the lot in the dialplan, the database and the logs.
	Name string `toml:"name"`
	// Slots is the slot range as written in the file: "first-last" or a
	// single slot number. Validate parses it into First and Last.
	Slots string `toml:"slots"`
	// Music is the FreeSWITCH media path played to parked calls.
	Music string `toml:"music"`
	// Timeout is how long a call stays parked before it is recalled.
	Timeout time.Duration `toml:"timeout"`
	// Announce speaks the slot number to the parked channel.
	Announce bool `toml:"announce"`
	// OnFull is "reject" or "overflow:<lot name>".
	OnFull string `toml:"on_full"`
	// OnOccupied is "reject" or "next".
	OnOccupied string `toml:"on_occupied"`
	// ParkCode is the dialplan feature code that parks a call.
	ParkCode string `toml:"park_code"`
	// RetrieveCode is the dialplan feature code that retrieves a call.
	RetrieveCode string `toml:"retrieve_code"`

	// First and Last are the slot range parsed from Slots by Validate (and so
	// by Parse and Load).
	First, Last int `toml:"-"`
}

// Default returns a configuration with every default applied and a single
// default lot.
func Default() Config {
	return Config{
		ESL: ESL{
			Listen:         DefaultListen,
			FreeSWITCH:     DefaultFreeSWITCH,
			Password:       DefaultPassword,
			Allow:          DefaultAllow(),
			CommandTimeout: DefaultCommandTimeout,
		},
		Store: Store{Path: DefaultStorePath},
		Log:   Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		Lots:  []Lot{DefaultLot()},
	}
}

// DefaultLot returns a lot with every per-lot default applied, including its
// parsed slot range.
func DefaultLot() Lot {
	return Lot{
		Name:         DefaultLotName,
		Slots:        DefaultSlots,
		Music:        DefaultMusic,
		Timeout:      DefaultTimeout,
		OnFull:       DefaultOnFull,
		OnOccupied:   DefaultOnOccupied,
		ParkCode:     DefaultParkCode,
		RetrieveCode: DefaultRetrieveCode,
		First:        701,
		Last:         720,
	}
}

// Load reads the configuration file at path and parses it with Parse.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path)
}

// OverflowLot returns the name of the lot that takes calls when l is full, or
// "" unless OnFull is "overflow:<lot>".
func (l Lot) OverflowLot() string {
	name, ok := strings.CutPrefix(l.OnFull, overflowPrefix)
	if !ok {
		return ""
	}
	return name
}

// Size returns the number of slots in the lot, Last-First+1.
func (l Lot) Size() int { return l.Last - l.First + 1 }

// String describes the event socket settings with the password redacted.
func (e ESL) String() string {
	pw := "***"
	if e.Password == "" {
		pw = "(unset)"
	}
	return fmt.Sprintf("listen=%s freeswitch=%s password=%s allow=[%s] command_timeout=%s",
		e.Listen, e.FreeSWITCH, pw, strings.Join(e.Allow, " "), e.CommandTimeout)
}

// GoString is like String, so that %#v does not print the password either.
func (e ESL) GoString() string { return "conf.ESL{" + e.String() + "}" }
