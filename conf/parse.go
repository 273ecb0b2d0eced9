package conf

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Parse decodes data, the contents of a configuration file, over the defaults
// and validates the result. name is used in error messages, usually the file
// path.
//
// TOML syntax errors are reported with their line. Unknown keys and values of
// the wrong type stop parsing before validation; otherwise the error joins
// every problem Validate finds.
func Parse(data []byte, name string) (Config, error) {
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		return Config{}, syntaxError(name, data, err)
	}

	c := Default()
	c.Lots = nil
	var p problems
	decodeConfig(&p, raw, &c)
	if err := p.err(name); err != nil {
		return Config{}, err
	}
	if len(c.Lots) == 0 {
		c.Lots = []Lot{DefaultLot()}
	}
	if err := c.validate().err(name); err != nil {
		return Config{}, err
	}
	return c, nil
}

// syntaxError turns a TOML decoding error into a one-line *Error with the line
// number. If the error might quote the ESL password, its details are hidden.
func syntaxError(name string, data []byte, err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return &Error{File: name, Problem: "syntax error: " + err.Error()}
	}
	msg := "syntax error: " + pe.Message
	if mentionsPassword(pe.LastKey) || mentionsPassword(lineOf(data, pe.Position.Line)) {
		msg = "syntax error near esl.password (details hidden so that the password is not printed)"
	}
	if pe.LastKey != "" && !strings.Contains(msg, "esl.password") {
		msg += fmt.Sprintf(" (after key %s)", quote(pe.LastKey))
	}
	return &Error{File: name, Line: pe.Position.Line, Problem: msg}
}

// mentionsPassword reports whether s contains the word "password" in any case.
func mentionsPassword(s string) bool {
	return strings.Contains(strings.ToLower(s), "password")
}

// lineOf returns line n (starting at 1) of data, or "" if there is none.
func lineOf(data []byte, n int) string {
	if n < 1 {
		return ""
	}
	for i, line := range strings.Split(string(data), "\n") {
		if i == n-1 {
			return line
		}
	}
	return ""
}

// decodeConfig copies the decoded TOML document raw into c, recording unknown
// keys and values of the wrong type in p.
func decodeConfig(p *problems, raw map[string]any, c *Config) {
	for _, k := range sortedKeys(raw) {
		v := raw[k]
		switch k {
		case "esl":
			t, ok := table(p, "esl", v)
			if !ok {
				continue
			}
			for _, k := range sortedKeys(t) {
				key := joinKey("esl", k)
				switch k {
				case "listen":
					decodeString(p, key, t[k], &c.ESL.Listen)
				case "freeswitch":
					decodeString(p, key, t[k], &c.ESL.FreeSWITCH)
				case "password":
					decodeString(p, key, t[k], &c.ESL.Password)
				case "allow":
					decodeStrings(p, key, t[k], &c.ESL.Allow)
				case "command_timeout":
					decodeDuration(p, key, t[k], &c.ESL.CommandTimeout)
				default:
					p.addf("", "unknown key %s", key)
				}
			}
		case "store":
			t, ok := table(p, "store", v)
			if !ok {
				continue
			}
			for _, k := range sortedKeys(t) {
				key := joinKey("store", k)
				switch k {
				case "path":
					decodeString(p, key, t[k], &c.Store.Path)
				case "keep":
					decodeKeep(p, key, t[k], &c.Store.Keep)
				default:
					p.addf("", "unknown key %s", key)
				}
			}
		case "log":
			t, ok := table(p, "log", v)
			if !ok {
				continue
			}
			for _, k := range sortedKeys(t) {
				key := joinKey("log", k)
				switch k {
				case "level":
					decodeString(p, key, t[k], &c.Log.Level)
				case "format":
					decodeString(p, key, t[k], &c.Log.Format)
				default:
					p.addf("", "unknown key %s", key)
				}
			}
		case "lot":
			tables, ok := lotTables(v)
			if !ok {
				p.addf("lot", "must be an array of tables written [[lot]], not %s", typeName(v))
				continue
			}
			for i, t := range tables {
				c.Lots = append(c.Lots, decodeLot(p, fmt.Sprintf("lot[%d]", i), t))
			}
		default:
			p.addf("", "unknown key %s", joinKey("", k))
		}
	}
}

