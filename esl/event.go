package esl

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	gounsafe "unsafe"
)

// Event is a FreeSWITCH event as it arrives in a text/event-plain frame, with
// its header values URL-decoded.
type Event struct {
	Headers Headers
	Body    []byte
}

// Name returns the Event-Name header, e.g. CHANNEL_HANGUP_COMPLETE.
func (e Event) Name() string { return e.Headers.Get("Event-Name") }

// Get returns the decoded value of header name, or "".
func (e Event) Get(name string) string { return e.Headers.Get(name) }

// UniqueID returns the channel UUID the event is about.
func (e Event) UniqueID() string { return e.Headers.Get("Unique-ID") }

// Sequence returns Event-Sequence, or 0 when it is missing or not a number.
func (e Event) Sequence() uint64 {
	n, _ := strconv.ParseUint(e.Headers.Get("Event-Sequence"), 10, 64)
	return n
}

// ParseEvent decodes the body of a text/event-plain frame: a URL-encoded
// header block, optionally followed by its own Content-Length and body.
// It is parsed in place: one string for the whole body, which names and
// values are cut from (a value is copied only to decode a %XX escape).
func ParseEvent(body []byte) (Event, error) {
	return parseEventText(string(body))
}

// parseEventOwned is ParseEvent for a body nobody else holds and nobody
// will change: the Conn's reader allocates each frame's body afresh and
// hands it over. Its strings share the body's memory instead of a copy of
// it (an event with every channel variable is tens of KB, and a call's
// socket and the inbound connection read several per call).
func parseEventOwned(body []byte) (Event, error) {
	if len(body) == 0 {
		return parseEventText("")
	}
	return parseEventText(gounsafe.String(&body[0], len(body)))
}

// parseEventText parses an event's text; see ParseEvent.
func parseEventText(text string) (Event, error) {
	var (
		ev  Event
		pos int
	)
	for {
		if pos >= len(text) {
			if len(ev.Headers) == 0 {
				return Event{}, fmt.Errorf("parse event: %w", io.EOF)
			}
			return Event{}, fmt.Errorf("parse event: %w", io.ErrUnexpectedEOF)
		}
		i := strings.IndexByte(text[pos:], '\n')
		if i < 0 {
			return Event{}, fmt.Errorf("parse event: %w", io.ErrUnexpectedEOF)
		}
		line := strings.TrimSuffix(text[pos:pos+i], "\r")
		pos += i + 1
		if line == "" {
			if ev.Headers == nil {
				continue // blank lines before the block
			}
			break
		}
		if ev.Headers == nil {
			ev.Headers = make(Headers, 0, min(strings.Count(text[pos:], "\n")+1, DefaultLimits.MaxHeaders))
		}
		h, err := parseHeader(line)
		if err != nil {
			return Event{}, fmt.Errorf("parse event: %w", err)
		}
		if len(ev.Headers) >= DefaultLimits.MaxHeaders {
			return Event{}, fmt.Errorf("parse event: %w: more than %d headers", ErrFrameTooLarge, DefaultLimits.MaxHeaders)
		}
		ev.Headers = append(ev.Headers, h)
	}
	if cl, ok := ev.Headers.Lookup("Content-Length"); ok {
		n, err := parseContentLength(cl)
		if err != nil {
			return Event{}, fmt.Errorf("parse event: %w", err)
		}
		if n > len(text)-pos {
			return Event{}, fmt.Errorf("parse event: read body: %w", io.ErrUnexpectedEOF)
		}
		if n > 0 {
			ev.Body = []byte(text[pos : pos+n])
			// The inner Content-Length is the body's, not an event header.
			hs := ev.Headers[:0]
			for _, h := range ev.Headers {
				if h.Name != "Content-Length" {
					hs = append(hs, h)
				}
			}
			ev.Headers = hs
		}
	}
	decodeValues(ev.Headers)
	return ev, nil
}

// decodeValues URL-decodes the values of h in place, as URLDecode does
// each. The decoded values share one allocation, sized for them all (a
// value never grows when decoded), instead of one each: a connect reply
// or an event has a hundred or more escaped values. A value kept beyond
// its frame (ParseRequest's fields) must be copied, as it already is, so
// as not to hold the others.
func decodeValues(h Headers) {
	n := 0
	for i := range h {
		if strings.IndexByte(h[i].Value, '%') >= 0 {
			n += len(h[i].Value)
		}
	}
	if n == 0 {
		return
	}
	buf := make([]byte, 0, n)
	for i := range h {
		v := h[i].Value
		j := strings.IndexByte(v, '%')
		if j < 0 {
			continue
		}
		start := len(buf)
		buf = appendURLDecoded(buf, v, j)
		// Never empty (v holds a '%'), and buf never grows past n, so
		// the bytes behind this string are never written again.
		h[i].Value = gounsafe.String(&buf[start], len(buf)-start)
	}
}

// AppendPlain appends the event serialized as FreeSWITCH's
// switch_event_serialize does: each header URL-encoded on its own line, an
// empty value written as _undef_, then a blank line, or the body's
// Content-Length, a blank line and the raw body.
func (e Event) AppendPlain(b []byte) []byte {
	for _, h := range e.Headers {
		v := h.Value
		if v == "" {
			v = "_undef_"
		}
		b = append(b, h.Name...)
		b = append(b, ": "...)
		if needsEncode(v) {
			b = appendURLEncoded(b, v)
		} else {
			b = append(b, v...)
		}
		b = append(b, '\n')
	}
	if len(e.Body) > 0 {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(e.Body)), 10)
		b = append(b, "\n\n"...)
		return append(b, e.Body...)
	}
	return append(b, '\n')
}

// AppendEventFrame appends the text/event-plain frame of e to b: the bytes
// of AppendFrame(b, EventFrame(e)), built in one buffer. Simulators use it
// for every event they send.
func AppendEventFrame(b []byte, e Event) []byte {
	// The body is written after room for the frame's headers, which need
	// its length; they are then copied in just before it.
	const room = len("Content-Length: 18446744073709551615\nContent-Type: " + TypeEventPlain + "\n\n")
	size := room + len(e.Body) + 32
	for _, h := range e.Headers {
		size += len(h.Name) + len(h.Value) + 16
	}
	buf := make([]byte, room, size)
	buf = e.AppendPlain(buf)
	var head [room]byte
	hb := append(head[:0], "Content-Length: "...)
	hb = strconv.AppendInt(hb, int64(len(buf)-room), 10)
	hb = append(hb, "\nContent-Type: "+TypeEventPlain+"\n\n"...)
	start := room - len(hb)
	copy(buf[start:], hb)
	if b == nil {
		return buf[start:]
	}
	return append(b, buf[start:]...)
}

// EventFrame wraps an event in the text/event-plain frame FreeSWITCH sends
// to subscribers.
func EventFrame(e Event) Frame {
	body := e.AppendPlain(nil)
	return Frame{
		Headers: Headers{
			{Name: "Content-Length", Value: strconv.Itoa(len(body))},
			{Name: "Content-Type", Value: TypeEventPlain},
		},
		Body: body,
	}
}
