package esl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// ErrProtocol: the peer broke the event-socket protocol (a malformed or
// oversized frame, a reply nobody asked for). It is the peer's fault, not a
// caller leaving: the connection is dropped and the violation logged at
// warn with the peer's address. Every error below wraps it.
var ErrProtocol = errors.New("ESL protocol violation")

// Errors of the wire codec. A connection that produced one is unusable:
// framing is lost, so the caller drops it. Both wrap ErrProtocol.
var (
	// ErrMalformedFrame: a header line, Content-Length or body that does not
	// follow the event-socket framing.
	ErrMalformedFrame = fmt.Errorf("%w: malformed ESL frame", ErrProtocol)
	// ErrFrameTooLarge: a frame over the reader's limits.
	ErrFrameTooLarge = fmt.Errorf("%w: ESL frame too large", ErrProtocol)
)

// Header is one "Name: value" line of a frame.
type Header struct {
	Name  string
	Value string
}

// Headers is a frame's header block in wire order. FreeSWITCH compares header
// names without regard to case, and so does Get.
type Headers []Header

// Get returns the value of the first header called name, or "".
func (h Headers) Get(name string) string {
	v, _ := h.Lookup(name)
	return v
}

// Lookup returns the value of the first header called name and whether it was present.
func (h Headers) Lookup(name string) (string, bool) {
	// One pass: an exact match wins (FreeSWITCH's own spelling, the usual
	// case); otherwise the first that differs only in case. An event has
	// a couple of hundred headers, and a missing one used to cost two scans.
	folded := -1
	for i, f := range h {
		if len(f.Name) != len(name) {
			continue
		}
		if f.Name == name {
			return f.Value, true
		}
		if folded < 0 && strings.EqualFold(f.Name, name) {
			folded = i
		}
	}
	if folded >= 0 {
		return h[folded].Value, true
	}
	return "", false
}

// Add appends a header.
func (h *Headers) Add(name, value string) {
	*h = append(*h, Header{Name: name, Value: value})
}

// Frame is one message on the event socket: a header block and an optional
// body whose length the Content-Length header gives.
type Frame struct {
	Headers Headers
	Body    []byte
}

// ContentType returns the frame's Content-Type header.
func (f Frame) ContentType() string { return f.Headers.Get("Content-Type") }

// Content types FreeSWITCH sends.
const (
	TypeAuthRequest = "auth/request"
	TypeReply       = "command/reply"
	TypeAPIResponse = "api/response"
	TypeEventPlain  = "text/event-plain"
	TypeDisconnect  = "text/disconnect-notice"
	TypeRejection   = "text/rude-rejection"
)

// Limits bound what a Reader accepts, so a hostile or broken peer cannot make
// parkd allocate without bound.
type Limits struct {
	MaxHeaderBytes int // bytes in one header block
	MaxHeaders     int // header lines in one block
	MaxBody        int // Content-Length of any frame
	// MaxAPIBody, when larger than MaxBody, is the Content-Length an
	// api/response frame may have: the answer to an api command parkd
	// sent, whose size the switch's channel count sets (see
	// InboundLimits). Other frames keep MaxBody.
	MaxAPIBody int
}

// DefaultLimits fit FreeSWITCH's largest frames on a call's socket (a
// connect reply is ~10 KB, an event with every channel variable a few tens
// of KB) with room to spare. MaxBody is the 16 MiB that FreeSWITCH's own
// readers accept: mod_event_socket refuses a command with a longer body
// (MAX_CONTENT_LENGTH) and its client library libesl a longer frame
// (ESL_MAX_CONTENT_LENGTH).
var DefaultLimits = Limits{MaxHeaderBytes: 1 << 20, MaxHeaders: 8192, MaxBody: 16 << 20}

// InboundLimits are the limits of parkd's inbound connection to FreeSWITCH:
// DefaultLimits, and api responses up to 512 MiB. FreeSWITCH sends an api
// command's answer whole, however long (mod_event_socket's api_exec frames
// it with Content-Length strlen(reply); nothing caps it), and `show calls
// as json` grows with every channel on the switch: about 1 KB a call, so
// 50,000 parked calls answer with ~50 MB, over MaxBody. 512 MiB is room for
// some 400,000 channels; events keep MaxBody.
var InboundLimits = Limits{MaxHeaderBytes: DefaultLimits.MaxHeaderBytes, MaxHeaders: DefaultLimits.MaxHeaders,
	MaxBody: DefaultLimits.MaxBody, MaxAPIBody: 512 << 20}

// maxBody is the Content-Length l allows a frame with headers h.
func (l Limits) maxBody(h Headers) int {
	if l.MaxAPIBody > l.MaxBody && h.Get("Content-Type") == TypeAPIResponse {
		return l.MaxAPIBody
	}
	return l.MaxBody
}

