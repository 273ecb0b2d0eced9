package conf

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"math"
	"reflect"
	"regexp"
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
// A TOML syntax error is reported alone, with its line: the library stops
// there. Otherwise the error joins every problem, in file order: values of
// the wrong type, unknown keys and everything Validate finds, each naming its
// key and, when the key is written in the file, its line.
func Parse(data []byte, name string) (Config, error) {
	return parse(data, name, "")
}

// parse is Parse, with relative TLS file names taken relative to dir
// unless dir is "", before they are checked.
func parse(data []byte, name, dir string) (Config, error) {
	var doc map[string]toml.Primitive
	md, err := toml.Decode(string(data), &doc)
	if err != nil {
		return Config{}, syntaxError(name, data, err)
	}
	d := decoder{md: &md}
	c := Default()
	d.fields(doc, "", reflect.ValueOf(&c).Elem())
	if len(c.Lots) == 0 {
		c.Lots = []Lot{DefaultLot()}
	}
	if dir != "" {
		c.HTTP.TLSCert, c.HTTP.TLSKey = relativeTo(dir, c.HTTP.TLSCert), relativeTo(dir, c.HTTP.TLSKey)
	}
	p := d.problems
	for _, e := range c.validate() {
		// A value that could not be decoded was zeroed; do not report it twice.
		if !slices.ContainsFunc(d.problems, func(r *Error) bool { return within(e.Key, r.Key) }) {
			p = append(p, e)
		}
	}
	lines := keyLines(data)
	for _, e := range p {
		e.Line = findLine(lines, e.Key)
		e.Key, e.Problem = redact(e.Key, c.ESL.Password), redact(e.Problem, c.ESL.Password)
		for _, w := range c.Webhooks {
			e.Key, e.Problem = redact(e.Key, w.Secret), redact(e.Problem, w.Secret)
		}
	}
	slices.SortStableFunc(p, func(a, b *Error) int {
		return cmp.Or(cmp.Compare(lineOrder(a), lineOrder(b)), cmp.Compare(a.Key, b.Key))
	})
	if err := p.err(name); err != nil {
		return Config{}, err
	}
	return c, nil
}

// within reports whether key is the key path outer or one inside it.
func within(key, outer string) bool {
	rest, ok := strings.CutPrefix(key, outer)
	return ok && (rest == "" || rest[0] == '.' || rest[0] == '[')
}

// lineOrder sorts problems without a line after the others.
func lineOrder(e *Error) int {
	if e.Line == 0 {
		return math.MaxInt
	}
	return e.Line
}

// syntaxError turns a TOML decoding error into a one-line *Error with the line
// number. If the error might quote the ESL password, its details are hidden.
func syntaxError(name string, data []byte, err error) error {
	var pe toml.ParseError
	if !errors.As(err, &pe) {
		return &Error{File: name, Problem: "syntax error: " + err.Error()}
	}
	var pw, line string // the password as written, and the line of the error
	if m := passwordLineRE.FindStringSubmatch(string(data)); m != nil {
		pw = m[1] + m[2]
	}
	if lines := strings.Split(string(data), "\n"); pe.Position.Line >= 1 && pe.Position.Line <= len(lines) {
		line = lines[pe.Position.Line-1]
	}
	msg := "syntax error: " + pe.Message
	switch {
	case mentionsPassword(pe.LastKey) || mentionsPassword(line):
		msg = "syntax error near esl.password (details hidden so that the password is not printed)"
	case mentionsSecret(pe.LastKey) || mentionsSecret(line):
		msg = "syntax error near a webhook secret (details hidden so that the secret is not printed)"
	case mentionsDSN(pe.LastKey) || mentionsDSN(line):
		msg = "syntax error near store.dsn (details hidden so that a password in it is not printed)"
	case len(pw) >= minRedacted && strings.Contains(line, pw):
		msg = "syntax error (details hidden: the line holds the password)"
	case pe.LastKey != "":
		msg += fmt.Sprintf(" (after key %s)", quote(pe.LastKey))
	}
	return &Error{File: name, Line: pe.Position.Line, Problem: msg}
}

// passwordLineRE finds the password as written in a file that does not parse.
var passwordLineRE = regexp.MustCompile(`(?m)^\s*password\s*=\s*(?:"((?:[^"\\\n]|\\.)*)"|'([^'\n]*)')`)

// minRedacted is the shortest password redact hides: a shorter one cannot be
// told from ordinary text.
const minRedacted = 4

// redact replaces the password pw, as written or as quote escapes it, with
// "***" in s: in case the same text is also the value of another key, or a
// key, that a message quotes.
func redact(s, pw string) string {
	if len(pw) < minRedacted {
		return s
	}
	escaped := strconv.Quote(pw)
	return strings.ReplaceAll(strings.ReplaceAll(s, pw, "***"), escaped[1:len(escaped)-1], "***")
}

// mentionsPassword reports whether s contains the word "password" in any case.
func mentionsPassword(s string) bool {
	return strings.Contains(strings.ToLower(s), "password")
}

// mentionsDSN reports whether s names the DSN key in any case.
func mentionsDSN(s string) bool {
	return strings.Contains(strings.ToLower(s), "dsn")
}

// mentionsSecret reports whether s contains the word "secret" in any case.
func mentionsSecret(s string) bool {
	return strings.Contains(strings.ToLower(s), "secret")
}

