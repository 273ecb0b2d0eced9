package conf_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl"
)

// Ensure an empty file yields every default and a single default lot.
func TestParse_Defaults(t *testing.T) {
	got, err := conf.Parse(nil, "parkd.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if want := conf.Default(); !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse(empty)=%#v\nwant %#v", got, want)
	}
	if got, want := len(got.Lots), 1; got != want {
		t.Fatalf("len(Lots)=%d, want %d", got, want)
	}
	l := got.Lots[0]
	for _, tt := range []struct {
		name      string
		got, want any
	}{
		{"Listen", got.ESL.Listen, "127.0.0.1:8084"},
		{"FreeSWITCH", got.ESL.FreeSWITCH, "127.0.0.1:8021"},
		{"Password", got.ESL.Password, "ClueCon"},
		{"Allow", got.ESL.Allow, []string{"127.0.0.1/32", "::1/128"}},
		{"CommandTimeout", got.ESL.CommandTimeout, 5 * time.Second},
		{"Store.Path", got.Store.Path, "parkd.db"},
		{"Log.Level", got.Log.Level, "info"},
		{"Log.Format", got.Log.Format, "json"},
		{"Name", l.Name, "default"},
		{"Slots", l.Slots, "701-720"},
		{"First", l.First, 701},
		{"Last", l.Last, 720},
		{"Size", l.Size(), 20},
		{"Music", l.Music, "local_stream://moh"},
		{"Timeout", l.Timeout, 120 * time.Second},
		{"Announce", l.Announce, false},
		{"OnFull", l.OnFull, "reject"},
		{"OverflowLot", l.OverflowLot(), ""},
		{"OnOccupied", l.OnOccupied, "reject"},
		{"ParkCode", l.ParkCode, "*70"},
		{"RetrieveCode", l.RetrieveCode, "*71"},
		{"Fallback", l.Fallback, ""},
		{"Recall.Enabled", l.Recall.Enabled, true},
		{"Recall.Dial", l.Recall.Dial, "user/{parker}@{domain}"},
		{"Recall.Domain", l.Recall.Domain, ""},
		{"Recall.AlertInfo", l.Recall.AlertInfo, "<http://127.0.0.1/Bellcore-dr4>"},
		{"Recall.CallerIDName", l.Recall.CallerIDName, "Park {slot} - {caller_name}"},
		{"Recall.CallerIDNumber", l.Recall.CallerIDNumber, "{slot}"},
		{"Recall.RingFor", l.Recall.RingFor, 30 * time.Second},
		{"Recall.RetryAfter", l.Recall.RetryAfter, 30 * time.Second},
		{"Recall.Attempts", l.Recall.Attempts, 3},
		{"DefaultRecall", l.Recall, conf.DefaultRecall()},
	} {
		if !reflect.DeepEqual(tt.got, tt.want) {
			t.Errorf("%s=%#v, want %#v", tt.name, tt.got, tt.want)
		}
	}
}

// Ensure Default returns a configuration that validates and does not share
// its slices between calls.
func TestDefault(t *testing.T) {
	c := conf.Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	c.ESL.Allow[0] = "10.0.0.0/8"
	c.Lots[0].Name = "changed"
	c.Lots[0].Recall.Dial = "changed"
	d := conf.Default()
	if got, want := d.ESL.Allow[0], "127.0.0.1/32"; got != want {
		t.Fatalf("Allow[0]=%q, want %q", got, want)
	}
	if got, want := d.Lots[0].Name, "default"; got != want {
		t.Fatalf("Lots[0].Name=%q, want %q", got, want)
	}
	if got, want := d.Lots[0].Recall.Dial, "user/{parker}@{domain}"; got != want {
		t.Fatalf("Lots[0].Recall.Dial=%q, want %q", got, want)
	}
}

const fullFile = `
[esl]
listen = "0.0.0.0:9000"
freeswitch = "10.0.0.5:8021"
password = "s3cret-Pa55"
allow = ["10.0.0.0/8", "192.168.1.7/32", "fd00::/8"]
command_timeout = "2500ms"

[store]
path = "/var/lib/parkd/parkd.db"

[log]
level = "debug"
format = "console"

[[lot]]
name = "main"
slots = "701-799"
music = "$${hold_music}"
timeout = "90s"
on_full = "overflow:reception"
park_code = "*70"
retrieve_code = "*71"
fallback = "9000 XML default"

[lot.recall]
enabled = true
dial = "sofia/gateway/pbx/{parker}"
domain = "pbx.example.com"
alert_info = "<http://127.0.0.1>;info=alert-internal"
caller_id_name = "{caller_name} ({lot} {slot})"
caller_id_number = "*71{slot}"
ring_for = "20s"
retry_after = "1m"
attempts = 5

[[lot]]
name = "reception"
slots = "201"
music = "/usr/share/freeswitch/sounds/music/8000/ponce-preludio-in-e-major.wav"
timeout = "3m"
announce = true
on_occupied = "next"
park_code = "#80"
retrieve_code = "#81"
`