// decodeLot returns the lot described by t over the per-lot defaults. Each
// lot starts from DefaultLot, so no lot inherits values from another.
func decodeLot(p *problems, prefix string, t map[string]any) Lot {
	l := DefaultLot()
	l.First, l.Last = 0, 0
	for _, k := range sortedKeys(t) {
		key := prefix + "." + keyPiece(k)
		v := t[k]
		switch k {
		case "name":
			decodeString(p, key, v, &l.Name)
		case "slots":
			decodeString(p, key, v, &l.Slots)
		case "music":
			decodeString(p, key, v, &l.Music)
		case "timeout":
			decodeDuration(p, key, v, &l.Timeout)
		case "announce":
			decodeBool(p, key, v, &l.Announce)
		case "on_full":
			decodeString(p, key, v, &l.OnFull)
		case "on_occupied":
			decodeString(p, key, v, &l.OnOccupied)
		case "park_code":
			decodeString(p, key, v, &l.ParkCode)
		case "retrieve_code":
			decodeString(p, key, v, &l.RetrieveCode)
		case "fallback":
			decodeString(p, key, v, &l.Fallback)
		case "recall":
			decodeRecall(p, key, v, &l.Recall)
		default:
			if recallKeys[k] {
				p.addf("", "unknown key %s (a recall key: write it under [lot.recall])", key)
				continue
			}
			p.addf("", "unknown key %s", key)
		}
	}
	return l
}

// lotKeys and recallKeys are the keys of a [[lot]] and of its [lot.recall],
// for hints when a key is written in the wrong one.
var (
	lotKeys = map[string]bool{
		"name": true, "slots": true, "music": true, "timeout": true, "announce": true, "on_full": true,
		"on_occupied": true, "park_code": true, "retrieve_code": true, "fallback": true,
	}
	recallKeys = map[string]bool{
		"enabled": true, "dial": true, "domain": true, "alert_info": true, "caller_id_name": true,
		"caller_id_number": true, "ring_for": true, "retry_after": true, "attempts": true,
	}
)

// decodeRecall copies the [lot.recall] table v over r, which holds the
// defaults. key is the table's key path, such as "lot[0].recall".
func decodeRecall(p *problems, key string, v any, r *Recall) {
	t, ok := v.(map[string]any)
	if !ok {
		p.addf(key, "must be a table written [lot.recall] after its [[lot]], not %s", typeName(v))
		return
	}
	for _, k := range sortedKeys(t) {
		key := key + "." + keyPiece(k)
		v := t[k]
		switch k {
		case "enabled":
			decodeBool(p, key, v, &r.Enabled)
		case "dial":
			decodeString(p, key, v, &r.Dial)
		case "domain":
			decodeString(p, key, v, &r.Domain)
		case "alert_info":
			decodeString(p, key, v, &r.AlertInfo)
		case "caller_id_name":
			decodeString(p, key, v, &r.CallerIDName)
		case "caller_id_number":
			decodeString(p, key, v, &r.CallerIDNumber)
		case "ring_for":
			decodeDuration(p, key, v, &r.RingFor)
		case "retry_after":
			decodeDuration(p, key, v, &r.RetryAfter)
		case "attempts":
			decodeInt(p, key, v, &r.Attempts)
		default:
			if lotKeys[k] {
				// TOML puts every key after [lot.recall] in that table.
				p.addf("", "unknown key %s (a lot key: write it above [lot.recall])", key)
				continue
			}
			p.addf("", "unknown key %s", key)
		}
	}
}

// lotTables returns v as a list of tables. It accepts both [[lot]] sections
// and an inline array of inline tables.
func lotTables(v any) ([]map[string]any, bool) {
	switch v := v.(type) {
	case []map[string]any:
		return v, true
	case []any:
		tables := make([]map[string]any, 0, len(v))
		for _, e := range v {
			t, ok := e.(map[string]any)
			if !ok {
				return nil, false
			}
			tables = append(tables, t)
		}
		return tables, true
	}
	return nil, false
}

