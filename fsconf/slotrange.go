package fsconf

import (
	"strconv"
	"strings"
)

// slotRangeRegex returns a regular expression alternation, without anchors
// or group, that matches exactly the decimal numbers first..last (no
// leading zeros), e.g. 701-720 gives `70[1-9]|71\d|720`. A lot's slot keys
// match only its own slots, so that lots whose keys share a prefix each
// get theirs. first must be at least 1 and last at least first.
func slotRangeRegex(first, last int) string {
	type piece struct {
		head     string // the leading digits
		from, to byte   // the digit class after head
		wild     int    // \d after the class
	}
	var pieces []piece
	for n := first; n <= last; {
		// The largest aligned block n..n+step-1 that fits in the range.
		step, wild := 1, 0
		for n%(step*10) == 0 && n+step*10-1 <= last {
			step *= 10
			wild++
		}
		s := strconv.Itoa(n)
		head, d := s[:len(s)-wild-1], s[len(s)-wild-1]
		if k := len(pieces) - 1; k >= 0 && pieces[k].head == head && pieces[k].wild == wild && pieces[k].to+1 == d {
			pieces[k].to = d
		} else {
			pieces = append(pieces, piece{head: head, from: d, to: d, wild: wild})
		}
		n += step
	}
	alts := make([]string, len(pieces))
	for i, p := range pieces {
		var b strings.Builder
		b.WriteString(p.head)
		switch {
		case p.from == '0' && p.to == '9':
			b.WriteString(`\d`)
		case p.from == p.to:
			b.WriteByte(p.from)
		default:
			b.WriteByte('[')
			b.WriteByte(p.from)
			b.WriteByte('-')
			b.WriteByte(p.to)
			b.WriteByte(']')
		}
		switch {
		case p.wild == 1:
			b.WriteString(`\d`)
		case p.wild > 1:
			b.WriteString(`\d{` + strconv.Itoa(p.wild) + `}`)
		}
		alts[i] = b.String()
	}
	return strings.Join(alts, "|")
}