// Ensure a file that sets every key is decoded as written, with per-lot
// defaults for keys a lot leaves out.
func TestParse_Full(t *testing.T) {
	// music with ${...} is invalid; use a valid one for the full file.
	data := strings.Replace(fullFile, `"$${hold_music}"`, `"local_stream://default"`, 1)
	got, err := conf.Parse([]byte(data), "parkd.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := conf.Config{
		Instance: esl.DefaultInstance(),
		ESL: conf.ESL{
			Listen:         "0.0.0.0:9000",
			FreeSWITCH:     "10.0.0.5:8021",
			Password:       "s3cret-Pa55",
			Allow:          []string{"10.0.0.0/8", "192.168.1.7/32", "fd00::/8"},
			CommandTimeout: 2500 * time.Millisecond,
		},
		Store: conf.Store{Driver: "sqlite", Path: "/var/lib/parkd/parkd.db"},
		Log:   conf.Log{Level: "debug", Format: "console"},
		HTTP:  conf.HTTP{Listen: conf.DefaultHTTPListen},
		Lots: []conf.Lot{
			{
				Name: "main", Slots: "701-799", Music: "local_stream://default",
				Timeout: 90 * time.Second, OnFull: "overflow:reception", OnOccupied: "reject",
				ParkCode: "*70", RetrieveCode: "*71", First: 701, Last: 799,
				Fallback: "9000 XML default", BLFPrefix: "park+", BLFLot: "park_code",
				Outside: conf.DefaultOutside(),
				Recall: conf.Recall{
					Enabled: true, Dial: "sofia/gateway/pbx/{parker}", Domain: "pbx.example.com",
					AlertInfo: "<http://127.0.0.1>;info=alert-internal", CallerIDName: "{caller_name} ({lot} {slot})",
					CallerIDNumber: "*71{slot}", RingFor: 20 * time.Second, RetryAfter: time.Minute, Attempts: 5,
				},
			},
			{
				Name: "reception", Slots: "201",
				Music:   "/usr/share/freeswitch/sounds/music/8000/ponce-preludio-in-e-major.wav",
				Timeout: 3 * time.Minute, Announce: true, OnFull: "reject", OnOccupied: "next",
				ParkCode: "#80", RetrieveCode: "#81", First: 201, Last: 201,
				Recall: conf.DefaultRecall(), BLFPrefix: "park+", BLFLot: "park_code",
				Outside: conf.DefaultOutside(),
			},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Parse=%#v\nwant %#v", got, want)
	}
	if got, want := got.Lots[0].OverflowLot(), "reception"; got != want {
		t.Fatalf("OverflowLot=%q, want %q", got, want)
	}
	if got, want := got.Lots[1].Size(), 1; got != want {
		t.Fatalf("Size=%d, want %d", got, want)
	}
}

// Ensure a lot that sets only some keys takes the package defaults for the
// rest, never the values of an earlier lot.
func TestParse_LotDefaultsNotInherited(t *testing.T) {
	data := `
[[lot]]
name = "a"
slots = "1-10"
music = "local_stream://a"
timeout = "5m"
announce = true
on_occupied = "next"
on_full = "overflow:b"
park_code = "*80"
retrieve_code = "*81"
fallback = "operator"

[lot.recall]
enabled = false
dial = "sofia/gateway/pbx/{parker}"
domain = "pbx.example.com"
alert_info = "<http://127.0.0.1/Bellcore-dr2>"
caller_id_name = "Held {slot}"
caller_id_number = "{caller_number}"
ring_for = "10s"
retry_after = "5m"
attempts = 1

[[lot]]
name = "b"
slots = "11-20"
`
	c, err := conf.Parse([]byte(data), "parkd.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := c.Lots[0].Recall.Attempts, 1; got != want {
		t.Fatalf("lot a attempts=%d, want %d", got, want)
	}
	b := c.Lots[1]
	want := conf.DefaultLot()
	want.Name, want.Slots, want.First, want.Last = "b", "11-20", 11, 20
	if !reflect.DeepEqual(b, want) {
		t.Fatalf("lot b=%#v\nwant %#v", b, want)
	}
}

// Ensure every invalid value is reported as one line naming the file, the key
// and the problem.
func TestParse_Invalid(t *testing.T) {
	for _, tt := range []struct {
		name string
		data string
		want string // the whole message of the first problem
	}{
		// [esl]
		{"ListenEmpty", `esl.listen = ""`, `parkd.toml: esl.listen: must not be empty (want host:port)`},
		{"ListenNoPort", `esl.listen = "127.0.0.1"`, `parkd.toml: esl.listen: "127.0.0.1": not host:port`},
		{"ListenNoHost", `esl.listen = ":8084"`, `parkd.toml: esl.listen: ":8084": missing host`},
		{"ListenBadPort", `esl.listen = "127.0.0.1:http"`, `parkd.toml: esl.listen: "127.0.0.1:http": port must be a number from 1 to 65535`},
		{"ListenPortZero", `esl.listen = "127.0.0.1:0"`, `parkd.toml: esl.listen: "127.0.0.1:0": port must be`},
		{"ListenPortRange", `esl.listen = "127.0.0.1:70000"`, `parkd.toml: esl.listen: "127.0.0.1:70000": port must be`},
		{"ListenSpace", `esl.listen = "127.0.0.1 :8084"`, `parkd.toml: esl.listen: "127.0.0.1 :8084": must not contain spaces`},
		{"ListenType", `esl.listen = 8084`, `parkd.toml: esl.listen: must be a quoted string, not an integer`},
		{"FreeSWITCHBad", `esl.freeswitch = "fs.example.com"`, `parkd.toml: esl.freeswitch: "fs.example.com": not host:port`},
		{"PasswordEmpty", `esl.password = ""`, `parkd.toml: esl.password: must not be empty`},
		{"PasswordNewline", `esl.password = "a\nb"`, `parkd.toml: esl.password: must not contain control characters`},
		{"PasswordType", `esl.password = 1234`, `parkd.toml: esl.password: must be a quoted string, not an integer`},
		{"AllowEmpty", `esl.allow = []`, `parkd.toml: esl.allow: must list at least one CIDR prefix`},
		{"AllowBadPrefix", `esl.allow = ["10.0.0.1/99"]`, `parkd.toml: esl.allow[0]: "10.0.0.1/99": not a CIDR prefix`},
		{"AllowBareAddress", `esl.allow = ["127.0.0.1/32", "10.0.0.1"]`, `parkd.toml: esl.allow[1]: "10.0.0.1": not a CIDR prefix`},
		{"AllowType", `esl.allow = "10.0.0.0/8"`, `parkd.toml: esl.allow: must be an array of quoted strings, not a string`},
		{"AllowElemType", `esl.allow = [10]`, `parkd.toml: esl.allow[0]: must be a quoted string, not an integer`},
		{"CommandTimeoutZero", `esl.command_timeout = "0s"`, `parkd.toml: esl.command_timeout: "0s": must be greater than 0`},
		{"CommandTimeoutNegative", `esl.command_timeout = "-1s"`, `parkd.toml: esl.command_timeout: "-1s": must be greater than 0`},
		{"CommandTimeoutTooLong", `esl.command_timeout = "61s"`, `parkd.toml: esl.command_timeout: "1m1s": must be at most 1m0s`},
		{"CommandTimeoutInteger", `esl.command_timeout = 5`, `parkd.toml: esl.command_timeout: must be a quoted duration such as "45s" or "2m", not an integer`},
		{"CommandTimeoutSyntax", `esl.command_timeout = "5 seconds"`, `parkd.toml: esl.command_timeout: "5 seconds": not a duration`},
		{"ESLNotTable", `esl = "x"`, `parkd.toml: esl: must be a table written [esl], not a string`},

		// [store]
		{"StorePathEmpty", `store.path = ""`, `parkd.toml: store.path: must not be empty`},
		{"StorePathType", `store.path = true`, `parkd.toml: store.path: must be a quoted string, not a boolean`},
		{"StoreDriverUnknown", `store.driver = "mysql"`, `parkd.toml: store.driver: "mysql": must be "sqlite" or "postgres"`},
		{"StoreDSNWithoutPostgres", `store.dsn = "host=db1"`, `parkd.toml: store.dsn: is for driver = "postgres"; driver "sqlite" uses store.path`},
		{"StorePostgresWithoutDSN", `store.driver = "postgres"`, `parkd.toml: store.dsn: must name the PostgreSQL database with driver = "postgres"`},
		{"StoreDSNLineBreak", "[store]\ndriver = \"postgres\"\ndsn = \"host=db1\\npassword=hunter22\"", `parkd.toml: store.dsn: must not contain control characters such as line breaks`},
		{"StoreKeepShort", `store.keep = "23h"`, `parkd.toml: store.keep: 23h0m0s: must be at least one day ("1d"), or "" to keep everything`},
		{"StoreKeepZeroDays", `store.keep = "0d"`, `parkd.toml: store.keep: "0d": must be at least one day ("1d"), or "" to keep everything`},
		{"StoreKeepNegative", `store.keep = "-48h"`, `parkd.toml: store.keep: -48h0m0s: must be at least one day`},
		{"StoreKeepWord", `store.keep = "a year"`, `parkd.toml: store.keep: "a year": not a period (write it like "400d" or "9600h")`},
		{"StoreKeepDays", `store.keep = "x1d"`, `parkd.toml: store.keep: "x1d": not a number of days`},
		{"StoreKeepType", `store.keep = 400`, `parkd.toml: store.keep: must be a quoted period such as "400d", not an integer`},

		// [log]
		{"LogLevel", `log.level = "verbose"`, `parkd.toml: log.level: "verbose": must be one of debug, info, warn, error`},
		{"LogLevelCase", `log.level = "INFO"`, `parkd.toml: log.level: "INFO": must be one of`},
		{"LogFormat", `log.format = "text"`, `parkd.toml: log.format: "text": must be json or console`},

		// [[lot]]
		{"LotNotArray", "[lot]\nname = \"a\"", `parkd.toml: lot: must be an array of tables written [[lot]], not a table`},
		{"NameEmpty", lot(`name = ""`), `parkd.toml: lot[0].name: "": must be 1 to 32 characters`},
		{"NameUpper", lot(`name = "Main"`), `parkd.toml: lot[0].name: "Main": must be 1 to 32 characters`},
		{"NameLeadingDash", lot(`name = "-a"`), `parkd.toml: lot[0].name: "-a": must be`},
		{"NameQuote", lot(`name = "a\"b"`), `parkd.toml: lot[0].name: "a\"b": must be`},
		{"NameTooLong", lot(`name = "` + strings.Repeat("a", 33) + `"`), `parkd.toml: lot[0].name: "` + strings.Repeat("a", 33) + `": must be`},
		{"SlotsReversed", lot(`slots = "720-701"`), `parkd.toml: lot[0].slots: "720-701": first slot is greater than last slot`},
		{"SlotsEmpty", lot(`slots = ""`), `parkd.toml: lot[0].slots: "": must be "first-last" or a single slot`},
		{"SlotsSign", lot(`slots = "+1-5"`), `parkd.toml: lot[0].slots: "+1-5": must be "first-last"`},
		{"SlotsNegative", lot(`slots = "-5"`), `parkd.toml: lot[0].slots: "-5": must be "first-last"`},
		{"SlotsSpaces", lot(`slots = "701 - 720"`), `parkd.toml: lot[0].slots: "701 - 720": must be "first-last"`},
		{"SlotsZero", lot(`slots = "0-10"`), `parkd.toml: lot[0].slots: "0-10": slot numbers start at 1`},
		{"SlotsLeadingZero", lot(`slots = "01-10"`), `parkd.toml: lot[0].slots: "01-10": slot numbers must not have leading zeros`},
		{"SlotsTooManyDigits", lot(`slots = "1-1000000000"`), `parkd.toml: lot[0].slots: "1-1000000000": slot numbers have at most 9 digits`},
		{"SlotsTooMany", lot(`slots = "1-100001"`), `parkd.toml: lot[0].slots: "1-100001": 100001 slots is more than the limit of 100000`},
		{"SlotsInteger", lot(`slots = 701`), `parkd.toml: lot[0].slots: must be a quoted string, not an integer`},
		{"MusicEmpty", lot(`music = ""`), `parkd.toml: lot[0].music: must not be empty`},
		{"MusicSpace", lot(`music = "local_stream://moh x"`), `parkd.toml: lot[0].music: "local_stream://moh x": may contain only`},
		{"MusicComma", lot(`music = "a,b"`), `parkd.toml: lot[0].music: "a,b": may contain only`},
		{"MusicVariable", lot(`music = "${hold_music}"`), `parkd.toml: lot[0].music: "${hold_music}": may contain only`},
		{"MusicNewline", lot(`music = "moh\ninline"`), `parkd.toml: lot[0].music: "moh\ninline": may contain only`},
		{"MusicTooLong", lot(`music = "` + strings.Repeat("m", 257) + `"`), `parkd.toml: lot[0].music: "` + strings.Repeat("m", 80) + `"...: longer than 256 bytes`},
		{"TimeoutShort", lot(`timeout = "999ms"`), `parkd.toml: lot[0].timeout: "999ms": must be at least 1s`},
		{"TimeoutLong", lot(`timeout = "25h"`), `parkd.toml: lot[0].timeout: "25h0m0s": must be at most 24h0m0s`},
		{"TimeoutInteger", lot(`timeout = 5`), `parkd.toml: lot[0].timeout: must be a quoted duration such as "45s" or "2m", not an integer`},
		{"TimeoutSyntax", lot(`timeout = "2 minutes"`), `parkd.toml: lot[0].timeout: "2 minutes": not a duration`},
		{"WarnAfterNegative", lot(`warn_after = "-1s"`), `parkd.toml: lot[0].warn_after: "-1s": must not be negative`},
		{"WarnAfterTimeout", lot(`warn_after = "120s"`), `parkd.toml: lot[0].warn_after: "2m0s": must be less than the timeout ("2m0s")`},
		{"WarnAfterLong", lot("timeout = \"30s\"\nwarn_after = \"1m\""), `parkd.toml: lot[0].warn_after: "1m0s": must be less than the timeout ("30s")`},
		{"AnnounceString", lot(`announce = "yes"`), `parkd.toml: lot[0].announce: must be true or false, not a string`},
		{"OnFullBad", lot(`on_full = "drop"`), `parkd.toml: lot[0].on_full: "drop": must be "reject" or "overflow:<lot name>"`},
		{"OnFullNoName", lot(`on_full = "overflow:"`), `parkd.toml: lot[0].on_full: "overflow:": missing lot name after "overflow:"`},
		{"OnFullUnknownLot", lot(`on_full = "overflow:nosuch"`), `parkd.toml: lot[0].on_full: "overflow:nosuch": no lot named "nosuch"`},
		{"OnFullSelf", lot(`on_full = "overflow:main"`), `parkd.toml: lot[0].on_full: "overflow:main": a lot cannot overflow to itself`},
		{"OnOccupiedBad", lot(`on_occupied = "steal"`), `parkd.toml: lot[0].on_occupied: "steal": must be "reject" or "next"`},
		{"ParkCodeLetters", lot(`park_code = "*7a"`), `parkd.toml: lot[0].park_code: "*7a": must be 1 to 8 digits, optionally after * or #`},
		{"ParkCodeEmpty", lot(`park_code = ""`), `parkd.toml: lot[0].park_code: "": must be 1 to 8 digits`},
		{"ParkCodeStarOnly", lot(`park_code = "*"`), `parkd.toml: lot[0].park_code: "*": must be 1 to 8 digits`},
		{"ParkCodeTooLong", lot(`park_code = "*123456789"`), `parkd.toml: lot[0].park_code: "*123456789": must be 1 to 8 digits`},
		{"ParkCodeTwoPrefixes", lot(`park_code = "**70"`), `parkd.toml: lot[0].park_code: "**70": must be 1 to 8 digits`},
		{"RetrieveCodeRegex", lot(`retrieve_code = "*71.*"`), `parkd.toml: lot[0].retrieve_code: "*71.*": must be 1 to 8 digits`},
		{"RetrieveCodeSameAsPark", lot(`retrieve_code = "*70"`), `parkd.toml: lot[0].retrieve_code: "*70": same code as lot[0].park_code`},
		{"RetrieveCodePrefix", lot(`retrieve_code = "*7"`), `parkd.toml: lot[0].retrieve_code: "*7": is a prefix of lot[0].park_code "*70"`},

		// fallback
		{"FallbackType", lot(`fallback = 9000`), `parkd.toml: lot[0].fallback: must be a quoted string, not an integer`},
		{"FallbackTooManyWords", lot(`fallback = "9000 XML default more"`), `parkd.toml: lot[0].fallback: "9000 XML default more": must be "extension [dialplan [context]]", such as "operator" or "9000 XML default": 4 words is too many`},
		{"FallbackDoubleSpace", lot(`fallback = "9000  XML"`), `parkd.toml: lot[0].fallback: "9000  XML": must be "extension [dialplan [context]]", such as "operator" or "9000 XML default", one space between words`},
		{"FallbackLeadingSpace", lot(`fallback = " 9000"`), `parkd.toml: lot[0].fallback: " 9000": must be "extension [dialplan [context]]"`},
		{"FallbackOnlySpace", lot(`fallback = " "`), `parkd.toml: lot[0].fallback: " ": must be "extension [dialplan [context]]"`},
		{"FallbackTab", lot(`fallback = "9000\tXML"`), `parkd.toml: lot[0].fallback: "9000\tXML": must be "extension [dialplan [context]]", such as "operator" or "9000 XML default", each word only letters, digits and _ . + * # -`},
		{"FallbackSemicolon", lot(`fallback = "9000;x"`), `parkd.toml: lot[0].fallback: "9000;x": must be "extension [dialplan [context]]", such as "operator" or "9000 XML default", each word only letters, digits and _ . + * # -`},
		{"FallbackVariable", lot(`fallback = "${operator}"`), `parkd.toml: lot[0].fallback: "${operator}": must be "extension`},
		{"FallbackWordTooLong", lot(`fallback = "9000 XML ` + strings.Repeat("c", 65) + `"`), `parkd.toml: lot[0].fallback: "9000 XML ` + strings.Repeat("c", 65) + `": each word is at most 64 characters`},
		{"FallbackContextAsDialplan", lot(`fallback = "9000 default"`), `parkd.toml: lot[0].fallback: "9000 default": "default" is not a dialplan (XML, inline, enum, asterisk, lua, yaml, directory); to name a context write "9000 XML default"`},
		{"FallbackUnderRecall", recall(`fallback = "operator"`), `parkd.toml: lot[0].recall.fallback: unknown key (a lot key: write it under [[lot]], above [lot.recall])`},

		// [lot.recall]
		{"RecallNotTable", lot(`recall = true`), `parkd.toml: lot[0].recall: must be a table written [lot.recall] after its [[lot]], not a boolean`},
		{"RecallArray", "[[lot]]\nname = \"main\"\n[[lot.recall]]\nattempts = 2\n", `parkd.toml: lot[0].recall: must be a table written [lot.recall] after its [[lot]], not an array`},
		{"RecallUnknownKey", recall(`foo = 1`), `parkd.toml: lot[0].recall.foo: unknown key`},
		{"RecallKeyInLot", lot(`ring_for = "10s"`), `parkd.toml: lot[0].ring_for: unknown key (a recall key: write it under [lot.recall])`},
		{"RecallEnabledString", recall(`enabled = "yes"`), `parkd.toml: lot[0].recall.enabled: must be true or false, not a string`},
		{"DialEmpty", recall(`dial = ""`), `parkd.toml: lot[0].recall.dial: must not be empty (the default is "user/{parker}@{domain}")`},
		{"DialType", recall(`dial = 1000`), `parkd.toml: lot[0].recall.dial: must be a quoted string, not an integer`},
		{"DialSpace", recall(`dial = "user/{parker} x"`), `parkd.toml: lot[0].recall.dial: "user/{parker} x": may contain only letters, digits, _ . / @ : + * # = % - and placeholders (no spaces, commas, quotes, brackets or $)`},
		{"DialComma", recall(`dial = "user/{parker},user/1000"`), `parkd.toml: lot[0].recall.dial: "user/{parker},user/1000": may contain only`},
		{"DialPipe", recall(`dial = "user/{parker}|user/1000"`), `parkd.toml: lot[0].recall.dial: "user/{parker}|user/1000": may contain only`},
		{"DialVariables", recall(`dial = "[leg_timeout=5]user/{parker}"`), `parkd.toml: lot[0].recall.dial: "[leg_timeout=5]user/{parker}": may contain only`},
		{"DialUnknownPlaceholder", recall(`dial = "user/{extension}@{domain}"`), `parkd.toml: lot[0].recall.dial: unknown placeholder {extension} (use {lot}, {slot}, {caller_name}, {caller_number}, {parker}, {domain})`},
		{"DialChannelVariable", recall(`dial = "user/${parker}"`), `parkd.toml: lot[0].recall.dial: "user/${parker}": may contain only`},
		{"DialFreeSWITCHVariable", recall(`dial = "user/{parker}@${domain_name}"`), `parkd.toml: lot[0].recall.dial: unknown placeholder {domain_name} (use`},
		{"DialUnclosed", recall(`dial = "user/{parker"`), `parkd.toml: lot[0].recall.dial: "user/{parker": { without a matching } (placeholders are written like {slot})`},
		{"DialUnopened", recall(`dial = "user/parker}"`), `parkd.toml: lot[0].recall.dial: "user/parker}": } without a matching { (placeholders are written like {slot})`},
		{"DialNested", recall(`dial = "user/{{parker}}"`), `parkd.toml: lot[0].recall.dial: "user/{{parker}}": { without a matching }`},
		{"DialEmptyPlaceholder", recall(`dial = "user/{}"`), `parkd.toml: lot[0].recall.dial: unknown placeholder {} (use`},
		{"DialPlaceholderCase", recall(`dial = "user/{Parker}"`), `parkd.toml: lot[0].recall.dial: unknown placeholder {Parker} (use`},
		{"DialPlaceholderNewline", recall(`dial = "user/{par\nker}"`), `parkd.toml: lot[0].recall.dial: unknown placeholder "{par\nker}" (use`},
		{"DomainSpace", recall(`domain = "pbx example"`), `parkd.toml: lot[0].recall.domain: "pbx example": must be a host name of 1 to 253 letters, digits, . and - (or "" for the parker's own domain)`},
		{"DomainPlaceholder", recall(`domain = "{domain}"`), `parkd.toml: lot[0].recall.domain: "{domain}": must be a host name`},
		{"DomainPort", recall(`domain = "pbx:5060"`), `parkd.toml: lot[0].recall.domain: "pbx:5060": must be a host name`},
		{"DomainTooLong", recall(`domain = "` + strings.Repeat("a", 254) + `"`), `parkd.toml: lot[0].recall.domain: "` + strings.Repeat("a", 80) + `"...: must be a host name`},
		{"AlertInfoEmpty", recall(`alert_info = ""`), `parkd.toml: lot[0].recall.alert_info: must not be empty (the default is "<http://127.0.0.1/Bellcore-dr4>")`},
		{"AlertInfoTooLong", recall(`alert_info = "<http://127.0.0.1/` + strings.Repeat("x", 240) + `>"`), `parkd.toml: lot[0].recall.alert_info: "<http://127.0.0.1/` + strings.Repeat("x", 62) + `"...: longer than 256 bytes`},
		{"AlertInfoSpace", recall(`alert_info = "<http://127.0.0.1>; info=ring2"`), `parkd.toml: lot[0].recall.alert_info: "<http://127.0.0.1>; info=ring2": must not contain spaces or control characters`},
		{"AlertInfoNewline", recall(`alert_info = "<http://127.0.0.1>\r\nX-Evil: 1"`), `parkd.toml: lot[0].recall.alert_info: "<http://127.0.0.1>\r\nX-Evil: 1": must not contain spaces or control characters`},
		{"AlertInfoComma", recall(`alert_info = "<http://a>,<http://b>"`), `parkd.toml: lot[0].recall.alert_info: "<http://a>,<http://b>": must not contain ',': FreeSWITCH would split or mangle the value there (leave out ' " { } [ ] ^ \ ,)`},
		{"AlertInfoQuote", recall(`alert_info = "<http://a>;info=\"x\""`), `parkd.toml: lot[0].recall.alert_info: "<http://a>;info=\"x\"": must not contain '"': FreeSWITCH would`},
		{"AlertInfoApostrophe", recall(`alert_info = "<http://a>;info='x'"`), `parkd.toml: lot[0].recall.alert_info: "<http://a>;info='x'": must not contain '\'': FreeSWITCH would`},
		{"AlertInfoBrace", recall(`alert_info = "<http://a/{slot}>"`), `parkd.toml: lot[0].recall.alert_info: "<http://a/{slot}>": must not contain '{': FreeSWITCH would`},
		{"AlertInfoBracket", recall(`alert_info = "[<http://a>]"`), `parkd.toml: lot[0].recall.alert_info: "[<http://a>]": must not contain '[': FreeSWITCH would`},
		{"AlertInfoCaret", recall(`alert_info = "^^:<http://a>"`), `parkd.toml: lot[0].recall.alert_info: "^^:<http://a>": must not contain '^': FreeSWITCH would`},
		{"AlertInfoBackslash", recall(`alert_info = '<http://a>\x'`), `parkd.toml: lot[0].recall.alert_info: "<http://a>\\x": must not contain '\\': FreeSWITCH would`},
		{"CallerIDNameEmpty", recall(`caller_id_name = ""`), `parkd.toml: lot[0].recall.caller_id_name: must not be empty (the default is "Park {slot} - {caller_name}")`},
		{"CallerIDNameUnknownPlaceholder", recall(`caller_id_name = "Park {slot} - {calller_name}"`), `parkd.toml: lot[0].recall.caller_id_name: unknown placeholder {calller_name} (use {lot}, {slot}, {caller_name}, {caller_number}, {parker}, {domain})`},
		{"CallerIDNameUnclosed", recall(`caller_id_name = "Park {slot"`), `parkd.toml: lot[0].recall.caller_id_name: "Park {slot": { without a matching }`},
		{"CallerIDNameColon", recall(`caller_id_name = "Parked {slot}: {caller_name}"`), `parkd.toml: lot[0].recall.caller_id_name: "Parked {slot}: {caller_name}": FreeSWITCH would cut the name at ':' and the phone would show only what follows (write it without : / @)`},
		{"CallerIDNameSlash", recall(`caller_id_name = "Park {lot}/{slot}"`), `parkd.toml: lot[0].recall.caller_id_name: "Park {lot}/{slot}": FreeSWITCH would cut the name at '/'`},
		{"CallerIDNameAt", recall(`caller_id_name = "{caller_name} @ {slot}"`), `parkd.toml: lot[0].recall.caller_id_name: "{caller_name} @ {slot}": FreeSWITCH would cut the name at '@'`},
		{"CallerIDNameComma", recall(`caller_id_name = "Park {slot}, {caller_name}"`), `parkd.toml: lot[0].recall.caller_id_name: "Park {slot}, {caller_name}": must not contain ',': FreeSWITCH would split or mangle the name there (leave out ' " [ ] ^ \ , ;)`},
		{"CallerIDNameSemicolon", recall(`caller_id_name = "Park {slot};x"`), `parkd.toml: lot[0].recall.caller_id_name: "Park {slot};x": must not contain ';': FreeSWITCH would`},
		{"CallerIDNameQuote", recall(`caller_id_name = "\"Park\" {slot}"`), `parkd.toml: lot[0].recall.caller_id_name: "\"Park\" {slot}": must not contain '"': FreeSWITCH would`},
		{"CallerIDNameApostrophe", recall(`caller_id_name = "Jane's {slot}"`), `parkd.toml: lot[0].recall.caller_id_name: "Jane's {slot}": must not contain '\'': FreeSWITCH would`},
		{"CallerIDNameBracket", recall(`caller_id_name = "[Park] {slot}"`), `parkd.toml: lot[0].recall.caller_id_name: "[Park] {slot}": must not contain '[': FreeSWITCH would`},
		{"CallerIDNameCaret", recall(`caller_id_name = "Park^{slot}"`), `parkd.toml: lot[0].recall.caller_id_name: "Park^{slot}": must not contain '^': FreeSWITCH would`},
		{"CallerIDNameBackslash", recall(`caller_id_name = 'Park\{slot}'`), `parkd.toml: lot[0].recall.caller_id_name: "Park\\{slot}": must not contain '\\': FreeSWITCH would`},
		{"CallerIDNameNewline", recall(`caller_id_name = "Park\n{slot}"`), `parkd.toml: lot[0].recall.caller_id_name: "Park\n{slot}": must not contain control characters such as line breaks`},
		{"CallerIDNameTab", recall(`caller_id_name = "Park\t{slot}"`), `parkd.toml: lot[0].recall.caller_id_name: "Park\t{slot}": must not contain control characters`},
		{"CallerIDNameTooLong", recall(`caller_id_name = "{slot} ` + strings.Repeat("n", 58) + `"`), `parkd.toml: lot[0].recall.caller_id_name: "{slot} ` + strings.Repeat("n", 58) + `": longer than 64 bytes`},
		{"CallerIDNameType", recall(`caller_id_name = ["Park"]`), `parkd.toml: lot[0].recall.caller_id_name: must be a quoted string, not an array`},
		{"CallerIDNumberEmpty", recall(`caller_id_number = ""`), `parkd.toml: lot[0].recall.caller_id_number: must not be empty (the default is "{slot}")`},
		{"CallerIDNumberLetters", recall(`caller_id_number = "park{slot}"`), `parkd.toml: lot[0].recall.caller_id_number: "park{slot}": may contain only digits, + * # and placeholders such as {slot}`},
		{"CallerIDNumberSpace", recall(`caller_id_number = "+1 {slot}"`), `parkd.toml: lot[0].recall.caller_id_number: "+1 {slot}": may contain only digits`},
		{"CallerIDNumberUnknownPlaceholder", recall(`caller_id_number = "{number}"`), `parkd.toml: lot[0].recall.caller_id_number: unknown placeholder {number} (use`},
		{"CallerIDNumberInteger", recall(`caller_id_number = 701`), `parkd.toml: lot[0].recall.caller_id_number: must be a quoted string, not an integer`},
		{"RingForShort", recall(`ring_for = "4s"`), `parkd.toml: lot[0].recall.ring_for: "4s": must be at least 5s`},
		{"RingForLong", recall(`ring_for = "5m1s"`), `parkd.toml: lot[0].recall.ring_for: "5m1s": must be at most 5m0s`},
		{"RingForNegative", recall(`ring_for = "-30s"`), `parkd.toml: lot[0].recall.ring_for: "-30s": must be at least 5s`},
		{"RingForInteger", recall(`ring_for = 30`), `parkd.toml: lot[0].recall.ring_for: must be a quoted duration such as "45s" or "2m", not an integer`},
		{"RingForSyntax", recall(`ring_for = "30 s"`), `parkd.toml: lot[0].recall.ring_for: "30 s": not a duration`},
		{"RetryAfterZero", recall(`retry_after = "0s"`), `parkd.toml: lot[0].recall.retry_after: "0s": must be at least 1s`},
		{"RetryAfterShort", recall(`retry_after = "999ms"`), `parkd.toml: lot[0].recall.retry_after: "999ms": must be at least 1s`},
		{"RetryAfterLong", recall(`retry_after = "61m"`), `parkd.toml: lot[0].recall.retry_after: "1h1m0s": must be at most 1h0m0s`},
		{"AttemptsZero", recall(`attempts = 0`), `parkd.toml: lot[0].recall.attempts: 0: must be from 1 to 20`},
		{"AttemptsNegative", recall(`attempts = -1`), `parkd.toml: lot[0].recall.attempts: -1: must be from 1 to 20`},
		{"AttemptsTooMany", recall(`attempts = 21`), `parkd.toml: lot[0].recall.attempts: 21: must be from 1 to 20`},
		{"AttemptsHuge", recall(`attempts = 9223372036854775807`), `parkd.toml: lot[0].recall.attempts: 9223372036854775807: must be from 1 to 20`},
		{"AttemptsFloat", recall(`attempts = 3.0`), `parkd.toml: lot[0].recall.attempts: must be a whole number such as 3, not a float`},
		{"AttemptsString", recall(`attempts = "3"`), `parkd.toml: lot[0].recall.attempts: must be a whole number such as 3, not a string`},
		{"RecallDisabledStillValidated", recall("enabled = false\ncaller_id_name = \"Parked {slot}: {caller_name}\""), `parkd.toml: lot[0].recall.caller_id_name: "Parked {slot}: {caller_name}": FreeSWITCH would cut the name at ':'`},
		{"RecallSecondLot", "[[lot]]\nname = \"a\"\n[[lot]]\nname = \"b\"\nslots = \"801-820\"\npark_code = \"*90\"\nretrieve_code = \"*91\"\n[lot.recall]\nattempts = 0\n", `parkd.toml: lot[1].recall.attempts: 0: must be from 1 to 20`},

		// Between lots.
		{"DuplicateName", lots(`name = "a"`, `name = "a"`), `parkd.toml: lot[1].name: "a": duplicate lot name (also lot[0])`},
		{"OverlappingSlots", lots(`slots = "701-720"`, `slots = "720-730"`), `parkd.toml: lot[1].slots: "720-730": overlaps lot[0] "a" (701-720)`},
		{"ContainedSlots", lots(`slots = "701-720"`, `slots = "710"`), `parkd.toml: lot[1].slots: "710": overlaps lot[0] "a" (701-720)`},
		{"DuplicateCode", lots(`park_code = "*80"`, `park_code = "*80"`), `parkd.toml: lot[1].park_code: "*80": same code as lot[0].park_code`},
		{"CodeExtendsEarlier", lots(``, `retrieve_code = "*801"`), `parkd.toml: lot[1].retrieve_code: "*801": starts with lot[0].park_code "*80"`},
		{"CodePrefixOfEarlier", lots(`park_code = "*80"`, `park_code = "*8"`), `parkd.toml: lot[1].park_code: "*8": is a prefix of lot[0].park_code "*80"`},
		{"OverflowLoop", lots(`on_full = "overflow:b"`, `on_full = "overflow:a"`), `parkd.toml: lot[0].on_full: "overflow:b": overflow loops: a -> b -> a`},

		// Unknown keys.
		{"UnknownTopLevel", `colour = "blue"`, `parkd.toml: colour: unknown key`},
		{"UnknownTable", "[database]\npath = \"x\"", `parkd.toml: database: unknown key`},
		{"UnknownESLKey", `esl.pasword = "x"`, `parkd.toml: esl.pasword: unknown key; did you mean "password"?`},
		{"UnknownStoreKey", `store.file = "x"`, `parkd.toml: store.file: unknown key`},
		{"UnknownLogKey", `log.lvl = "x"`, `parkd.toml: log.lvl: unknown key; did you mean "level"?`},
		{"UnknownLotKey", lot(`timout = "5s"`), `parkd.toml: lot[0].timout: unknown key; did you mean "timeout"?`},
		{"UnknownKeyCase", `esl.Listen = "x"`, `parkd.toml: esl.Listen: unknown key; did you mean "listen"?`},
		{"InstanceInTable", "[log]\ninstance = \"a\"", `parkd.toml: log.instance: unknown key (a top-level key: write it above the first [table])`},
		{"InstanceBad", `instance = "pbx 1"`, `parkd.toml: instance: "pbx 1": must be 1 to 64 characters from A-Z, a-z, 0-9, . _ and -`},
		{"InstanceEmpty", `instance = ""`, `parkd.toml: instance: "": must be 1 to 64 characters`},
		{"InstanceTooLong", `instance = "` + strings.Repeat("i", 65) + `"`, `parkd.toml: instance: "` + strings.Repeat("i", 65) + `": must be 1 to 64 characters`},
		{"InstanceType", `instance = 7`, `parkd.toml: instance: must be a quoted string, not an integer`},
		{"UnknownQuotedKey", `"a b" = 1`, `parkd.toml: "a b": unknown key`},
		{"UnknownKeyWithNewline", `"a\nb" = 1`, `parkd.toml: "a\nb": unknown key`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := conf.Parse([]byte(tt.data), "parkd.toml")
			if err == nil {
				t.Fatalf("Parse(%q): no error, want %q", tt.data, tt.want)
			}
			msgs := problems(t, err)
			// The line each problem is on is tested by the golden files.
			if got := lineNumber.ReplaceAllString(msgs[0], ""); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("first problem=%q, want prefix %q (all: %q)", got, tt.want, msgs)
			}
		})
	}
}

