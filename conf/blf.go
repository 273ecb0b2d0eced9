package conf

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Busy-lamp (BLF) defaults and limits.
const (
	// DefaultBLFPrefix is the user part before a slot number or a lot key
	// that a phone's busy-lamp key subscribes to: park+201@<domain>.
	DefaultBLFPrefix = "park+"
	// MaxBLFPrefixLen bounds blf_prefix, in bytes.
	MaxBLFPrefixLen = 16

	// The values of a lot's blf_lot: what follows the prefix on the lot's
	// own key.
	BLFLotParkCode = "park_code" // park+*70 (the default)
	BLFLotName     = "name"      // park+<lot name>
	BLFLotOff      = "off"       // the lot has no key of its own
	DefaultBLFLot  = BLFLotParkCode
)

// BLF is the [blf] table: the phones' busy-lamp keys for slots and lots.
type BLF struct {
	// Enabled turns the keys on: parkd publishes their presence and
	// `parkd fsconf` writes the extensions that press them. Default false.
	Enabled bool `toml:"enabled"`
	// Domains are the SIP domains presence is published for. Empty (the
	// default) means the switch's own domain.
	Domains []string `toml:"domains"`
}

// blfPrefixRE: what a SIP user part and a dialplan regex can both carry
// plainly once + * . are escaped; no '@', no spaces.
var blfPrefixRE = regexp.MustCompile(`^[A-Za-z0-9+*#._-]{1,16}$`)

// LotKey returns the user part of the lot's own busy-lamp key, without the
// prefix: its park code, its name, or "" when blf_lot is "off". Call it on
// a validated lot.
func (l Lot) LotKey() string {
	switch l.BLFLot {
	case BLFLotName:
		return l.Name
	case BLFLotOff:
		return ""
	}
	return l.ParkCode
}

// validate records the problems of the [blf] table.
func (b BLF) validate(p *problems) {
	for i, d := range b.Domains {
		if !domainRE.MatchString(d) {
			p.addf(fmt.Sprintf("blf.domains[%d]", i), "%s: must be a host name (letters, digits, . and -)", quote(d))
		}
	}
}

// validateBLF records the problems of a lot's blf_prefix and blf_lot, whose
// key path is key.
func (l Lot) validateBLF(p *problems, key string) {
	if !blfPrefixRE.MatchString(l.BLFPrefix) {
		p.addf(key+".blf_prefix", "%s: must be 1 to %d characters from A-Z, a-z, 0-9 and + * # . _ - (no @)", quote(l.BLFPrefix), MaxBLFPrefixLen)
	}
	p.oneOf(key+".blf_lot", l.BLFLot, `"park_code", "name" or "off"`, BLFLotParkCode, BLFLotName, BLFLotOff)
}

// blfKeys are the busy-lamp keys of one lot: prefix+<slot> for each slot,
// and prefix+lotKey unless lotKey is "".
type blfKeys struct {
	prefix, lotKey string
	first, last    int
}

// ownsSlot reports whether x is one of k's slot keys: the prefix, then a
// slot number as the dialplan's (\d+) and parkd's parseSlot read it.
func (k blfKeys) ownsSlot(x string) bool {
	rest, ok := strings.CutPrefix(x, k.prefix)
	if !ok || rest == "" || len(rest) > MaxSlotDigits || rest[0] == '0' || strings.Trim(rest, "0123456789") != "" {
		return false
	}
	n, _ := strconv.Atoi(rest)
	return n >= k.first && n <= k.last
}

func (k blfKeys) owns(x string) bool {
	return k.ownsSlot(x) || (k.lotKey != "" && x == k.prefix+k.lotKey)
}

