package esl

import (
	"bytes"
	"fmt"
	"strconv"
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
func ParseEvent(body []byte) (Event, error) {
	// The body is in memory: a buffer the size of the body (bufio's
	// minimum is 16 bytes) instead of a socket's.
	r := newReaderSize(bytes.NewReader(body), Limits{
		MaxHeaderBytes: len(body) + 1, MaxHeaders: DefaultLimits.MaxHeaders, MaxBody: len(body),
	}, max(len(body), 16))
	r.headers = bytes.Count(body, []byte("\n"))
	f, err := r.ReadFrame()
	if err != nil {
		return Event{}, fmt.Errorf("parse event: %w", err)
	}
	// Decode in place: f.Headers is ours alone.
	ev := Event{Headers: f.Headers[:0], Body: f.Body}
	for _, h := range f.Headers {
		if h.Name == "Content-Length" && f.Body != nil {
			continue // the inner body's length, not an event header
		}
		ev.Headers = append(ev.Headers, Header{Name: h.Name, Value: URLDecode(h.Value)})
	}
	return ev, nil
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