// decoder decodes a parsed file into the Config structs one key at a time,
// so that one bad value does not hide the others.
type decoder struct {
	md       *toml.MetaData
	problems problems
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	lotsType     = reflect.TypeFor[[]Lot]()
	webhooksType = reflect.TypeFor[[]Webhook]()
)

// fields decodes each key of a table into the field of the struct v whose
// toml tag names it exactly (the library would also take "Listen" for
// "listen", and pick one of the two at random when both are written).
func (d *decoder) fields(keys map[string]toml.Primitive, key string, v reflect.Value) {
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if i := fieldIndex(v.Type(), k); i >= 0 {
			d.value(keys[k], joinKey(key, k), v.Field(i))
		} else {
			d.unknown(key, k, v.Type())
		}
	}
}

// value decodes p into v, which holds the default, or records why it cannot
// and zeroes v (a struct keeps its defaults).
func (d *decoder) value(p toml.Primitive, key string, v reflect.Value) {
	var raw any
	_ = d.md.PrimitiveDecode(p, &raw) // into any, decoding cannot fail
	if want, ok := expect(v.Type(), key, raw); !ok {
		d.problems.addf(key, "must be %s, not %s", want, typeName(raw))
		if v.Kind() != reflect.Struct {
			v.SetZero()
		}
		return
	}
	// Below, raw has the TOML type v takes, so no decoding can fail.
	switch {
	case isTables(v.Type()):
		var items []toml.Primitive
		_ = d.md.PrimitiveDecode(p, &items)
		s := reflect.MakeSlice(v.Type(), len(items), len(items))
		for i, item := range items {
			if v.Type() == lotsType {
				s.Index(i).Set(reflect.ValueOf(DefaultLot())) // each lot starts from the defaults, not from the lot before
			}
			if v.Type() == webhooksType {
				s.Index(i).Set(reflect.ValueOf(DefaultWebhook()))
			}
			d.value(item, fmt.Sprintf("%s[%d]", key, i), s.Index(i))
		}
		v.Set(s)
	case v.Kind() == reflect.Struct:
		var keys map[string]toml.Primitive
		_ = d.md.PrimitiveDecode(p, &keys)
		d.fields(keys, key, v)
	case v.Type() == durationType:
		parse := parseDuration
		if key == "store.keep" {
			parse = parseKeep
		}
		t, err := parse(raw.(string))
		if err != nil {
			d.problems.addf(key, "%s: %v", quote(raw.(string)), err)
		}
		v.SetInt(int64(t)) // 0 after an error
	case v.Kind() == reflect.Slice:
		for i, e := range raw.([]any) {
			if !is[string](e) {
				d.problems.addf(fmt.Sprintf("%s[%d]", key, i), "must be a quoted string, not %s", typeName(e))
				return // keeping the default list, valid, so that esl.allow is not reported twice
			}
		}
		fallthrough
	default:
		_ = d.md.PrimitiveDecode(p, v.Addr().Interface())
	}
}

// expect describes the TOML value a field of type t takes, and reports
// whether raw is one. Durations must be quoted: the library would take a bare
// 45 as 45 nanoseconds.
func expect(t reflect.Type, key string, raw any) (want string, ok bool) {
	switch {
	case key == "store.keep":
		return `a quoted period such as "400d"`, is[string](raw)
	case t == durationType:
		return `a quoted duration such as "45s" or "2m"`, is[string](raw)
	case isTables(t):
		return "an array of tables written [[" + indexRE.ReplaceAllString(key, "") + "]]", is[[]map[string]any](raw) || is[[]any](raw)
	}
	switch t.Kind() {
	case reflect.String:
		return "a quoted string", is[string](raw)
	case reflect.Bool:
		return "true or false", is[bool](raw)
	case reflect.Int:
		return "a whole number such as 3", is[int64](raw)
	case reflect.Slice:
		return "an array of quoted strings", is[[]any](raw)
	case reflect.Struct:
		return "a table written " + header(key), is[map[string]any](raw)
	}
	panic("conf: no TOML type for " + t.String())
}

// isTables reports whether t is a slice of structs, written as an array of
// tables ([[lot]], [[http.user]]).
func isTables(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct
}

// is reports whether v holds a T.
func is[T any](v any) bool {
	_, ok := v.(T)
	return ok
}

// header is how the table with the key path key is written in the file.
func header(key string) string {
	switch name := indexRE.ReplaceAllString(key, ""); {
	case strings.HasSuffix(key, "]"):
		return "[[" + name + "]]"
	case strings.Contains(key, "]"):
		return "[" + name + "] after its [[lot]]"
	default:
		return "[" + name + "]"
	}
}

// parseDuration parses a Go duration such as "45s".
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New(`not a duration (write it like "45s" or "2m")`)
	}
	return d, nil
}

// parseKeep parses a retention period: "" is 0 (keep everything), "400d" is
// 400 days, anything else a Go duration such as "9600h". Validate checks the
// minimum.
func parseKeep(s string) (d time.Duration, err error) {
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > MaxKeepDays {
			return 0, fmt.Errorf(`not a number of days (write it like "400d", at most %dd)`, MaxKeepDays)
		}
		d = time.Duration(days) * 24 * time.Hour
	} else if s != "" {
		if d, err = time.ParseDuration(s); err != nil {
			return 0, errors.New(`not a period (write it like "400d" or "9600h")`)
		}
	}
	if d == 0 && s != "" {
		return 0, errors.New(`must be at least one day ("1d"), or "" to keep everything`)
	}
	return d, nil
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
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date-time" // the only other TOML type
}