// table returns v as a table, or records a problem naming key.
func table(p *problems, key string, v any) (map[string]any, bool) {
	t, ok := v.(map[string]any)
	if !ok {
		p.addf(key, "must be a table written [%s], not %s", key, typeName(v))
	}
	return t, ok
}

// decodeString stores v in dst if it is a string, or records a problem
// naming key. The value itself is never quoted, as it may be the password.
func decodeString(p *problems, key string, v any, dst *string) {
	s, ok := v.(string)
	if !ok {
		p.addf(key, "must be a quoted string, not %s", typeName(v))
		return
	}
	*dst = s
}

// decodeStrings stores v in dst if it is an array of strings, or records a
// problem naming key.
func decodeStrings(p *problems, key string, v any, dst *[]string) {
	a, ok := v.([]any)
	if !ok {
		p.addf(key, "must be an array of quoted strings, not %s", typeName(v))
		return
	}
	out := make([]string, 0, len(a))
	for i, e := range a {
		s, ok := e.(string)
		if !ok {
			p.addf(fmt.Sprintf("%s[%d]", key, i), "must be a quoted string, not %s", typeName(e))
			return
		}
		out = append(out, s)
	}
	*dst = out
}

// decodeDuration stores v in dst if it is a duration string such as "45s",
// or records a problem naming key.
func decodeDuration(p *problems, key string, v any, dst *time.Duration) {
	s, ok := v.(string)
	if !ok {
		p.addf(key, `must be a quoted duration such as "45s" or "2m", not %s`, typeName(v))
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		p.addf(key, `%s: not a duration (write it like "45s" or "2m")`, quote(s))
		return
	}
	*dst = d
}

// decodeKeep stores v in dst if it is a retention period: "" (keep
// everything, 0), a number of days such as "400d", or a Go duration such as
// "9600h"; or records a problem naming key.
func decodeKeep(p *problems, key string, v any, dst *time.Duration) {
	s, ok := v.(string)
	if !ok {
		p.addf(key, `must be a quoted period such as "400d", not %s`, typeName(v))
		return
	}
	d, err := parseKeep(s)
	if err != nil {
		p.addf(key, "%s: %v", quote(s), err)
		return
	}
	if d == 0 && s != "" {
		p.addf(key, `%s: must be at least one day ("1d"), or "" to keep everything`, quote(s))
		return
	}
	*dst = d
}

// parseKeep parses a retention period: "" is 0 (keep everything), "400d" is
// 400 days, anything else a Go duration such as "9600h". It does not check
// the minimum; Validate does.
func parseKeep(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > MaxKeepDays {
			return 0, fmt.Errorf(`not a number of days (write it like "400d", at most %dd)`, MaxKeepDays)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf(`not a period (write it like "400d" or "9600h")`)
	}
	return d, nil
}

// decodeInt stores v in dst if it is an integer, or records a problem naming
// key.
func decodeInt(p *problems, key string, v any, dst *int) {
	n, ok := v.(int64)
	if !ok {
		p.addf(key, "must be a whole number such as 3, not %s", typeName(v))
		return
	}
	if int64(int(n)) != n {
		p.addf(key, "%d: out of range", n)
		return
	}
	*dst = int(n)
}

// decodeBool stores v in dst if it is a boolean, or records a problem naming
// key.
func decodeBool(p *problems, key string, v any, dst *bool) {
	b, ok := v.(bool)
	if !ok {
		p.addf(key, "must be true or false, not %s", typeName(v))
		return
	}
	*dst = b
}

// typeName names the TOML type of a decoded value for an error message.
func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case time.Time:
		return "a date-time"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return fmt.Sprintf("a %T", v)
}

// sortedKeys returns the keys of m in sorted order, so that problems are
// reported in a stable order.
func sortedKeys(m map[string]any) []string {
	return slices.Sorted(maps.Keys(m))
}
