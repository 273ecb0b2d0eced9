package web

import (
	"net/http"
	"strconv"
	"sync"
	"unicode/utf8"
)

// /api/slots lists every parked call the user may see, a thousand at a
// busy desk, and boards ask every few seconds. encoding/json spent most of
// the answer's time reflecting over the same struct a thousand times and
// growing its buffer; these functions write exactly its bytes (the tests
// compare them) into a buffer kept between answers.

// writeSlots answers 200 with slots as JSON, as writeJSON would.
func writeSlots(w http.ResponseWriter, slots []slotJSON) {
	bp := slotsBufs.Get().(*[]byte)
	b := appendSlots((*bp)[:0], slots)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	if cap(b) <= maxKeptSlotsBuf {
		*bp = b
		slotsBufs.Put(bp)
	}
}

// maxKeptSlotsBuf: a buffer that grew past this (some 10,000 calls) is
// left to the collector rather than kept for the next answer.
const maxKeptSlotsBuf = 4 << 20

var slotsBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// appendSlots appends slots as encoding/json's Encoder writes them: the
// array, then a newline.
func appendSlots(b []byte, slots []slotJSON) []byte {
	b = append(b, '[')
	for i := range slots {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSlot(b, &slots[i])
	}
	return append(b, ']', '\n')
}

// appendSlot appends sj as encoding/json marshals a slotJSON: its fields
// in order, the omitempty ones left out when empty.
func appendSlot(b []byte, sj *slotJSON) []byte {
	b = append(b, `{"lot":`...)
	b = appendJSONString(b, sj.Lot)
	if sj.Domain != "" {
		b = append(b, `,"domain":`...)
		b = appendJSONString(b, sj.Domain)
	}
	b = append(b, `,"slot":`...)
	b = strconv.AppendInt(b, int64(sj.Slot), 10)
	b = append(b, `,"call":`...)
	b = appendJSONString(b, sj.Call)
	b = append(b, `,"caller_name":`...)
	b = appendJSONString(b, sj.CallerName)
	b = append(b, `,"caller_number":`...)
	b = appendJSONString(b, sj.CallerNumber)
	b = append(b, `,"parker":`...)
	b = appendJSONString(b, sj.Parker)
	b = append(b, `,"parked_at":`...)
	b = appendJSONString(b, sj.ParkedAt)
	b = append(b, `,"waiting_seconds":`...)
	b = strconv.AppendInt(b, sj.WaitingSeconds, 10)
	b = append(b, `,"state":`...)
	b = appendJSONString(b, sj.State)
	if sj.NextRecall != "" {
		b = append(b, `,"next_recall":`...)
		b = appendJSONString(b, sj.NextRecall)
	}
	b = append(b, `,"recall_attempts":`...)
	b = strconv.AppendInt(b, int64(sj.RecallAttempts), 10)
	b = append(b, `,"notes":`...)
	if sj.Notes == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, n := range sj.Notes {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"at":`...)
			b = appendJSONString(b, n.At)
			b = append(b, `,"text":`...)
			b = appendJSONString(b, n.Text)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if sj.Node != "" {
		b = append(b, `,"node":`...)
		b = appendJSONString(b, sj.Node)
	}
	if sj.Remote {
		b = append(b, `,"remote":true`...)
	}
	return append(b, '}')
}

// appendJSONString appends s as a JSON string the way encoding/json
// writes one: <, > and & escaped for HTML, U+2028 and U+2029 escaped for
// JavaScript, and each byte of invalid UTF-8 as U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