// Reader reads frames from an event-socket byte stream.
type Reader struct {
	br     *bufio.Reader
	limits Limits
	// block and ends are reused from frame to frame: a header block is
	// gathered in block (ends marks where each line ends) and made into
	// one string, which its headers are cut from.
	block []byte
	ends  []int
	// bareLF counts the lines of the block read last that ended in a bare
	// LF before the first line that ended in CR LF (the blank line that
	// ends the block included); sawCR says there was one. FreeSWITCH cuts
	// a command's lines at CR when it has any, so such lines run together
	// (see ReadCommand).
	bareLF int
	sawCR  bool
}

// NewReader returns a Reader over r with DefaultLimits.
func NewReader(r io.Reader) *Reader {
	return NewReaderLimits(r, DefaultLimits)
}

// NewReaderLimits returns a Reader over r with the given limits.
func NewReaderLimits(r io.Reader, l Limits) *Reader {
	return newReaderSize(r, l, readBufferSize)
}

// readBufferSize is a Reader's buffer. Longer lines are read in pieces and
// bodies go straight to their own slice, so it only needs to hold a typical
// header line; every call's socket has one, and 64 KiB each was most of the
// memory parkd allocated per call.
const readBufferSize = 8 << 10

func newReaderSize(r io.Reader, l Limits, size int) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, size), limits: l}
}

// ReadFrame reads the next frame. Leading blank lines are skipped, as
// FreeSWITCH does. Lines may end in LF or CR LF. Header names are taken as
// they come (FreeSWITCH sends names such as "variable_fish,(sticks)~_1" that
// are not MIME tokens); only a line without a colon is malformed.
func (r *Reader) ReadFrame() (Frame, error) {
	_, f, err := r.read(false)
	return f, err
}

// Command is what a client sends on the event socket: a command line such as
// "api uuid_bridge A B", the header lines after it, and an optional body.
type Command struct {
	Line    string
	Headers Headers
	Body    []byte
}

// ReadCommand reads the next client command, as FreeSWITCH's listener does:
// the first non-blank line is the command, the lines after it are headers.
// Like FreeSWITCH, which cuts a command's lines at CR whenever the command
// has one, lines that end in a bare LF before the first line ending in CR
// LF run together with it into the command line, joined by LF: a
// `sendevent` whose header lines end in LF and whose blank line is CR LF
// is one long line to the switch (docs/freeswitch.md,
// mixed-line-endings-make-one-line).
func (r *Reader) ReadCommand() (Command, error) {
	line, f, err := r.read(true)
	return Command{Line: line, Headers: f.Headers, Body: f.Body}, err
}

// read reads one header block and its body; with command set, the block's
// first line is returned apart instead of being parsed as a header.
func (r *Reader) read(command bool) (string, Frame, error) {
	block, ends, err := r.readBlock()
	if err != nil {
		return "", Frame{}, err
	}
	// One string for the whole block; names and values are cut from it,
	// instead of one allocation per line (a connect reply has ~200).
	text := string(block)
	var (
		f     Frame
		first string
		start int
	)
	if command {
		k := 0 // the command line's last line
		if r.sawCR && r.bareLF > 0 {
			k = min(r.bareLF, len(ends)-1)
		}
		first, start = joinLines(text, ends[:k+1]), ends[k]
		ends = ends[k+1:]
	}
	if len(ends) > r.limits.MaxHeaders {
		return "", Frame{}, fmt.Errorf("%w: more than %d headers", ErrFrameTooLarge, r.limits.MaxHeaders)
	}
	if len(ends) > 0 {
		f.Headers = make(Headers, 0, len(ends))
	}
	for _, end := range ends {
		h, err := parseHeader(text[start:end])
		if err != nil {
			return "", Frame{}, err
		}
		start = end
		f.Headers = append(f.Headers, h)
	}
	cl, ok := f.Headers.Lookup("Content-Length")
	if !ok {
		return first, f, nil
	}
	n, err := parseContentLength(cl)
	if err != nil {
		return "", Frame{}, err
	}
	if max := r.limits.maxBody(f.Headers); n > max {
		return "", Frame{}, fmt.Errorf("%w: Content-Length %d over %d", ErrFrameTooLarge, n, max)
	}
	if n == 0 {
		return first, f, nil
	}
	if f.Body, err = readBody(r.br, n, trustedBody); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return "", Frame{}, fmt.Errorf("read body: %w", err)
	}
	return first, f, nil
}

// trustedBody is the body length a Reader allocates before any of it has
// arrived; a longer body grows as it comes, so that a Content-Length the
// peer does not follow up costs at most this much.
const trustedBody = 32 << 20

