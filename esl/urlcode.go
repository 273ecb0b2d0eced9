package esl

import "strings"

// urlUnsafe is FreeSWITCH's SWITCH_URL_UNSAFE set: besides control and
// non-ASCII bytes, these are percent-encoded in serialized event headers.
const urlUnsafe = "\r\n #%&+:;<=>?@[\\]^`{|}\""

const upperHex = "0123456789ABCDEF"

// URLEncode encodes s the way FreeSWITCH's switch_url_encode does for event
// headers: bytes below 0x20, above '~' and in the unsafe set become %XX, but
// an existing %XX escape (upper-case hex) is left as it is.
func URLEncode(s string) string {
	if !needsEncode(s) {
		return s
	}
	return string(appendURLEncoded(make([]byte, 0, len(s)+16), s))
}

// appendURLEncoded appends URLEncode(s) to b.
func appendURLEncoded(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) && isUpperHex(s[i+1]) && isUpperHex(s[i+2]) {
			b = append(b, c)
			continue
		}
		if c < 0x20 || c > '~' || strings.IndexByte(urlUnsafe, c) >= 0 {
			b = append(b, '%', upperHex[c>>4], upperHex[c&15])
			continue
		}
		b = append(b, c)
	}
	return b
}

func needsEncode(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > '~' || strings.IndexByte(urlUnsafe, c) >= 0 {
			return true
		}
	}
	return false
}

func isUpperHex(c byte) bool { return ('0' <= c && c <= '9') || ('A' <= c && c <= 'F') }

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// URLDecode reverses URLEncode. Unlike net/url it never fails and leaves '+'
// alone, as switch_url_decode does: a '%' not followed by two hex digits is
// kept as it is.
func URLDecode(s string) string {
	i := strings.IndexByte(s, '%')
	if i < 0 {
		return s
	}
	return string(appendURLDecoded(make([]byte, 0, len(s)), s, i))
}

// appendURLDecoded appends URLDecode(s) to b; i is the index of the first
// '%' in s. It appends at most len(s) bytes.
func appendURLDecoded(b []byte, s string, i int) []byte {
	b = append(b, s[:i]...)
	for ; i < len(s); i++ {
		c := s[i]
		if c == '%' && i+2 < len(s) {
			hi, ok1 := unhex(s[i+1])
			lo, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 2
				continue
			}
		}
		b = append(b, c)
	}
	return b
}
