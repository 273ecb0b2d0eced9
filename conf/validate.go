package conf

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/parkd/parkd/esl"
)

// Limits enforced by Validate.
const (
	MaxCommandTimeout = 60 * time.Second
	MinLotTimeout     = time.Second
	MaxLotTimeout     = 24 * time.Hour
	MaxSlots          = 100000 // slots in one lot
	MaxSlotDigits     = 9
	MaxMusicLen       = 256 // bytes

	MinRecallRingFor    = 5 * time.Second
	MaxRecallRingFor    = 5 * time.Minute
	MinRecallRetryAfter = time.Second
	MaxRecallRetryAfter = time.Hour
	MaxRecallAttempts   = 20
	MaxCallerIDNameLen  = 64  // bytes, of the template as written
	MaxAlertInfoLen     = 256 // bytes
	MaxFallbackWordLen  = 64  // bytes, of each word of a fallback

	MaxInstanceLen = 64 // bytes

	MinKeep     = 24 * time.Hour // store.keep, unless 0
	MaxKeepDays = 100 * 366      // store.keep in days
)

const (
	overflowPrefix = "overflow:"

	maxFallbackWords = 3 // extension, dialplan, context
	placeholderHelp  = "{lot}, {slot}, {caller_name}, {caller_number}, {parker}, {domain}"
	codeHelp         = "must be 1 to 8 digits, optionally after * or #"
	// Characters FreeSWITCH gives a meaning in the channel variables of an
	// originate ({a=1,b=2}, [per-leg], ^^:delimiter, quoting), so a value
	// containing them would be split or mangled.
	callerIDNameSpecials = `'"[]^\,;`
	alertInfoSpecials    = `'"{}[]^\,`
)

var (
	lotNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	codeRE    = regexp.MustCompile(`^[*#]?[0-9]{1,8}$`)
	slotsRE   = regexp.MustCompile(`^([0-9]+)(?:-([0-9]+))?$`)
	musicRE   = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=~-]+$`)

	dialLiteralRE     = regexp.MustCompile(`^[A-Za-z0-9_./@:+*#=%-]*$`)
	numberLiteralRE   = regexp.MustCompile(`^[0-9+*#]*$`)
	domainRE          = regexp.MustCompile(`^[A-Za-z0-9.-]{1,253}$`)
	lotDomainRE       = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
	fallbackWordRE    = regexp.MustCompile(`^[A-Za-z0-9_.+*#-]+$`)
	printablePlainRE  = regexp.MustCompile(`^[!-~]{1,80}$`) // printable ASCII, no space
	recallPlaceholder = map[string]bool{
		"lot": true, "slot": true, "caller_name": true, "caller_number": true, "parker": true, "domain": true,
	}
)

// Validate checks every value, parses each lot's Slots into First and Last,
// and returns every problem found joined with errors.Join, or nil. Each
// problem is an *Error naming its key.
func (c *Config) Validate() error {
	return c.validate().err("")
}

// validate returns the problems in c, filling in each lot's First and Last.
func (c *Config) validate() problems {
	var p problems
	if esl.ValidateInstance(c.Instance) != nil { // esl writes it on channels: its rule
		p.addf("instance", "%s: must be 1 to %d characters from A-Z, a-z, 0-9, . _ and -", quote(c.Instance), MaxInstanceLen)
	}
	c.ESL.validate(&p)
	c.Store.validate(&p)
	if c.Store.Keep != 0 && c.Store.Keep < MinKeep {
		p.addf("store.keep", "%s: must be at least one day (\"1d\"), or \"\" to keep everything", c.Store.Keep)
	}
	p.oneOf("log.level", c.Log.Level, "one of debug, info, warn, error", "debug", "info", "warn", "error")
	p.oneOf("log.format", c.Log.Format, "json or console", "json", "console")
	c.BLF.validate(&p)
	c.validateLots(&p)
	c.HTTP.validate(&p, c.Lots)
	c.validateWebhooks(&p)
	c.validateHA(&p)
	c.validateNodes(&p)
	return p
}

// validate records the problems in s. The DSN, which may hold a password,
// is never quoted.
func (s Store) validate(p *problems) {
	switch s.Driver {
	case "sqlite":
		switch {
		case s.Path == "":
			p.addf("store.path", "must not be empty")
		case strings.ContainsRune(s.Path, 0):
			p.addf("store.path", "%s: must not contain a NUL byte", quote(s.Path))
		}
		if s.DSN != "" {
			p.addf("store.dsn", `is for driver = "postgres"; driver "sqlite" uses store.path`)
		}
	case "postgres":
		switch {
		case strings.TrimSpace(s.DSN) == "":
			p.addf("store.dsn", `must name the PostgreSQL database with driver = "postgres", e.g. "host=db1 dbname=parkd user=parkd"`)
		case strings.ContainsFunc(s.DSN, unicode.IsControl):
			p.addf("store.dsn", "must not contain control characters such as line breaks")
		}
	default:
		p.addf("store.driver", `%s: must be "sqlite" or "postgres"`, quote(s.Driver))
	}
}