// collision returns a key that both a and b claim, or "". Slot ranges of
// lots with the same prefix are refused as overlapping elsewhere.
func collision(a, b blfKeys, same bool) string {
	if same {
		if a.lotKey != "" && a.ownsSlot(a.prefix+a.lotKey) {
			return a.prefix + a.lotKey
		}
		return ""
	}
	if b.lotKey != "" && a.owns(b.prefix+b.lotKey) {
		return b.prefix + b.lotKey
	}
	if a.lotKey != "" && b.owns(a.prefix+a.lotKey) {
		return a.prefix + a.lotKey
	}
	if a.prefix == b.prefix {
		return ""
	}
	if x := slotCollision(a, b); x != "" {
		return x
	}
	return slotCollision(b, a)
}

// slotCollision finds a slot key of b that is also a slot key of a, when
// a's prefix is a proper prefix of b's (b's prefix = a's + digits s): b's
// slot n is then a's slot s·10^d+n, with d the digits of n.
func slotCollision(a, b blfKeys) string {
	s, ok := strings.CutPrefix(b.prefix, a.prefix)
	if !ok || s == "" || s[0] == '0' || strings.Trim(s, "0123456789") != "" || len(s) >= MaxSlotDigits {
		return ""
	}
	base, _ := strconv.Atoi(s)
	pow := 1
	for d := 1; d+len(s) <= MaxSlotDigits; d++ {
		lo, hi := max(b.first, pow), min(b.last, pow*10-1)
		pow *= 10
		if lo > hi {
			continue
		}
		shifted := base * pow
		from, to := max(shifted+lo, a.first), min(shifted+hi, a.last)
		if from <= to {
			return a.prefix + strconv.Itoa(from)
		}
	}
	return ""
}

// validateBLFKeys checks that no busy-lamp key belongs to two lots, or is
// both a lot's key and a slot's: a phone's key could not say which it
// shows, nor the dialplan which it presses. Checked only with [blf]
// enabled, so that lots written before keys existed still load.
func (c *Config) validateBLFKeys(p *problems) {
	if !c.BLF.Enabled {
		return
	}
	keys := make([]blfKeys, len(c.Lots))
	for i, l := range c.Lots {
		keys[i] = blfKeys{prefix: l.BLFPrefix, lotKey: l.LotKey(), first: l.First, last: l.Last}
	}
	for j := range keys {
		for i := range keys[:j+1] {
			if keys[i].first == 0 || keys[j].first == 0 {
				continue // invalid slots, reported already
			}
			if !c.sameKeyDomain(c.Lots[i].Domain, c.Lots[j].Domain) {
				continue // each domain's keys are published in it alone
			}
			x := collision(keys[i], keys[j], i == j)
			if x == "" && c.Lots[i].Domain != c.Lots[j].Domain {
				// Slots of one prefix in two domains overlap only as
				// keys: validateOverlap compares one domain's lots.
				x = rangeCollision(keys[i], keys[j])
			}
			// Name the key that made it: the lot's own key, else the prefix.
			key := fmt.Sprintf("lot[%d].blf_prefix", j)
			if keys[j].lotKey != "" && x == keys[j].prefix+keys[j].lotKey {
				key = fmt.Sprintf("lot[%d].blf_lot", j)
			}
			switch {
			case x == "":
			case i == j:
				p.addf(key, "the lot's busy-lamp key %s is also one of its slots' keys", quote(x))
			default:
				p.addf(key, "busy-lamp key %s is also lot[%d] %s's", quote(x), i, quote(c.Lots[i].Name))
			}
		}
	}
}

// sameKeyDomain reports whether the keys of lots of domains a and b can
// meet in one SIP domain: the same domain, or a lot without a domain
// (published in blf.domains) and a domain lot whose domain is listed there.
func (c *Config) sameKeyDomain(a, b string) bool {
	switch {
	case a == b:
		return true
	case a == "":
		return slices.Contains(c.BLF.Domains, b)
	case b == "":
		return slices.Contains(c.BLF.Domains, a)
	}
	return false
}

// rangeCollision returns the first slot key of a and b, of one prefix,
// whose ranges overlap; "" if none.
func rangeCollision(a, b blfKeys) string {
	if a.prefix != b.prefix || a.first > b.last || b.first > a.last {
		return ""
	}
	return a.prefix + strconv.Itoa(max(a.first, b.first))
}