var lineNumber = regexp.MustCompile(`line [0-9]+: `)

// lot returns a file with one lot named "main" that also sets line; a line
// that sets the name replaces it.
func lot(line string) string {
	if strings.HasPrefix(line, "name = ") {
		return "[[lot]]\n" + line + "\n"
	}
	return "[[lot]]\nname = \"main\"\n" + line + "\n"
}

// recall returns a file with one lot named "main" whose [lot.recall] table
// sets line.
func recall(line string) string {
	return lot("") + "[lot.recall]\n" + line + "\n"
}

// lots returns a file with lot "a" (codes *80/*81, slots 701-720) and lot
// "b" (codes *90/*91, slots 801-820), each also setting its line; a line
// that sets a key replaces that key's value.
func lots(a, b string) string {
	base := func(name, slots, park, retrieve, extra string) string {
		kv := map[string]string{"name": name, "slots": slots, "park_code": park, "retrieve_code": retrieve}
		if k, _, ok := strings.Cut(extra, " = "); ok {
			delete(kv, k)
		}
		s := "[[lot]]\n" + extra + "\n"
		for _, k := range []string{"name", "slots", "park_code", "retrieve_code"} {
			if v, ok := kv[k]; ok {
				s += fmt.Sprintf("%s = %q\n", k, v)
			}
		}
		return s
	}
	return base("a", "701-720", "*80", "*81", a) + base("b", "801-820", "*90", "*91", b)
}

