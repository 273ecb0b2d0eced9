package conf

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/parkd/parkd/internal/passhash"
)

var (
	// outsideNumberRE is a DID or extension: digits with an optional
	// leading '+', as the dialplan's destination_number carries it.
	outsideNumberRE = regexp.MustCompile(`^\+?[0-9]{2,20}$`)
	// contextRE is a dialplan context name.
	contextRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	// promptRE is a media path play_and_get_digits can take as one
	// argument: it splits its arguments on spaces, and a '$' or braces
	// would be expanded as channel variables.
	promptRE = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=~(),;-]{1,256}$`)
)

const pinHashHelp = "make one with parkd pin"

// validateOutside records the problems of a lot's [lot.outside] table.
// Nothing is checked while it is off (no number) but the number itself.
func (o Outside) validate(p *problems, key string) {
	if !o.Enabled() {
		if o.PINHash != "" {
			p.addf(key+".number", "must be set when pin_hash is (the number outside calls arrive on, e.g. \"+15550199\")")
		}
		return
	}
	p.match(key+".number", o.Number, outsideNumberRE, `must be 2 to 20 digits with an optional leading "+", such as "+15550199"`)
	switch {
	case o.PINHash == "":
		p.addf(key+".pin_hash", "must be set: outside pick-up always asks for a PIN; %s", pinHashHelp)
	case !passhash.Valid(o.PINHash): // the hash is never quoted
		p.addf(key+".pin_hash", "not an argon2id or bcrypt hash; %s", pinHashHelp)
	}
	p.match(key+".context", o.Context, contextRE, "must be 1 to 64 characters from A-Z, a-z, 0-9 and _ . -")
	for _, pr := range []struct{ name, v string }{
		{"slot", o.Prompts.Slot}, {"pin", o.Prompts.PIN}, {"wrong_pin", o.Prompts.WrongPIN}, {"no_call", o.Prompts.NoCall},
	} {
		p.match(key+".prompts."+pr.name, pr.v, promptRE,
			"must be a media path of at most 256 characters without spaces, quotes, braces or $ (a sound file, or tone_stream://...)")
	}
	p.between(key+".digit_timeout", o.DigitTimeout, time.Second, time.Minute)
	if o.Reprompts < 1 || o.Reprompts > 10 {
		p.addf(key+".reprompts", "%d: must be 1 to 10", o.Reprompts)
	}
	l, lk := o.Lockout, key+".lockout"
	if l.Tries < 1 || l.Tries > 10 {
		p.addf(lk+".tries", "%d: must be 1 to 10 wrong PINs per call", l.Tries)
	}
	for _, c := range []struct {
		name     string
		failures int
		window   time.Duration
		lock     time.Duration
	}{{"number", l.NumberFailures, l.NumberWindow, l.NumberLock}, {"lot", l.LotFailures, l.LotWindow, l.LotLock}} {
		if c.failures < 1 || c.failures > 1000 {
			p.addf(fmt.Sprintf("%s.%s_failures", lk, c.name), "%d: must be 1 to 1000", c.failures)
		}
		p.between(fmt.Sprintf("%s.%s_window", lk, c.name), c.window, time.Minute, 7*24*time.Hour)
		p.between(fmt.Sprintf("%s.%s_lock", lk, c.name), c.lock, time.Minute, 7*24*time.Hour)
	}
}

// validateOutsideNumbers records two lots reached from outside on the same
// number in the same context: the dialplan could send the call to only one.
func (c *Config) validateOutsideNumbers(p *problems) {
	seen := map[string]int{}
	for i, l := range c.Lots {
		if !l.Outside.Enabled() {
			continue
		}
		k := l.Outside.Context + "\x00" + strings.TrimSpace(l.Outside.Number)
		if j, dup := seen[k]; dup {
			p.addf(fmt.Sprintf("lot[%d].outside.number", i), "%s: also the outside number of lot[%d] in context %s",
				quote(l.Outside.Number), j, quote(l.Outside.Context))
			continue
		}
		seen[k] = i
	}
}