// validate records the problems in e. The password is never quoted.
func (e ESL) validate(p *problems) {
	p.hostPort("esl.listen", e.Listen)
	p.hostPort("esl.freeswitch", e.FreeSWITCH)
	switch {
	case e.Password == "":
		p.addf("esl.password", "must not be empty")
	case strings.ContainsFunc(e.Password, unicode.IsControl):
		p.addf("esl.password", "must not contain control characters such as line breaks")
	}
	if len(e.Allow) == 0 {
		p.addf("esl.allow", "must list at least one CIDR prefix (an empty list refuses every connection)")
	}
	for i, s := range e.Allow {
		if _, err := netip.ParsePrefix(s); err != nil {
			p.addf(fmt.Sprintf("esl.allow[%d]", i), "%s: not a CIDR prefix", quote(s))
		}
	}
	if e.CommandTimeout <= 0 {
		p.addf("esl.command_timeout", "%q: must be greater than 0", e.CommandTimeout)
	} else {
		p.between("esl.command_timeout", e.CommandTimeout, 0, MaxCommandTimeout)
	}
}

// validateLots records the problems of each lot and between lots.
func (c *Config) validateLots(p *problems) {
	if len(c.Lots) == 0 {
		p.addf("lot", "at least one [[lot]] is required")
		return
	}
	byName := make(map[lotID]int, len(c.Lots))
	var codes []code // the valid park and retrieve codes, in file order
	for i := range c.Lots {
		l := &c.Lots[i]
		key := fmt.Sprintf("lot[%d]", i)
		if l.Domain != "" {
			p.match(key+".domain", l.Domain, lotDomainRE,
				`must be a host name in lower case: letters, digits, . and - (or "" for a lot without a tenant)`)
		}
		if p.match(key+".name", l.Name, lotNameRE,
			"must be 1 to 32 characters from a-z, 0-9, _ and -, starting with a letter or digit") {
			if j, dup := byName[lotID{l.Domain, l.Name}]; dup {
				in := ""
				if l.Domain != "" {
					in = " in domain " + quote(l.Domain)
				}
				p.addf(key+".name", "%s: duplicate lot name%s (also lot[%d])", quote(l.Name), in, j)
			} else {
				byName[lotID{l.Domain, l.Name}] = i
			}
		}

		var msg string
		if l.First, l.Last, msg = parseSlots(l.Slots); msg != "" {
			p.addf(key+".slots", "%s: %s", quote(l.Slots), msg)
		}

		switch {
		case l.Music == "":
			p.addf(key+".music", "must not be empty")
		case len(l.Music) > MaxMusicLen:
			p.addf(key+".music", "%s: longer than %d bytes", quote(l.Music), MaxMusicLen)
		case !musicRE.MatchString(l.Music):
			p.addf(key+".music", "%s: may contain only letters, digits and _ . / : @ %% + = ~ - (no spaces, commas, quotes, braces or $)", quote(l.Music))
		}

		p.between(key+".timeout", l.Timeout, MinLotTimeout, MaxLotTimeout)
		switch {
		case l.WarnAfter < 0:
			p.addf(key+".warn_after", "%q: must not be negative (0 or absent: half the timeout)", l.WarnAfter)
		case l.WarnAfter > 0 && l.WarnAfter >= l.Timeout:
			p.addf(key+".warn_after", "%q: must be less than the timeout (%q), which turns the waiting time red", l.WarnAfter, l.Timeout)
		}
		if l.OnFull != "reject" && !strings.HasPrefix(l.OnFull, overflowPrefix) {
			p.addf(key+".on_full", `%s: must be "reject" or "overflow:<lot name>"`, quote(l.OnFull))
		}
		p.oneOf(key+".on_occupied", l.OnOccupied, `"reject" or "next"`, "reject", "next")
		for _, cd := range []code{{key: key + ".park_code", value: l.ParkCode}, {key: key + ".retrieve_code", value: l.RetrieveCode}} {
			if p.match(cd.key, cd.value, codeRE, codeHelp) {
				cd.domain = l.Domain
				codes = append(codes, cd)
			}
		}
		l.Recall.validate(p, key+".recall")
		if l.Domain != "" && l.Recall.Domain != "" && l.Recall.Domain != l.Domain {
			p.addf(key+".recall.domain", "%s: a lot of domain %s recalls in it: leave recall.domain out or repeat the lot's domain", quote(l.Recall.Domain), quote(l.Domain))
		}
		validateFallback(p, key+".fallback", l.Fallback)
		l.validateBLF(p, key)
		l.Outside.validate(p, key+".outside")
	}
	c.validateOutsideNumbers(p)
	c.validateOverflow(p, byName)
	c.validateOverlap(p)
	validateCodes(p, codes)
	c.validateBLFKeys(p)
}