// problems returns the lines of err, checking that each is one *conf.Error
// that names the file.
func problems(t *testing.T, err error) []string {
	t.Helper()
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else {
		errs = []error{err}
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		var ce *conf.Error
		if !errors.As(e, &ce) {
			t.Fatalf("problem %d is %T, want *conf.Error: %v", i, e, e)
		}
		msgs[i] = e.Error()
		if strings.ContainsAny(msgs[i], "\r\n") {
			t.Fatalf("problem %d spans lines: %q", i, msgs[i])
		}
		if !strings.HasPrefix(msgs[i], "parkd.toml: ") {
			t.Fatalf("problem %d does not name the file: %q", i, msgs[i])
		}
	}
	if got, want := err.Error(), strings.Join(msgs, "\n"); got != want {
		t.Fatalf("Error()=%q, want %q", got, want)
	}
	return msgs
}

// Ensure Parse reports every validation problem, not just the first.
func TestParse_AllProblems(t *testing.T) {
	data := `
[esl]
listen = "nope"
command_timeout = "0s"

[log]
level = "loud"

[[lot]]
slots = "9-1"
`
	_, err := conf.Parse([]byte(data), "parkd.toml")
	msgs := problems(t, err)
	want := []string{
		`parkd.toml: line 3: esl.listen: "nope": not host:port`,
		`parkd.toml: line 4: esl.command_timeout: "0s": must be greater than 0`,
		`parkd.toml: line 7: log.level: "loud": must be one of debug, info, warn, error`,
		`parkd.toml: line 10: lot[0].slots: "9-1": first slot is greater than last slot`,
	}
	if !reflect.DeepEqual(msgs, want) {
		t.Fatalf("problems=%q\nwant %q", msgs, want)
	}
}

