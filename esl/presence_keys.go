package esl

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// LampKey is one lot's BLF keys: a key per slot, First to Last, whose
// subscription user is Prefix followed by the slot number ("park+701"),
// and, if LotKey is not empty, a key for the whole lot whose user is Prefix
// followed by LotKey ("park+70" or "park+sales").
//
// A lot with a Domain (a tenant's lot) has its keys in that domain only:
// they are published there and answer the probes of that domain, so two
// domains can each have a park+701. A lot without one has its keys in
// every domain Presence publishes in.
type LampKey struct {
	Lot         string
	Domain      string
	First, Last int
	Prefix      string
	LotKey      string
}

// LampKeys are the keys of every lot.
type LampKeys []LampKey

// ErrBadLampKeys: the BLF key configuration cannot be used.
var ErrBadLampKeys = errors.New("bad BLF keys")

// maxLampKeys bounds how many keys a configuration may define: each one is
// a map entry and, at every reconnect, one event per domain.
const maxLampKeys = 100000

// Prefixes and lot keys become the user part of a SIP URI and of the
// `from` header of a PRESENCE_IN event: no CR/LF, '@', space or quote can
// reach them (docs/freeswitch.md#presence).
var (
	prefixRE         = regexp.MustCompile(`^[A-Za-z0-9_.+*#-]{0,32}$`)
	lotKeyRE         = regexp.MustCompile(`^[A-Za-z0-9_.+*#-]{1,32}$`)
	presenceDomainRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)
)

// ValidDomain reports whether s may be used as the domain of a presence
// key: a host name or an IPv4 address.
func ValidDomain(s string) bool { return presenceDomainRE.MatchString(s) }

// lampTarget is what a key's subscription user names.
type lampTarget struct {
	domain, lot string // domain: "" for a lot without one
	slot        int    // 0: the lot's key
}

// userKey is how a subscription user is looked up: lowered, and for a
// domain's lot followed by @ and its domain.
func userKey(user, domain string) string {
	u := strings.ToLower(user)
	if domain != "" {
		u += "@" + strings.ToLower(domain)
	}
	return u
}

// ValidateLampKeys checks keys: lot names as conf allows them, each lot
// once, a slot range, prefixes and lot keys safe in an event header, and no
// user (prefix plus slot or lot key) claimed by two keys. Errors wrap
// ErrBadLampKeys.
func ValidateLampKeys(keys LampKeys) error {
	_, err := indexLampKeys(keys)
	return err
}

// indexLampKeys validates keys and maps every subscription user, lowered,
// to its slot or lot.
func indexLampKeys(keys LampKeys) (map[string]lampTarget, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadLampKeys, fmt.Sprintf(format, a...))
	}
	users := map[string]lampTarget{}
	lots := map[lampTarget]bool{}
	total := 0
	for _, k := range keys {
		switch {
		case !lotRE.MatchString(k.Lot):
			return nil, bad("lot name %q", clip(k.Lot))
		case k.Domain != "" && !ValidDomain(k.Domain):
			return nil, bad("lot %s: domain %q", k.Lot, clip(k.Domain))
		case lots[lampTarget{domain: strings.ToLower(k.Domain), lot: k.Lot}]:
			return nil, bad("lot %s listed twice", k.Lot)
		case k.First < 1 || k.Last < k.First:
			return nil, bad("lot %s: slot range %d-%d", k.Lot, k.First, k.Last)
		case !prefixRE.MatchString(k.Prefix):
			return nil, bad("lot %s: prefix %q (letters, digits and _.+*#- only)", k.Lot, clip(k.Prefix))
		case k.LotKey != "" && !lotKeyRE.MatchString(k.LotKey):
			return nil, bad("lot %s: lot key %q (letters, digits and _.+*#- only)", k.Lot, clip(k.LotKey))
		}
		lots[lampTarget{domain: strings.ToLower(k.Domain), lot: k.Lot}] = true
		total += k.Last - k.First + 1
		if total > maxLampKeys {
			return nil, bad("more than %d keys", maxLampKeys)
		}
		claim := func(user string, t lampTarget) error {
			u := userKey(user, k.Domain)
			if o, ok := users[u]; ok {
				return bad("key %s of lot %s is also a key of lot %s", user, t.lot, o.lot)
			}
			users[u] = t
			return nil
		}
		for s := k.First; s <= k.Last; s++ {
			if err := claim(k.Prefix+strconv.Itoa(s), lampTarget{strings.ToLower(k.Domain), k.Lot, s}); err != nil {
				return nil, err
			}
		}
		if k.LotKey != "" {
			if err := claim(k.Prefix+k.LotKey, lampTarget{strings.ToLower(k.Domain), k.Lot, 0}); err != nil {
				return nil, err
			}
		}
	}
	return users, nil
}

// maxCallerText caps a caller's name or number in a status text, in runes.
const maxCallerText = 48

// SanitizeCallerText makes caller-supplied text (a name or a number) fit
// for a lamp's status text, which FreeSWITCH copies into SIP NOTIFY bodies
// (XML) and which travels as an event header. It never refuses: control and
// format characters (bidi overrides, NUL) and invalid UTF-8 are dropped;
// line breaks and tabs become spaces; characters that mean something to a header, a URL-encoded value
// or XML (quotes, '<', '>', '&', '%', '\', ';') become spaces; runs of
// spaces collapse; the text is trimmed and capped at 48 runes. Unlike
// SafeCallerIDName it keeps ':', '/', '@' and ',', which do no harm here.
func SanitizeCallerText(s string) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range strings.ToValidUTF8(s, "") {
		switch {
		case unicode.IsSpace(r) || strings.ContainsRune(`'"<>&%\;`+"`", r):
			space = b.Len() > 0
			continue
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			continue
		}
		if n == maxCallerText {
			break
		}
		if space {
			if n+1 == maxCallerText {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}