// readBody reads a body of n bytes, allocating at most first bytes (and
// then at most twice what has arrived) before it arrives.
func readBody(r io.Reader, n, first int) ([]byte, error) {
	b := make([]byte, min(n, max(first, 1)))
	if _, err := io.ReadFull(r, b); err != nil || n == len(b) {
		return b, err
	}
	for len(b) < n {
		b = slices.Grow(b, min(len(b), n-len(b))) // at most double what arrived
		k := min(cap(b), n)
		if _, err := io.ReadFull(r, b[len(b):k]); err != nil {
			return nil, err
		}
		b = b[:k]
	}
	return b, nil
}

// parseHeader reads one "Name: value" line of a header block, dropping the
// spaces after the colon. A name is taken as it comes; only a line without
// a colon, or with nothing before it, is malformed.
func parseHeader(line string) (Header, error) {
	name, value, ok := strings.Cut(line, ":")
	if !ok || name == "" {
		return Header{}, fmt.Errorf("%w: header line %q", ErrMalformedFrame, clip(line))
	}
	return Header{Name: name, Value: strings.TrimLeft(value, " ")}, nil
}

// parseContentLength reads a Content-Length value: a byte count, with
// spaces around it allowed.
func parseContentLength(v string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: Content-Length %q", ErrMalformedFrame, clip(v))
	}
	return n, nil
}

// maxKeptBlock bounds the block buffer a Reader keeps between frames.
const maxKeptBlock = 64 << 10

// readBlock reads the lines of one header block, skipping blank lines
// before it, up to the blank line after it. It returns the lines run
// together (line endings dropped) and where each ends; both are the
// Reader's and valid until the next call.
func (r *Reader) readBlock() ([]byte, []int, error) {
	block, ends := r.block[:0], r.ends[:0]
	if block == nil {
		// Room for a connect reply (~10 KB), the first frame of every
		// call's socket, without growing the block several times.
		block = make([]byte, 0, 16<<10)
	}
	defer func() {
		if cap(block) <= maxKeptBlock {
			r.block, r.ends = block[:0], ends[:0]
		} else {
			r.block, r.ends = nil, nil
		}
	}()
	total := 0
	r.bareLF, r.sawCR = 0, false
	for {
		n := len(block)
		var (
			cr  bool
			err error
		)
		block, cr, err = r.appendLine(block, &total)
		if err != nil {
			if len(ends) > 0 && errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, nil, err
		}
		if len(block) == n && len(ends) == 0 {
			continue // blank lines between frames
		}
		if !r.sawCR {
			if cr {
				r.sawCR = true
			} else {
				r.bareLF++
			}
		}
		if len(block) == n {
			return block, ends, nil
		}
		ends = append(ends, len(block))
	}
}

// joinLines returns the lines of text that end at ends (each line's end,
// the lines run together in text), joined by LF.
func joinLines(text string, ends []int) string {
	if len(ends) == 1 {
		return text[:ends[0]]
	}
	var b strings.Builder
	b.Grow(ends[len(ends)-1] + len(ends))
	start := 0
	for i, end := range ends {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(text[start:end])
		start = end
	}
	return b.String()
}

// appendLine appends one line, without its LF or CR LF, to block, counting
// its bytes against the header limit, and reports whether it ended in CR LF.
func (r *Reader) appendLine(block []byte, total *int) ([]byte, bool, error) {
	n := len(block)
	for {
		chunk, err := r.br.ReadSlice('\n')
		*total += len(chunk)
		if *total > r.limits.MaxHeaderBytes {
			return block, false, fmt.Errorf("%w: header block over %d bytes", ErrFrameTooLarge, r.limits.MaxHeaderBytes)
		}
		block = append(block, chunk...)
		if err == nil {
			break
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(block) > n && errors.Is(err, io.EOF) {
			return block, false, io.ErrUnexpectedEOF
		}
		return block, false, err
	}
	block = bytes.TrimSuffix(block, []byte("\n"))
	cr := len(block) > n && block[len(block)-1] == '\r'
	if cr {
		block = block[:len(block)-1]
	}
	return block, cr, nil
}

// AppendFrame appends f's wire form to b: the headers in order, a blank
// line, then the body. The caller sets Content-Length when there is a body.
func AppendFrame(b []byte, f Frame) []byte {
	for _, h := range f.Headers {
		b = append(b, h.Name...)
		b = append(b, ": "...)
		b = append(b, h.Value...)
		b = append(b, '\n')
	}
	b = append(b, '\n')
	return append(b, f.Body...)
}

// clip shortens s for an error message.
func clip(s string) string {
	const max = 80
	if len(s) > max {
		return s[:max] + "..."
	}
	return s
}