// parseSlots parses "first-last" or a single slot number. It returns a
// non-empty msg describing the problem, and 0, 0, if s is not a valid range.
func parseSlots(s string) (first, last int, msg string) {
	m := slotsRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, `must be "first-last" or a single slot, such as "701-720" or "701"`
	}
	if m[2] == "" {
		m[2] = m[1]
	}
	for _, d := range m[1:] {
		switch {
		case len(d) > MaxSlotDigits:
			return 0, 0, fmt.Sprintf("slot numbers have at most %d digits", MaxSlotDigits)
		case len(d) > 1 && d[0] == '0':
			return 0, 0, "slot numbers must not have leading zeros"
		case d == "0":
			return 0, 0, "slot numbers start at 1"
		}
	}
	first, _ = strconv.Atoi(m[1]) // at most MaxSlotDigits digits: cannot fail
	last, _ = strconv.Atoi(m[2])
	switch {
	case first > last:
		return 0, 0, "first slot is greater than last slot"
	case last-first+1 > MaxSlots:
		return 0, 0, fmt.Sprintf("%d slots is more than the limit of %d", last-first+1, MaxSlots)
	}
	return first, last, ""
}

// lotID identifies a lot: its name within its domain.
type lotID struct{ domain, name string }

// validateOverflow checks that every overflow target names another existing
// lot of the same domain and that following overflow links never loops.
// byName maps each valid, unique lot to its index.
func (c *Config) validateOverflow(p *problems, byName map[lotID]int) {
	next := make([]int, len(c.Lots)) // index of the overflow lot, or -1
	for i, l := range c.Lots {
		next[i] = -1
		if !strings.HasPrefix(l.OnFull, overflowPrefix) {
			continue
		}
		key := fmt.Sprintf("lot[%d].on_full", i)
		target := l.OverflowLot()
		j, ok := byName[lotID{l.Domain, target}]
		switch {
		case target == "":
			p.addf(key, "%s: missing lot name after %q", quote(l.OnFull), overflowPrefix)
		case target == l.Name:
			p.addf(key, "%s: a lot cannot overflow to itself", quote(l.OnFull))
		case !ok && l.Domain != "":
			p.addf(key, "%s: no lot named %s in domain %s", quote(l.OnFull), quote(target), quote(l.Domain))
		case !ok:
			p.addf(key, "%s: no lot named %s", quote(l.OnFull), quote(target))
		default:
			next[i] = j
		}
	}

	// Report each loop once, on the lot with the lowest index in it: follow
	// the links from i through higher indexes only, at most once round.
	for i, l := range c.Lots {
		path, j := []string{l.Name}, next[i]
		for steps := 0; j > i && steps < len(c.Lots); steps++ {
			path, j = append(path, c.Lots[j].Name), next[j]
		}
		if j == i {
			p.addf(fmt.Sprintf("lot[%d].on_full", i), "%s: overflow loops: %s", quote(l.OnFull), strings.Join(append(path, l.Name), " -> "))
		}
	}
}

// validateOverlap checks that no slot belongs to two lots of one domain
// (domains may repeat slot numbers). It uses the First and Last already
// parsed; lots whose Slots are invalid (First 0) are skipped.
func (c *Config) validateOverlap(p *problems) {
	for j, b := range c.Lots {
		for i, a := range c.Lots[:j] {
			if a.Domain == b.Domain && a.First > 0 && b.First > 0 && a.First <= b.Last && b.First <= a.Last {
				p.addf(fmt.Sprintf("lot[%d].slots", j), "%s: overlaps lot[%d] %s (%s)", quote(b.Slots), i, quote(a.Name), a.Slots)
			}
		}
	}
}

// code is a park or retrieve code, its key and its lot's domain.
type code struct{ key, value, domain string }

