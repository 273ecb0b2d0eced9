// Package conf finds (Locate), loads (Load) and validates parkd's
// configuration file, and tells which changes a reload cannot apply
// (NeedsRestart).
//
// The file is TOML. Every key is optional and has a default (see Default),
// unknown keys are rejected, and every problem is reported on its own line
// naming the file, the line, the key and what is wrong with it. The ESL
// password and the [http] users' and tokens' hashes are never included in
// an error message or in String output.
package conf

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parkd/parkd/esl"
)

// Defaults applied to keys that the file does not set.
const (
	DefaultListen         = "127.0.0.1:8084"
	DefaultFreeSWITCH     = "127.0.0.1:8021"
	DefaultPassword       = "ClueCon"
	DefaultCommandTimeout = 5 * time.Second
	DefaultStorePath      = "parkd.db"
	DefaultStoreDriver    = "sqlite"
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

	DefaultRecallDial           = "user/{parker}@{domain}"
	DefaultRecallAlertInfo      = "<http://127.0.0.1/Bellcore-dr4>"
	DefaultRecallCallerIDName   = "Park {slot} - {caller_name}"
	DefaultRecallCallerIDNumber = "{slot}"
	DefaultRecallRingFor        = 30 * time.Second
	DefaultRecallRetryAfter     = 30 * time.Second
	DefaultRecallAttempts       = 3
)

// DefaultAllow returns the default list of CIDR prefixes allowed to connect to
// parkd's outbound-socket listener: the loopback addresses. It returns a new
// slice on every call.
func DefaultAllow() []string { return []string{"127.0.0.1/32", "::1/128"} }

// Config is the whole configuration file.
type Config struct {
	// Instance names this parkd on every channel it parks, so that it adopts
	// only its own calls. The default is the host name (see esl.DefaultInstance).
	Instance string `toml:"instance"`
	ESL      ESL    `toml:"esl"`
	Store    Store  `toml:"store"`
	Log      Log    `toml:"log"`
	// BLF configures the phones' busy-lamp keys.
	BLF BLF `toml:"blf"`
	// HTTP configures the reception board and the JSON API.
	HTTP HTTP `toml:"http"`
	// Webhooks are told every transition ([[webhook]]).
	Webhooks []Webhook `toml:"webhook"`
	// HA makes this parkd one of an active/standby pair ([ha], ha.go).
	HA HA `toml:"ha"`
	// Lots holds the parking lots in file order. The first lot is the
	// default lot, used when a call does not name one.
	Lots []Lot `toml:"lot"`
	// Nodes are the FreeSWITCH nodes that share the lots ([[node]],
	// nodes.go): every parkd of a site lists all of them, and ESL.Node
	// says which one it serves. Empty: one switch, no nodes.
	Nodes []Node `toml:"node"`
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
	// Node names the [[node]] whose FreeSWITCH this parkd serves, when
	// several nodes share the lots; "" without nodes.
	Node string `toml:"node"`
}

// Store configures the database: a SQLite file (the default), or a
// PostgreSQL database.
type Store struct {
	// Driver is "sqlite" (the default: the file at Path) or "postgres"
	// (the database DSN names; Path is not used).
	Driver string `toml:"driver"`
	// Path is the SQLite database file. Load makes a relative path
	// relative to the configuration file's directory.
	Path string `toml:"path"`
	// DSN names the PostgreSQL database, in libpq's keyword/value form
	// ("host=db1 dbname=parkd user=parkd") or as a URL
	// (postgres://parkd@db1/parkd); libpq's environment variables fill in
	// what it leaves out. The password may be in it or, better, in
	// PGPASSWORD or a password file (PGPASSFILE, ~/.pgpass). It is never
	// printed: messages quote no DSN.
	DSN string `toml:"dsn"`
	// Keep is how long the history of ended park sessions is kept; a daily
	// prune deletes what is older. 0 (the default, keep = "") keeps
	// everything. Written "400d" (days) or as a Go duration ("9600h"); at
	// least one day.
	Keep time.Duration `toml:"keep"`
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
	// Name identifies the lot in the dialplan, the database and the logs,
	// within its domain.
	Name string `toml:"name"`
	// Domain is the tenant the lot belongs to: the SIP domain
	// (FreeSWITCH's domain_name) of the phones that use it, in lower case,
	// e.g. "hospital-a.example". "" (the default) is the single-tenant
	// case. Lot names, slots and codes may repeat across domains; a call
	// only ever reaches the lots of its own domain.
	Domain string `toml:"domain"`
	// Slots is the slot range as written in the file: "first-last" or a
	// single slot number. Validate parses it into First and Last.
	Slots string `toml:"slots"`
	// Music is the FreeSWITCH media path played to parked calls.
	Music string `toml:"music"`
	// Timeout is how long a call stays parked before it is recalled.
	Timeout time.Duration `toml:"timeout"`
	// WarnAfter is how long a call may wait before the board shows its
	// waiting time in amber (it turns red at the recall deadline). 0 means
	// half the timeout: see Warn.
	WarnAfter time.Duration `toml:"warn_after"`
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
	// Recall is how the parker is rung back when the timeout passes.
	Recall Recall `toml:"recall"`
	// Fallback is the dialplan destination, "extension [dialplan [context]]",
	// a call goes to after its last failed recall, at once when nobody can
	// be recalled, or at the timeout when recall is off. "" keeps the call
	// parked (and, with recall on, recalls it every RetryAfter). See
	// FallbackDestination.
	Fallback string `toml:"fallback"`

	// BLFPrefix is what a busy-lamp key's user part starts with, before a
	// slot number or the lot's key: park+201@<domain>.
	BLFPrefix string `toml:"blf_prefix"`
	// BLFLot is what follows BLFPrefix on the lot's own key: "park_code",
	// "name" or "off" (see LotKey).
	BLFLot string `toml:"blf_lot"`

	// Outside is the lot's [lot.outside] table: pick-up from outside with a
	// PIN. Off unless Number is set.
	Outside Outside `toml:"outside"`

	// First and Last are the slot range parsed from Slots by Validate (and so
	// by Parse and Load).
	First, Last int `toml:"-"`
}