// Ensure a problem carries its key as structured data.
func TestParse_ErrorKey(t *testing.T) {
	_, err := conf.Parse([]byte(lot(`slots = "x"`)), "parkd.toml")
	var ce *conf.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err=%v, want a *conf.Error", err)
	}
	if got, want := ce.Key, "lot[0].slots"; got != want {
		t.Fatalf("Key=%q, want %q", got, want)
	}
	if got, want := ce.File, "parkd.toml"; got != want {
		t.Fatalf("File=%q, want %q", got, want)
	}
}

// Ensure a TOML syntax error keeps its line number.
func TestParse_SyntaxError(t *testing.T) {
	for _, tt := range []struct {
		name     string
		data     string
		wantLine int
		want     string
	}{
		{"UnclosedTable", "[esl]\nlisten = \"127.0.0.1:8084\"\n[store path]\npath = \"x\"\n", 3, "parkd.toml: line 3: syntax error: "},
		{"MissingValue", "[log]\n\nlevel =\n", 3, "parkd.toml: line 3: syntax error: "},
		{"DuplicateKey", "[log]\nlevel = \"info\"\nlevel = \"debug\"\n", 3, "parkd.toml: line 3: syntax error: "},
		{"BadString", "\n\n\n[log]\nlevel = \"info\n", 5, "parkd.toml: line 5: syntax error: "},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := conf.Parse([]byte(tt.data), "parkd.toml")
			var ce *conf.Error
			if !errors.As(err, &ce) {
				t.Fatalf("err=%v, want a *conf.Error", err)
			}
			if got, want := ce.Line, tt.wantLine; got != want {
				t.Fatalf("Line=%d, want %d (%v)", got, want, err)
			}
			if got := err.Error(); !strings.HasPrefix(got, tt.want) || strings.Contains(got, "\n") {
				t.Fatalf("Error()=%q, want one line starting %q", got, tt.want)
			}
		})
	}
}