// validateCodes checks that the valid codes of each domain, in file order,
// are distinct and that none is a prefix of another, as the dialplan
// matches ^<code>(\d*)$. Each domain's codes are in a dialplan context of
// their own (fsconf), so they may repeat across domains.
func validateCodes(p *problems, codes []code) {
	for i, cd := range codes {
		for _, prev := range codes[:i] {
			switch {
			case cd.domain != prev.domain:
			case cd.value == prev.value:
				p.addf(cd.key, "%s: same code as %s", quote(cd.value), prev.key)
			case strings.HasPrefix(cd.value, prev.value):
				p.addf(cd.key, "%s: starts with %s %s, so the dialplan cannot tell them apart", quote(cd.value), prev.key, quote(prev.value))
			case strings.HasPrefix(prev.value, cd.value):
				p.addf(cd.key, "%s: is a prefix of %s %s, so the dialplan cannot tell them apart", quote(cd.value), prev.key, quote(prev.value))
			}
		}
	}
}

// validate records the problems in r, a lot's [lot.recall] table whose key
// path is key. Every key is checked, even when recall is off, so that
// turning it on later cannot break the file.
func (r Recall) validate(p *problems, key string) {
	// dial: a FreeSWITCH dial string, pasted into an originate command.
	if lit, ok := p.template(key+".dial", r.Dial, DefaultRecallDial); ok && !dialLiteralRE.MatchString(lit) {
		p.addf(key+".dial", "%s: may contain only letters, digits, _ . / @ : + * # = %% - and placeholders (no spaces, commas, quotes, brackets or $)", quote(r.Dial))
	}

	if r.Domain != "" {
		p.match(key+".domain", r.Domain, domainRE,
			`must be a host name of 1 to 253 letters, digits, . and - (or "" for the parker's own domain)`)
	}

	// alert_info: sent verbatim as a channel variable of the originate.
	switch a := r.AlertInfo; {
	case a == "":
		p.addf(key+".alert_info", "must not be empty (the default is %q)", DefaultRecallAlertInfo)
	case len(a) > MaxAlertInfoLen:
		p.addf(key+".alert_info", "%s: longer than %d bytes", quote(a), MaxAlertInfoLen)
	case hasSpaceOrControl(a):
		p.addf(key+".alert_info", "%s: must not contain spaces or control characters", quote(a))
	case firstOf(a, alertInfoSpecials) != "":
		p.addf(key+".alert_info", "%s: must not contain %s: FreeSWITCH would split or mangle the value there (leave out ' \" { } [ ] ^ \\ ,)", quote(a), firstOf(a, alertInfoSpecials))
	}

	// caller_id_name: FreeSWITCH parses the name like a SIP display name.
	if lit, ok := p.template(key+".caller_id_name", r.CallerIDName, DefaultRecallCallerIDName); ok {
		name := quote(r.CallerIDName)
		switch {
		case strings.ContainsFunc(lit, unicode.IsControl):
			p.addf(key+".caller_id_name", "%s: must not contain control characters such as line breaks", name)
		case firstOf(lit, ":/@") != "":
			p.addf(key+".caller_id_name", "%s: FreeSWITCH would cut the name at %s and the phone would show only what follows (write it without : / @)", name, firstOf(lit, ":/@"))
		case firstOf(lit, callerIDNameSpecials) != "":
			p.addf(key+".caller_id_name", "%s: must not contain %s: FreeSWITCH would split or mangle the name there (leave out ' \" [ ] ^ \\ , ;)", name, firstOf(lit, callerIDNameSpecials))
		case len(r.CallerIDName) > MaxCallerIDNameLen:
			p.addf(key+".caller_id_name", "%s: longer than %d bytes", name, MaxCallerIDNameLen)
		}
	}

	if lit, ok := p.template(key+".caller_id_number", r.CallerIDNumber, DefaultRecallCallerIDNumber); ok && !numberLiteralRE.MatchString(lit) {
		p.addf(key+".caller_id_number", "%s: may contain only digits, + * # and placeholders such as {slot}", quote(r.CallerIDNumber))
	}

	p.between(key+".ring_for", r.RingFor, MinRecallRingFor, MaxRecallRingFor)
	p.between(key+".retry_after", r.RetryAfter, MinRecallRetryAfter, MaxRecallRetryAfter)
	if n := r.Attempts; n < 1 || n > MaxRecallAttempts {
		p.addf(key+".attempts", "%d: must be from 1 to %d", n, MaxRecallAttempts)
	}
}