// Outside is a lot's [lot.outside] table: a number that reaches the lot
// from outside, where a caller enters the slot and a PIN and is bridged to
// the parked call (issue 15).
type Outside struct {
	// Number is the DID or extension outside calls arrive on, e.g.
	// "+15550199"; "" turns outside pick-up off.
	Number string `toml:"number"`
	// PINHash is the argon2id or bcrypt hash of the PIN, from parkd pin.
	PINHash string `toml:"pin_hash"`
	// Context is the dialplan context outside calls arrive in.
	Context string `toml:"context"`
	// Slot asks for the slot first; false: the PIN alone takes the call
	// that has waited longest in the lot.
	Slot bool `toml:"slot"`
	// Prompts are what the caller hears.
	Prompts Prompts `toml:"prompts"`
	// DigitTimeout is how long parkd waits for the first digit after a
	// prompt before prompting again; Reprompts is how often.
	DigitTimeout time.Duration `toml:"digit_timeout"`
	Reprompts    int           `toml:"reprompts"`
	// Lockout is the defence against guessing.
	Lockout Lockout `toml:"lockout"`
}

// Prompts are FreeSWITCH media paths (sound files, say: or tone_stream:
// paths) played to an outside caller.
type Prompts struct {
	Slot     string `toml:"slot"`      // "enter the slot"
	PIN      string `toml:"pin"`       // "enter your PIN"
	WrongPIN string `toml:"wrong_pin"` // "wrong PIN"
	NoCall   string `toml:"no_call"`   // "no call in that slot"
}

// Lockout is [lot.outside.lockout]: wrong PINs per call, and the timed
// lockouts of a calling number and of the lot's outside access.
type Lockout struct {
	Tries          int           `toml:"tries"`
	NumberFailures int           `toml:"number_failures"`
	NumberWindow   time.Duration `toml:"number_window"`
	NumberLock     time.Duration `toml:"number_lock"`
	LotFailures    int           `toml:"lot_failures"`
	LotWindow      time.Duration `toml:"lot_window"`
	LotLock        time.Duration `toml:"lot_lock"`
}

// Enabled reports whether the lot can be reached from outside.
func (o Outside) Enabled() bool { return o.Number != "" }

// Recall is a lot's [lot.recall] table: how parkd rings the parker back when
// nobody retrieved a call within the lot's timeout.
//
// Dial, CallerIDName and CallerIDNumber are templates that may use the
// placeholders {lot}, {slot}, {caller_name}, {caller_number}, {parker} and
// {domain}; Validate rejects any other text in braces.
type Recall struct {
	// Enabled turns recalls on. With it off, a call that times out goes to
	// the lot's fallback, or stays parked if there is none. The other keys
	// are validated either way.
	Enabled bool `toml:"enabled"`
	// Dial is the dial string template of the recall leg.
	Dial string `toml:"dial"`
	// Domain forces {domain}; "" means the lot's domain, else the parker's
	// own SIP domain, learnt from the parked call. A lot with a domain
	// recalls in it: this may only repeat it.
	Domain string `toml:"domain"`
	// AlertInfo is sent as the recall INVITE's Alert-Info header, for a
	// distinctive ring.
	AlertInfo string `toml:"alert_info"`
	// CallerIDName is the template of the caller ID name the phone shows.
	CallerIDName string `toml:"caller_id_name"`
	// CallerIDNumber is the template of the caller ID number the phone
	// shows.
	CallerIDNumber string `toml:"caller_id_number"`
	// RingFor is how long each recall rings.
	RingFor time.Duration `toml:"ring_for"`
	// RetryAfter is the pause after a failed recall before the next one.
	RetryAfter time.Duration `toml:"retry_after"`
	// Attempts is how many recalls are placed before the call goes to the
	// fallback. Without a fallback recalls go on past it.
	Attempts int `toml:"attempts"`
}