// Ensure the password never appears in an error message or in the String,
// GoString or %v output of the configuration.
func TestPassword_NeverPrinted(t *testing.T) {
	const pw = "Sup3rSecretPW"
	for _, tt := range []struct {
		name string
		data string
	}{
		{"ValidationErrorElsewhere", "[esl]\npassword = \"" + pw + "\"\nlisten = \"x\"\n"},
		{"ControlCharacter", "[esl]\npassword = \"" + pw + "\\n\"\n"},
		{"WrongTypeNumber", "[esl]\npassword = 12345678901\n"},
		{"WrongTypeArray", "[esl]\npassword = [\"" + pw + "\"]\n"},
		{"UnknownKey", "[esl]\npasswd = \"" + pw + "\"\n"},
		{"SyntaxUnquoted", "[esl]\npassword = " + pw + "\n"},
		{"SyntaxUnterminated", "[esl]\npassword = \"" + pw + "\n"},
		{"SyntaxBadEscape", "[esl]\npassword = \"" + pw + "\\q\"\n"},
		{"SyntaxDate", "[esl]\npassword = 2024-01-01" + pw + "\n"},
		{"SyntaxInlineTable", "esl = { password = " + pw + " }\n"},
		{"SyntaxNextLine", "[esl]\npassword = \"" + pw + "\" " + pw + "\n"},
		{"RecallErrorElsewhere", "[esl]\npassword = \"" + pw + "\"\n[[lot]]\nfallback = \"a;b\"\n[lot.recall]\ncaller_id_name = \"x:y\"\n"},
		{"RecallUnknownKey", "[esl]\npassword = \"" + pw + "\"\n[[lot]]\n[lot.recall]\npassword = \"" + pw + "\"\n"},
		{"SameValueElsewhere", "[esl]\npassword = \"" + pw + "\"\nfreeswitch = \"" + pw + "\"\n"},
		{"SameValueAsKey", "[esl]\npassword = \"" + pw + "\"\n" + pw + " = 1\n"},
		{"SyntaxSameValueElsewhere", "[esl]\npassword = \"" + pw + "\"\nlisten = " + pw + "\n"},
		{"SyntaxPasswordLater", "[esl]\nlisten = " + pw + "\npassword = '" + pw + "'\n"},
		{"TypeErrorAndUnknownKey", "[esl]\npassword = 12345678901\npasswd = \"" + pw + "\"\n"},
		{"DSNValidationErrorElsewhere", "[store]\ndriver = \"postgres\"\ndsn = \"password=" + pw + "\"\n[log]\nlevel = \"x\"\n"},
		{"DSNControlCharacter", "[store]\ndriver = \"postgres\"\ndsn = \"password=" + pw + "\\n\"\n"},
		{"DSNSyntaxUnterminated", "[store]\ndriver = \"postgres\"\ndsn = \"password=" + pw + "\n"},
		{"DSNSyntaxUnquoted", "[store]\ndriver = \"postgres\"\ndsn = password=" + pw + "\n"},
		{"DSNWrongType", "[store]\ndriver = \"postgres\"\ndsn = [\"password=" + pw + "\"]\n"},
		{"DSNWithSQLite", "[store]\ndsn = \"postgres://u:" + pw + "@db1/parkd\"\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := conf.Parse([]byte(tt.data), "parkd.toml")
			if err == nil {
				t.Fatalf("Parse(%q): no error", tt.data)
			}
			// pw[:3]: a syntax error quotes the token it stopped at, which may be
			// the start of the password only.
			for _, secret := range []string{pw, pw[:3], "12345678901"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error contains the password: %v", err)
				}
			}
		})
	}

	c := conf.Default()
	c.ESL.Password = pw
	c.Store.DSN = "host=db1 password=" + pw
	for _, s := range []string{
		c.ESL.String(),
		fmt.Sprint(c.ESL),
		fmt.Sprintf("%v", c),
		fmt.Sprintf("%+v", c),
		fmt.Sprintf("%#v", c),
		fmt.Sprintf("%s", c.ESL),
	} {
		if strings.Contains(s, pw) {
			t.Fatalf("output contains the password: %s", s)
		}
		if !strings.Contains(s, "password=***") {
			t.Fatalf("output does not show the redacted password: %s", s)
		}
	}
}

