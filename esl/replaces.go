package esl

import (
	"net/url"
	"strings"
)

// MaxCallIDLen bounds a SIP Call-ID parkd keeps (a dialog's name). Phones
// send 20 to 80 characters; anything longer is not a Call-ID worth keeping.
const MaxCallIDLen = 256

// ValidCallID reports whether s is a SIP Call-ID as RFC 3261 spells it
// (callid = word ["@" word]), at most MaxCallIDLen bytes. Call-IDs are only
// compared, never spliced into a FreeSWITCH command; the check keeps
// garbage and control characters out of parkd's state and logs.
func ValidCallID(s string) bool {
	if s == "" || len(s) > MaxCallIDLen {
		return false
	}
	at := false
	word := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '@':
			if at || word == 0 {
				return false
			}
			at, word = true, 0
			continue
		case !callIDWordByte(c):
			return false
		}
		word++
	}
	return word > 0
}

// callIDWordByte: RFC 3261's word characters.
func callIDWordByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("-.!%*_+`'~()<>:\\\"/[]?{}", c) >= 0
}

// callID returns v if it is a valid Call-ID, else "".
func callID(v string) string {
	if ValidCallID(v) {
		return v
	}
	return ""
}

// ReplacesCallID returns the Call-ID of the Replaces header carried in a
// Refer-To URI (variable_sip_refer_to, already URL-decoded from the event),
// e.g. `<sip:*70@pbx?Replaces=a84b4c76e66710%40pc33.example.com%3Bto-tag%3D1234%3Bfrom-tag%3D5678>`:
// "a84b4c76e66710@pc33.example.com". Phones that do not escape the
// Replaces value (`?Replaces=id;to-tag=…`) are read too. It returns "" when
// there is no Replaces header or its Call-ID is not valid.
func ReplacesCallID(referTo string) string {
	v := referTo
	if i := strings.IndexByte(v, '<'); i >= 0 {
		v = v[i+1:]
		if j := strings.IndexByte(v, '>'); j >= 0 {
			v = v[:j]
		}
	}
	_, headers, ok := strings.Cut(v, "?")
	if !ok {
		return ""
	}
	for _, hv := range strings.Split(headers, "&") {
		name, value, ok := strings.Cut(hv, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "Replaces") {
			continue
		}
		dec, err := url.PathUnescape(value)
		if err != nil {
			return ""
		}
		id, _, _ := strings.Cut(dec, ";")
		return callID(strings.TrimSpace(id))
	}
	return ""
}