// Default returns a configuration with every default applied and a single
// default lot.
func Default() Config {
	return Config{
		Instance: esl.DefaultInstance(),
		ESL: ESL{
			Listen:         DefaultListen,
			FreeSWITCH:     DefaultFreeSWITCH,
			Password:       DefaultPassword,
			Allow:          DefaultAllow(),
			CommandTimeout: DefaultCommandTimeout,
		},
		Store: Store{Driver: DefaultStoreDriver, Path: DefaultStorePath},
		Log:   Log{Level: DefaultLogLevel, Format: DefaultLogFormat},
		// The board listens here by default, but is served only once a
		// user or a token can log in (HTTP.Enabled).
		HTTP: HTTP{Listen: DefaultHTTPListen},
		Lots: []Lot{DefaultLot()},
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
		BLFPrefix:    DefaultBLFPrefix,
		BLFLot:       DefaultBLFLot,
		Recall:       DefaultRecall(),
		Outside:      DefaultOutside(),
		First:        701,
		Last:         720,
	}
}

// DefaultOutside returns a [lot.outside] table with every default applied
// and no number (outside pick-up off). The default prompts are tones, which
// every FreeSWITCH can play, sound files installed or not: two short high
// beeps ask for the slot, three for the PIN, a low tone says wrong PIN and
// a fast busy says no call (README: Outside pick-up).
func DefaultOutside() Outside {
	return Outside{
		Context: DefaultOutsideContext,
		Slot:    true,
		Prompts: Prompts{
			Slot:     "tone_stream://%(150,100,880);loops=2",
			PIN:      "tone_stream://%(150,100,880);loops=3",
			WrongPIN: "tone_stream://%(600,0,300)",
			NoCall:   "tone_stream://%(250,250,480,620);loops=2",
		},
		DigitTimeout: 5 * time.Second,
		Reprompts:    3,
		Lockout: Lockout{
			Tries: 3, NumberFailures: 5, NumberWindow: 15 * time.Minute, NumberLock: 15 * time.Minute,
			LotFailures: 20, LotWindow: time.Hour, LotLock: 15 * time.Minute,
		},
	}
}

// DefaultOutsideContext is the dialplan context outside calls arrive in.
const DefaultOutsideContext = "public"

// DefaultRecall returns a [lot.recall] table with every default applied.
func DefaultRecall() Recall {
	return Recall{
		Enabled:        true,
		Dial:           DefaultRecallDial,
		AlertInfo:      DefaultRecallAlertInfo,
		CallerIDName:   DefaultRecallCallerIDName,
		CallerIDNumber: DefaultRecallCallerIDNumber,
		RingFor:        DefaultRecallRingFor,
		RetryAfter:     DefaultRecallRetryAfter,
		Attempts:       DefaultRecallAttempts,
	}
}

// Load reads the configuration file at path and parses it with Parse. A
// relative store.path, http.tls_cert or http.tls_key is taken relative to
// the file's directory, so that every command finds the same files from any
// working directory.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := parse(data, path, filepath.Dir(abs))
	if err != nil {
		return c, err
	}
	c.Store.Path = relativeTo(filepath.Dir(abs), c.Store.Path)
	return c, nil
}

// relativeTo joins a relative file name to dir; "" and absolute names are
// returned as they are.
func relativeTo(dir, name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(dir, name)
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

// FallbackDestination splits Fallback into its dialplan destination: the
// extension, then the dialplan and the context, each "" when Fallback leaves
// it out (FreeSWITCH then uses the XML dialplan and the call's own context).
// All three are "" when the lot has no fallback. Call it on a validated lot.
func (l Lot) FallbackDestination() (ext, dialplan, context string) {
	f := strings.Fields(l.Fallback)
	f = append(f, "", "", "")
	return f[0], f[1], f[2]
}

// Warn returns the waiting time at which the board warns: WarnAfter, or
// half the timeout when WarnAfter is 0.
func (l Lot) Warn() time.Duration {
	if l.WarnAfter > 0 {
		return l.WarnAfter
	}
	return l.Timeout / 2
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

// String describes the store settings; the DSN, which may hold a
// password, is shown as *** when set.
func (s Store) String() string {
	dsn := ""
	if s.DSN != "" {
		dsn = "***"
	}
	return fmt.Sprintf("driver=%s path=%s dsn=%s keep=%s", s.Driver, s.Path, dsn, s.Keep)
}

// GoString is like String, so that %#v does not print the DSN either.
func (s Store) GoString() string { return "conf.Store{" + s.String() + "}" }