// Ensure ESL.String describes every setting.
func TestESL_String(t *testing.T) {
	c := conf.Default()
	if got, want := c.ESL.String(), "listen=127.0.0.1:8084 freeswitch=127.0.0.1:8021 password=*** allow=[127.0.0.1/32 ::1/128] command_timeout=5s"; got != want {
		t.Fatalf("String()=%q, want %q", got, want)
	}
	c.ESL.Password = ""
	if got, want := c.ESL.String(), "password=(unset)"; !strings.Contains(got, want) {
		t.Fatalf("String()=%q, want it to contain %q", got, want)
	}
}

// Ensure overflow chains that end are accepted and loops of any length are
// reported once.
func TestValidate_Overflow(t *testing.T) {
	mk := func(name, slots, park, retrieve, onFull string) conf.Lot {
		l := conf.DefaultLot()
		l.Name, l.Slots, l.ParkCode, l.RetrieveCode, l.OnFull = name, slots, park, retrieve, onFull
		return l
	}
	for _, tt := range []struct {
		name string
		lots []conf.Lot
		want []string
	}{
		{"Chain", []conf.Lot{
			mk("a", "1-9", "*80", "*81", "overflow:b"),
			mk("b", "10-19", "*82", "*83", "overflow:c"),
			mk("c", "20-29", "*84", "*85", "reject"),
		}, nil},
		{"LoopOfThree", []conf.Lot{
			mk("a", "1-9", "*80", "*81", "overflow:b"),
			mk("b", "10-19", "*82", "*83", "overflow:c"),
			mk("c", "20-29", "*84", "*85", "overflow:a"),
		}, []string{`lot[0].on_full: "overflow:b": overflow loops: a -> b -> c -> a`}},
		{"LoopNotIncludingFirst", []conf.Lot{
			mk("a", "1-9", "*80", "*81", "overflow:b"),
			mk("b", "10-19", "*82", "*83", "overflow:c"),
			mk("c", "20-29", "*84", "*85", "overflow:b"),
		}, []string{`lot[1].on_full: "overflow:c": overflow loops: b -> c -> b`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := conf.Default()
			c.Lots = tt.lots
			var got []string
			if err := c.Validate(); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					got = append(got, e.Error())
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Validate=%q, want %q", got, tt.want)
			}
		})
	}
}

// Ensure Validate fills First and Last and rejects a config without lots.
func TestValidate_Slots(t *testing.T) {
	c := conf.Default()
	c.Lots[0].Slots, c.Lots[0].First, c.Lots[0].Last = "5", 0, 0
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if got, want := [2]int{c.Lots[0].First, c.Lots[0].Last}, [2]int{5, 5}; got != want {
		t.Fatalf("First,Last=%v, want %v", got, want)
	}
	c.Lots = nil
	if err := c.Validate(); err == nil || err.Error() != "lot: at least one [[lot]] is required" {
		t.Fatalf("Validate(no lots)=%v", err)
	}
}

// Ensure a lot's warn_after defaults to half its own timeout, and a set one
// is kept.
func TestParse_WarnAfter(t *testing.T) {
	c, err := conf.Parse([]byte("[[lot]]\ntimeout = \"300s\"\n[[lot]]\nname = \"b\"\nslots = \"1-2\"\npark_code = \"*72\"\nretrieve_code = \"*73\"\nwarn_after = \"45s\"\n"), "parkd.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := c.Lots[0].Warn(), 150*time.Second; got != want {
		t.Fatalf("default warn=%v, want half the timeout %v", got, want)
	}
	if got, want := c.Lots[1].Warn(), 45*time.Second; got != want {
		t.Fatalf("warn=%v, want %v", got, want)
	}
}

// Ensure an inline array of lots is accepted like [[lot]] sections.
func TestParse_InlineLots(t *testing.T) {
	c, err := conf.Parse([]byte(`lot = [{name = "x", slots = "1-2"}]`), "parkd.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := c.Lots[0].Name, "x"; got != want {
		t.Fatalf("Name=%q, want %q", got, want)
	}
}

// Ensure the example configuration shipped with parkd parses, validates and
// matches the defaults, its relative store.path taken from its directory.
func TestParse_ExampleFile(t *testing.T) {
	c, err := conf.Load("../parkd.example.toml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := conf.Default()
	dir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	want.Store.Path = filepath.Join(dir, conf.DefaultStorePath)
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("example=%#v\nwant the defaults %#v", c, want)
	}
}

// Ensure the commented second lot of the example file is valid once
// uncommented.
func TestParse_ExampleSecondLot(t *testing.T) {
	data, err := os.ReadFile("../parkd.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	// Uncomment everything from the commented [[lot]] on.
	before, after, ok := strings.Cut(string(data), "\n# [[lot]]\n")
	if !ok {
		t.Fatal("example has no commented second [[lot]]")
	}
	var b strings.Builder
	b.WriteString(before + "\n[[lot]]\n")
	for line := range strings.Lines(after) {
		b.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "#"), " "))
	}
	c, err := conf.Parse([]byte(b.String()), "parkd.example.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got, want := len(c.Lots), 2; got != want {
		t.Fatalf("len(Lots)=%d, want %d", got, want)
	}
	r := c.Lots[1]
	if got, want := fmt.Sprintf("%s %d %d %t %s %s", r.Name, r.First, r.Last, r.Announce, r.OnOccupied, r.OverflowLot()), "reception 201 220 true next default"; got != want {
		t.Fatalf("reception=%q, want %q", got, want)
	}
	want := conf.DefaultRecall()
	want.AlertInfo, want.Attempts = "<http://127.0.0.1/Bellcore-dr2>", 2
	if got := r.Recall; got != want {
		t.Fatalf("reception recall=%+v, want %+v", got, want)
	}
	if ext, dp, ctx := r.FallbackDestination(); ext != "9000" || dp != "XML" || ctx != "default" {
		t.Fatalf("reception fallback=%q %q %q, want 9000 XML default", ext, dp, ctx)
	}
	if got := c.Lots[0].Recall; got != conf.DefaultRecall() {
		t.Fatalf("default lot recall=%+v, want the defaults", got)
	}
}