// template checks the recall template tmpl, the value of key, and returns
// its text outside the placeholders. It records a problem and returns false
// if tmpl is empty (def is the default), a placeholder is unknown or a brace
// has no partner.
func (p *problems) template(key, tmpl, def string) (lit string, ok bool) {
	if tmpl == "" {
		p.addf(key, "must not be empty (the default is %q)", def)
		return "", false
	}
	var b strings.Builder
	for rest := tmpl; ; {
		text, after, open := strings.Cut(rest, "{")
		if strings.Contains(text, "}") {
			p.addf(key, "%s: } without a matching { (placeholders are written like {slot})", quote(tmpl))
			return "", false
		}
		b.WriteString(text)
		if !open {
			return b.String(), true
		}
		name, after, closed := strings.Cut(after, "}")
		if !closed || strings.Contains(name, "{") {
			p.addf(key, "%s: { without a matching } (placeholders are written like {slot})", quote(tmpl))
			return "", false
		}
		if !recallPlaceholder[name] {
			p.addf(key, "unknown placeholder %s (use %s)", placeholderText(name), placeholderHelp)
			return "", false
		}
		rest = after
	}
}

// placeholderText renders an unknown placeholder for an error message:
// {name} as written when that is short, plain text, quoted otherwise.
func placeholderText(name string) string {
	s := "{" + name + "}"
	if printablePlainRE.MatchString(s) && !strings.Contains(s, `"`) {
		return s
	}
	return quote(s)
}

// validateFallback records a problem unless f is "" or a dialplan
// destination "extension [dialplan [context]]".
func validateFallback(p *problems, key, f string) {
	if f == "" {
		return
	}
	const syntax = `must be "extension [dialplan [context]]", such as "operator" or "9000 XML default"`
	words := strings.Split(f, " ")
	switch {
	case strings.TrimSpace(f) != f || strings.Contains(f, "  "):
		p.addf(key, "%s: %s, one space between words", quote(f), syntax)
		return
	case len(words) > maxFallbackWords:
		p.addf(key, "%s: %s: %d words is too many", quote(f), syntax, len(words))
		return
	}
	for _, w := range words {
		switch {
		case !fallbackWordRE.MatchString(w):
			p.addf(key, "%s: %s, each word only letters, digits and _ . + * # -", quote(f), syntax)
			return
		case len(w) > MaxFallbackWordLen:
			p.addf(key, "%s: each word is at most %d characters", quote(f), MaxFallbackWordLen)
			return
		}
	}
	// The second word is the dialplan: "9000 default" would send the call to
	// a dialplan named default, not to the context default, and fail only
	// when the recalls have run out.
	if len(words) >= 2 && !slices.Contains(dialplans, words[1]) {
		p.addf(key, "%s: %q is not a dialplan (%s); to name a context write %q",
			quote(f), words[1], strings.Join(dialplans, ", "), words[0]+" XML "+words[1])
	}
}

// dialplans are the dialplan modules a fallback may name.
var dialplans = []string{"XML", "inline", "enum", "asterisk", "lua", "yaml", "directory"}

// match records a problem, the quoted v followed by want, unless re matches
// v. It reports whether re matched.
func (p *problems) match(key, v string, re *regexp.Regexp, want string) bool {
	if re.MatchString(v) {
		return true
	}
	p.addf(key, "%s: %s", quote(v), want)
	return false
}

// oneOf records a problem unless v is one of allowed, which want lists.
func (p *problems) oneOf(key, v, want string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		p.addf(key, "%s: must be %s", quote(v), want)
	}
}

// between records a problem unless min <= d <= max.
func (p *problems) between(key string, d, min, max time.Duration) {
	switch {
	case d < min:
		p.addf(key, "%q: must be at least %s", d, min)
	case d > max:
		p.addf(key, "%q: must be at most %s", d, max)
	}
}

// hostPort records a problem unless s is host:port with a non-empty host and
// a numeric port from 1 to 65535.
func (p *problems) hostPort(key, s string) {
	host, port, err := net.SplitHostPort(s)
	switch {
	case s == "":
		p.addf(key, "must not be empty (want host:port)")
		return
	case hasSpaceOrControl(s):
		p.addf(key, "%s: must not contain spaces or control characters", quote(s))
		return
	case err != nil:
		p.addf(key, "%s: not host:port", quote(s))
		return
	}
	if host == "" {
		p.addf(key, "%s: missing host (write 0.0.0.0:PORT to mean every interface)", quote(s))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 || port[0] == '+' {
		p.addf(key, "%s: port must be a number from 1 to 65535", quote(s))
	}
}

// hasSpaceOrControl reports whether s contains a space or a control character.
func hasSpaceOrControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// firstOf returns the first byte of s that is one of chars, quoted like '"',
// or "" if there is none.
func firstOf(s, chars string) string {
	if i := strings.IndexAny(s, chars); i >= 0 {
		return strconv.QuoteRune(rune(s[i]))
	}
	return ""
}
