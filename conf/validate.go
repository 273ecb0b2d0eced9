package conf

import (
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// Limits enforced by Validate.
const (
	MaxCommandTimeout = 60 * time.Second
	MinLotTimeout     = time.Second
	MaxLotTimeout     = 24 * time.Hour
	MaxSlots          = 100000 // slots in one lot
	MaxSlotDigits     = 9
	MaxMusicLen       = 256 // bytes
)

const overflowPrefix = "overflow:"

var (
	lotNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	codeRE    = regexp.MustCompile(`^[*#]?[0-9]{1,8}$`)
	slotsRE   = regexp.MustCompile(`^([0-9]+)(?:-([0-9]+))?$`)
	musicRE   = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=~-]+$`)
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
	c.ESL.validate(&p)
	if c.Store.Path == "" {
		p.addf("store.path", "must not be empty")
	} else if strings.ContainsRune(c.Store.Path, 0) {
		p.addf("store.path", "%s: must not contain a NUL byte", quote(c.Store.Path))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		p.addf("log.level", "%s: must be one of debug, info, warn, error", quote(c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		p.addf("log.format", "%s: must be json or console", quote(c.Log.Format))
	}
	c.validateLots(&p)
	return p
}

// validate records the problems in e. The password is never quoted.
func (e ESL) validate(p *problems) {
	validateHostPort(p, "esl.listen", e.Listen)
	validateHostPort(p, "esl.freeswitch", e.FreeSWITCH)

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

	switch d := e.CommandTimeout; {
	case d <= 0:
		p.addf("esl.command_timeout", "%q: must be greater than 0", d)
	case d > MaxCommandTimeout:
		p.addf("esl.command_timeout", "%q: must be at most %s", d, MaxCommandTimeout)
	}
}

// validateHostPort records a problem unless s is host:port with a non-empty
// host and a numeric port from 1 to 65535.
func validateHostPort(p *problems, key, s string) {
	if s == "" {
		p.addf(key, "must not be empty (want host:port)")
		return
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		p.addf(key, "%s: must not contain spaces or control characters", quote(s))
		return
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
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

// validateLots records the problems of each lot and between lots.
func (c *Config) validateLots(p *problems) {
	if len(c.Lots) == 0 {
		p.addf("lot", "at least one [[lot]] is required")
		return
	}
	byName := make(map[string]int, len(c.Lots))
	for i := range c.Lots {
		l := &c.Lots[i]
		key := fmt.Sprintf("lot[%d]", i)
		l.First, l.Last = 0, 0

		if !lotNameRE.MatchString(l.Name) {
			p.addf(key+".name", "%s: must be 1 to 32 characters from a-z, 0-9, _ and -, starting with a letter or digit", quote(l.Name))
		} else if j, dup := byName[l.Name]; dup {
			p.addf(key+".name", "%s: duplicate lot name (also lot[%d])", quote(l.Name), j)
		} else {
			byName[l.Name] = i
		}

		if first, last, msg := parseSlots(l.Slots); msg != "" {
			p.addf(key+".slots", "%s: %s", quote(l.Slots), msg)
		} else {
			l.First, l.Last = first, last
		}

		switch {
		case l.Music == "":
			p.addf(key+".music", "must not be empty")
		case len(l.Music) > MaxMusicLen:
			p.addf(key+".music", "%s: longer than %d bytes", quote(l.Music), MaxMusicLen)
		case !musicRE.MatchString(l.Music):
			p.addf(key+".music", "%s: may contain only letters, digits and _ . / : @ %% + = ~ - (no spaces, commas, quotes, braces or $)", quote(l.Music))
		}

		switch d := l.Timeout; {
		case d < MinLotTimeout:
			p.addf(key+".timeout", "%q: must be at least %s", d, MinLotTimeout)
		case d > MaxLotTimeout:
			p.addf(key+".timeout", "%q: must be at most %s", d, MaxLotTimeout)
		}

		if l.OnFull != "reject" && !strings.HasPrefix(l.OnFull, overflowPrefix) {
			p.addf(key+".on_full", `%s: must be "reject" or "overflow:<lot name>"`, quote(l.OnFull))
		}
		switch l.OnOccupied {
		case "reject", "next":
		default:
			p.addf(key+".on_occupied", `%s: must be "reject" or "next"`, quote(l.OnOccupied))
		}

		for _, code := range []struct{ field, value string }{
			{"park_code", l.ParkCode},
			{"retrieve_code", l.RetrieveCode},
		} {
			if !codeRE.MatchString(code.value) {
				p.addf(key+"."+code.field, "%s: must be 1 to 8 digits, optionally after * or #", quote(code.value))
			}
		}
	}
	c.validateOverflow(p, byName)
	c.validateOverlap(p)
	c.validateCodes(p)
}

// parseSlots parses "first-last" or a single slot number. It returns a
// non-empty msg describing the problem if s is not a valid range.
func parseSlots(s string) (first, last int, msg string) {
	m := slotsRE.FindStringSubmatch(s)
	if m == nil {
		return 0, 0, `must be "first-last" or a single slot, such as "701-720" or "701"`
	}
	if m[2] == "" {
		m[2] = m[1]
	}
	nums := [2]int{}
	for i, d := range m[1:] {
		switch {
		case len(d) > MaxSlotDigits:
			return 0, 0, fmt.Sprintf("slot numbers have at most %d digits", MaxSlotDigits)
		case len(d) > 1 && d[0] == '0':
			return 0, 0, "slot numbers must not have leading zeros"
		}
		n, err := strconv.Atoi(d)
		if err != nil {
			return 0, 0, "slot numbers must be positive integers"
		}
		if n < 1 {
			return 0, 0, "slot numbers start at 1"
		}
		nums[i] = n
	}
	first, last = nums[0], nums[1]
	switch {
	case first > last:
		return 0, 0, "first slot is greater than last slot"
	case last-first+1 > MaxSlots:
		return 0, 0, fmt.Sprintf("%d slots is more than the limit of %d", last-first+1, MaxSlots)
	}
	return first, last, ""
}

// validateOverflow checks that every overflow target names another existing
// lot and that following overflow links never loops. byName maps each valid,
// unique lot name to its index.
func (c *Config) validateOverflow(p *problems, byName map[string]int) {
	next := make([]int, len(c.Lots)) // index of the overflow lot, or -1
	for i, l := range c.Lots {
		next[i] = -1
		if !strings.HasPrefix(l.OnFull, overflowPrefix) {
			continue
		}
		key := fmt.Sprintf("lot[%d].on_full", i)
		target := l.OverflowLot()
		j, ok := byName[target]
		switch {
		case target == "":
			p.addf(key, "%s: missing lot name after %q", quote(l.OnFull), overflowPrefix)
		case target == l.Name:
			p.addf(key, "%s: a lot cannot overflow to itself", quote(l.OnFull))
		case !ok:
			p.addf(key, "%s: no lot named %s", quote(l.OnFull), quote(target))
		default:
			next[i] = j
		}
	}

	// Report each loop once, on the lot with the lowest index in it.
	for i := range c.Lots {
		path := []string{c.Lots[i].Name}
		seen := map[int]bool{i: true}
		loop, lowest := false, true
		for j := next[i]; j >= 0; j = next[j] {
			path = append(path, c.Lots[j].Name)
			if j == i {
				loop = true
				break
			}
			if seen[j] {
				break // a loop that does not include i
			}
			seen[j] = true
			if j < i {
				lowest = false
			}
		}
		if loop && lowest {
			p.addf(fmt.Sprintf("lot[%d].on_full", i), "%s: overflow loops: %s", quote(c.Lots[i].OnFull), strings.Join(path, " -> "))
		}
	}
}

// validateOverlap checks that no slot belongs to two lots. It uses the First
// and Last already parsed; lots whose Slots are invalid are skipped.
func (c *Config) validateOverlap(p *problems) {
	for j, b := range c.Lots {
		if b.First == 0 {
			continue
		}
		for i, a := range c.Lots[:j] {
			if a.First == 0 {
				continue
			}
			if a.First <= b.Last && b.First <= a.Last {
				p.addf(fmt.Sprintf("lot[%d].slots", j), "%s: overlaps lot[%d] %s (%s)", quote(b.Slots), i, quote(a.Name), a.Slots)
			}
		}
	}
}

// validateCodes checks that every park and retrieve code is distinct and that
// none is a prefix of another, as the dialplan matches ^<code>(\d*)$.
func (c *Config) validateCodes(p *problems) {
	type code struct{ key, value string }
	var codes []code
	for i, l := range c.Lots {
		for _, cd := range []code{
			{fmt.Sprintf("lot[%d].park_code", i), l.ParkCode},
			{fmt.Sprintf("lot[%d].retrieve_code", i), l.RetrieveCode},
		} {
			if !codeRE.MatchString(cd.value) {
				continue // already reported
			}
			for _, prev := range codes {
				switch {
				case cd.value == prev.value:
					p.addf(cd.key, "%s: same code as %s", quote(cd.value), prev.key)
				case strings.HasPrefix(cd.value, prev.value):
					p.addf(cd.key, "%s: starts with %s %s, so the dialplan cannot tell them apart", quote(cd.value), prev.key, quote(prev.value))
				case strings.HasPrefix(prev.value, cd.value):
					p.addf(cd.key, "%s: is a prefix of %s %s, so the dialplan cannot tell them apart", quote(cd.value), prev.key, quote(prev.value))
				}
			}
			codes = append(codes, cd)
		}
	}
}