// Ensure the commented [lot.recall] table and fallback of the example's
// default lot are valid once uncommented and show the defaults, and that
// every distinctive-ring value the example documents is accepted.
func TestParse_ExampleRecall(t *testing.T) {
	data, err := os.ReadFile("../parkd.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	first, _, ok := strings.Cut(string(data), "\n# [[lot]]\n")
	if !ok {
		t.Fatal("example has no commented second [[lot]]")
	}
	keyLine := regexp.MustCompile(`^# (\[lot\.recall\]|[a-z_]+ = .*)$`)
	var b strings.Builder
	var keys []string
	inHTTP := false // [http]'s commented keys name files and hashes: TestHTTP_ExampleUserAndToken tries them
	for line := range strings.Lines(first) {
		if strings.HasPrefix(line, "[") {
			inHTTP = line == "[http]\n"
		}
		if m := keyLine.FindStringSubmatch(strings.TrimSuffix(line, "\n")); m != nil && !inHTTP {
			line = m[1] + "\n"
			keys = append(keys, strings.SplitN(m[1], " ", 2)[0])
		}
		b.WriteString(line)
	}
	wantKeys := []string{"instance", "domains", "domain", "warn_after", "fallback", "[lot.recall]", "enabled", "dial", "domain", "alert_info",
		"caller_id_name", "caller_id_number", "ring_for", "retry_after", "attempts"}
	if !reflect.DeepEqual(keys, wantKeys) {
		t.Fatalf("uncommented %q, want %q", keys, wantKeys)
	}
	c, err := conf.Parse([]byte(b.String()), "parkd.example.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	l := c.Lots[0]
	if got, want := l.Recall, conf.DefaultRecall(); got != want {
		t.Fatalf("recall=%+v, want the defaults %+v", got, want)
	}
	if got, want := l.Fallback, "operator"; got != want {
		t.Fatalf("fallback=%q, want %q", got, want)
	}
	if got, want := c.Instance, "pbx1"; got != want {
		t.Fatalf("instance=%q, want %q", got, want)
	}
	if got := c.BLF.Domains; len(got) != 1 || got[0] != "pbx.example.com" {
		t.Fatalf("blf.domains=%q", got)
	}

	// Every Alert-Info value in the example's comments.
	values := regexp.MustCompile(`<http://[^\s"]+`).FindAllString(first, -1)
	if len(values) < 6 {
		t.Fatalf("found %d alert_info values in the example: %q", len(values), values)
	}
	for _, v := range values {
		if _, err := conf.Parse([]byte(recall(fmt.Sprintf("alert_info = %q", v))), "parkd.toml"); err != nil {
			t.Errorf("documented alert_info %s: %v", v, err)
		}
	}
}

// Ensure recall templates and values that FreeSWITCH takes as written are
// accepted, and recall may be turned off.
func TestParse_RecallValid(t *testing.T) {
	for _, tt := range []struct {
		name string
		line string
	}{
		{"Disabled", `enabled = false`},
		{"DialGateway", `dial = "sofia/gateway/pbx/{parker}"`},
		{"DialProfile", `dial = "sofia/internal/{parker}%{domain}"`},
		{"DialOnlyPlaceholder", `dial = "{parker}"`},
		{"DialEveryPlaceholder", `dial = "loopback/{parker}-{lot}-{slot}-{caller_number}-{caller_name}/{domain}"`},
		{"DialStatic", `dial = "user/operator@pbx.example.com"`},
		{"DialParams", `dial = "sofia/internal/sip:{parker}@{domain}:5060"`},
		{"Domain", `domain = "pbx.example.com"`},
		{"DomainIP", `domain = "10.0.0.5"`},
		{"AlertInfoYealink", `alert_info = "<http://127.0.0.1>;info=ring3"`},
		{"AlertInfoLongest", `alert_info = "<http://127.0.0.1/` + strings.Repeat("x", 237) + `>"`},
		{"CallerIDNameParentheses", `caller_id_name = "{caller_name} ({lot} {slot})"`},
		{"CallerIDNameNoPlaceholders", `caller_id_name = "Parked call"`},
		{"CallerIDNameUnicode", `caller_id_name = "Geparkt {slot} – {caller_name}"`},
		{"CallerIDNameLongest", `caller_id_name = "{slot} ` + strings.Repeat("n", 57) + `"`},
		{"CallerIDNameDollar", `caller_id_name = "Park $5 {slot}"`},
		{"CallerIDNumberPrefix", `caller_id_number = "*71{slot}"`},
		{"CallerIDNumberCaller", `caller_id_number = "{caller_number}"`},
		{"RingForBounds", "ring_for = \"5s\"\nretry_after = \"1h\""},
		{"RingForMax", "ring_for = \"5m\"\nretry_after = \"1s\""},
		{"AttemptsBounds", `attempts = 20`},
		{"AttemptsOne", `attempts = 1`},
		{"InlineTable", ``},
	} {
		t.Run(tt.name, func(t *testing.T) {
			data := recall(tt.line)
			if tt.name == "InlineTable" {
				data = lot(`recall = { enabled = false, attempts = 1 }`)
			}
			if _, err := conf.Parse([]byte(data), "parkd.toml"); err != nil {
				t.Fatalf("Parse(%q): %v", data, err)
			}
		})
	}
}

// Ensure FallbackDestination splits the fallback into its parts.
func TestLot_FallbackDestination(t *testing.T) {
	for _, tt := range []struct {
		fallback               string
		ext, dialplan, context string
	}{
		{"", "", "", ""},
		{"operator", "operator", "", ""},
		{"9000 XML", "9000", "XML", ""},
		{"9000 XML default", "9000", "XML", "default"},
		{"*98 XML features", "*98", "XML", "features"},
	} {
		t.Run(tt.fallback, func(t *testing.T) {
			l := conf.DefaultLot()
			l.Fallback = tt.fallback
			c := conf.Default()
			c.Lots = []conf.Lot{l}
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			ext, dp, ctx := l.FallbackDestination()
			if ext != tt.ext || dp != tt.dialplan || ctx != tt.context {
				t.Fatalf("FallbackDestination()=%q %q %q, want %q %q %q", ext, dp, ctx, tt.ext, tt.dialplan, tt.context)
			}
		})
	}
}

// Ensure Validate checks a lot's recall table built in code, reporting every
// problem in it, and with the key path it would have in the file.
func TestValidate_Recall(t *testing.T) {
	c := conf.Default()
	c.Lots[0].Recall = conf.Recall{} // every field missing, as if built by hand
	c.Lots[0].Fallback = "a b c d"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate: no error")
	}
	var got []string
	for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
		got = append(got, e.Error())
	}
	want := []string{
		`lot[0].recall.dial: must not be empty (the default is "user/{parker}@{domain}")`,
		`lot[0].recall.alert_info: must not be empty (the default is "<http://127.0.0.1/Bellcore-dr4>")`,
		`lot[0].recall.caller_id_name: must not be empty (the default is "Park {slot} - {caller_name}")`,
		`lot[0].recall.caller_id_number: must not be empty (the default is "{slot}")`,
		`lot[0].recall.ring_for: "0s": must be at least 5s`,
		`lot[0].recall.retry_after: "0s": must be at least 1s`,
		`lot[0].recall.attempts: 0: must be from 1 to 20`,
		`lot[0].fallback: "a b c d": must be "extension [dialplan [context]]", such as "operator" or "9000 XML default": 4 words is too many`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Validate=%q\nwant %q", got, want)
	}
}

// Ensure Load names the file when it cannot be read.
func TestLoad_Missing(t *testing.T) {
	_, err := conf.Load("testdata/does-not-exist.toml")
	if err == nil || !strings.Contains(err.Error(), "does-not-exist.toml") {
		t.Fatalf("Load=%v, want an error naming the file", err)
	}
}

// Ensure store.keep accepts days, Go durations and "" (keep everything).
func TestParse_StoreKeep(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want time.Duration
	}{
		{`""`, 0},
		{`"400d"`, 400 * 24 * time.Hour},
		{`"1d"`, 24 * time.Hour},
		{`"24h"`, 24 * time.Hour},
		{`"9600h"`, 400 * 24 * time.Hour},
	} {
		t.Run(tt.in, func(t *testing.T) {
			c, err := conf.Parse([]byte("[store]\nkeep = "+tt.in+"\n"), "parkd.toml")
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Store.Keep; got != tt.want {
				t.Fatalf("keep=%v, want %v", got, tt.want)
			}
		})
	}
}
