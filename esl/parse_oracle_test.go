package esl

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// refReadFrame is the line-at-a-time frame reader the Reader replaced,
// kept as the reference the fuzzers hold the Reader and ParseEvent to.
func refReadFrame(br *bufio.Reader, l Limits) (Frame, error) {
	var f Frame
	total, begun := 0, false
	for {
		line, err := refReadLine(br, &total, l)
		if err != nil {
			if begun && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return Frame{}, err
		}
		if line == "" {
			if !begun {
				continue
			}
			break
		}
		begun = true
		name, value, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			return Frame{}, ErrMalformedFrame
		}
		if len(f.Headers) >= l.MaxHeaders {
			return Frame{}, ErrFrameTooLarge
		}
		f.Headers = append(f.Headers, Header{Name: name, Value: strings.TrimLeft(value, " ")})
	}
	cl, ok := f.Headers.Lookup("Content-Length")
	if !ok {
		return f, nil
	}
	n, err := strconv.Atoi(strings.TrimSpace(cl))
	if err != nil || n < 0 {
		return Frame{}, ErrMalformedFrame
	}
	max := l.MaxBody
	if l.MaxAPIBody > max && f.Headers.Get("Content-Type") == TypeAPIResponse {
		max = l.MaxAPIBody
	}
	if n > max {
		return Frame{}, ErrFrameTooLarge
	}
	if n == 0 {
		return f, nil
	}
	f.Body = make([]byte, n)
	if _, err := io.ReadFull(br, f.Body); err != nil {
		return Frame{}, io.ErrUnexpectedEOF
	}
	return f, nil
}

func refReadLine(br *bufio.Reader, total *int, l Limits) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		*total += len(chunk)
		if *total > l.MaxHeaderBytes {
			return "", ErrFrameTooLarge
		}
		buf = append(buf, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(buf) > 0 && errors.Is(err, io.EOF) {
			return "", io.ErrUnexpectedEOF
		}
		return "", err
	}
	buf = bytes.TrimSuffix(buf, []byte("\n"))
	buf = bytes.TrimSuffix(buf, []byte("\r"))
	return string(buf), nil
}

// refParseEvent is the ParseEvent the in-place one replaced.
func refParseEvent(body []byte) (Event, error) {
	f, err := refReadFrame(bufio.NewReader(bytes.NewReader(body)),
		Limits{MaxHeaderBytes: len(body) + 1, MaxHeaders: DefaultLimits.MaxHeaders, MaxBody: len(body)})
	if err != nil {
		return Event{}, err
	}
	ev := Event{Body: f.Body}
	for _, h := range f.Headers {
		if h.Name == "Content-Length" && f.Body != nil {
			continue
		}
		ev.Headers = append(ev.Headers, Header{Name: h.Name, Value: URLDecode(h.Value)})
	}
	return ev, nil
}

// sameEvent compares events, an empty header list and nil alike.
func sameEvent(a, b Event) bool {
	return len(a.Headers) == len(b.Headers) && (len(a.Headers) == 0 || reflect.DeepEqual(a.Headers, b.Headers)) &&
		bytes.Equal(a.Body, b.Body)
}

// FuzzParseEventOracle: ParseEvent accepts exactly what the reference
// accepts and decodes it to the same event.
func FuzzParseEventOracle(f *testing.F) {
	f.Add([]byte("Event-Name: CHANNEL_ANSWER\nUnique-ID: a%20b\n\n"))
	f.Add([]byte("\n\r\nEvent-Name: BACKGROUND_JOB\r\nContent-Length: 4\n\n+OK\nrest"))
	f.Add([]byte("Event-Name: X\nContent-Length: 9\n\nshort"))
	f.Add([]byte("Event-Name: X\nno colon\n\n"))
	f.Add([]byte("Event-Name: X"))
	f.Fuzz(func(t *testing.T, body []byte) {
		got, err := ParseEvent(body)
		want, werr := refParseEvent(body)
		if (err == nil) != (werr == nil) {
			t.Fatalf("ParseEvent(%q): err %v, reference err %v", body, err, werr)
		}
		if err == nil && !sameEvent(got, want) {
			t.Fatalf("ParseEvent(%q):\n%+v\nreference\n%+v", body, got, want)
		}
	})
}

// FuzzReaderOracle: the block-at-a-time Reader reads the same frames as
// the reference, and fails where it fails, with a buffer small enough
// that long lines come in pieces.
func FuzzReaderOracle(f *testing.F) {
	f.Add([]byte("Content-Type: api/response\r\nContent-Length: 4\n\n+OK\n\n\nA: b\n\n"))
	f.Add([]byte("A: " + strings.Repeat("x", 100) + "\nB:\n\nC: d"))
	f.Add([]byte("Content-Type: api/response\nContent-Length: 600\n\n" + strings.Repeat("y", 600) + "Content-Type: text/event-plain\nContent-Length: 300\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := Limits{MaxHeaderBytes: 256, MaxHeaders: 8, MaxBody: 256, MaxAPIBody: 1024}
		r := newReaderSize(bytes.NewReader(data), l, 16)
		ref := bufio.NewReaderSize(bytes.NewReader(data), 16)
		for i := 0; i < 50; i++ {
			got, err := r.ReadFrame()
			want, werr := refReadFrame(ref, l)
			if (err == nil) != (werr == nil) {
				t.Fatalf("frame %d of %q: err %v, reference err %v", i, data, err, werr)
			}
			if err != nil {
				return
			}
			if !reflect.DeepEqual(got.Headers, want.Headers) || !bytes.Equal(got.Body, want.Body) {
				t.Fatalf("frame %d of %q:\n%+v\nreference\n%+v", i, data, got, want)
			}
		}
	})
}
