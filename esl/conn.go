package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
)

// Errors of a connection.
var (
	// ErrConnClosed: the connection is closed or broke; commands fail fast.
	ErrConnClosed = errors.New("ESL connection closed")
	// ErrUnsolicitedReply: a reply arrived that no command was waiting for;
	// the stream can no longer be trusted, so the connection is dropped.
	// It wraps ErrProtocol.
	ErrUnsolicitedReply = fmt.Errorf("%w: ESL reply nobody asked for", ErrProtocol)
	// ErrEventFlood: the peer sent events faster than they could be handled.
	ErrEventFlood = errors.New("ESL event queue overflow")
)

// endOfCommand ends every command, as eslgo's own transport does.
const endOfCommand = "\r\n\r\n"

// ConnOptions configure a Conn.
type ConnOptions struct {
	Logger zerolog.Logger
	// Timeout bounds every command whose context has no earlier deadline.
	Timeout time.Duration
	// OnEvent receives events, one at a time, in wire order, on a goroutine
	// of the Conn's own: it may send commands on the same Conn.
	OnEvent func(Event)
	// OnNotice receives text/disconnect-notice frames (e.g. the linger
	// notice of a channel that hung up), in order with the events.
	OnNotice func(Frame)
	// MaxQueued is how many events may wait for OnEvent before the peer is
	// considered hostile and dropped.
	MaxQueued int
	// Errors, if set, counts the commands that got no reply: timed out,
	// connection lost, write failed.
	Errors *atomic.Uint64
}

// Conn is a client's side of one event-socket connection: parkd's inbound
// connection to FreeSWITCH, or one call's outbound socket. parkd owns this
// transport instead of using eslgo's Conn, whose defects cannot be defended
// from outside (docs/eslgo.md): one reader goroutine parses frames with
// limits (a negative or huge Content-Length is an error, not a panic);
// replies are matched to commands strictly first-in first-out, so a command
// that timed out cannot hand its late reply to the next one; events reach
// OnEvent in wire order from a single goroutine; any read error closes the
// connection and Done reports it. Commands are eslgo's command.Command
// values, which build the messages.
type Conn struct {
	nc   net.Conn
	opts ConnOptions
	log  zerolog.Logger

	wmu     sync.Mutex // write and enqueue the waiter as one step
	qmu     sync.Mutex
	waiters []replyTo // one per command sent and not answered, in order

	emu    sync.Mutex
	equeue []any // Event or Frame (notice)
	ewake  chan struct{}

	done     chan struct{}
	doneOnce sync.Once
	err      error // why it closed; set before done is closed
	wg       sync.WaitGroup
}

// NewConn starts serving nc. The caller must already have read any greeting
// (auth/request) it expects.
func NewConn(nc net.Conn, r *Reader, opts ConnOptions) *Conn {
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Second
	}
	if opts.MaxQueued <= 0 {
		opts.MaxQueued = 100000
	}
	if r == nil {
		r = NewReader(nc)
	}
	c := &Conn{nc: nc, opts: opts, log: opts.Logger, ewake: make(chan struct{}, 1), done: make(chan struct{})}
	c.wg.Add(2)
	go c.readLoop(r)
	go c.eventLoop()
	return c
}

// Done is closed when the connection has closed, for whatever reason.
func (c *Conn) Done() <-chan struct{} { return c.done }

// Err returns why the connection closed, once Done is closed.
func (c *Conn) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Close closes the connection and waits for its goroutines.
func (c *Conn) Close() error {
	c.fail(ErrConnClosed)
	c.wg.Wait()
	return nil
}

// fail closes the connection once, recording why.
func (c *Conn) fail(err error) {
	c.doneOnce.Do(func() {
		c.err = err
		close(c.done)
		_ = c.nc.Close()
	})
}

// Send writes cmd and waits for its reply (command/reply or api/response).
// Every command has a deadline: ctx's, or the Conn's Timeout.
func (c *Conn) Send(ctx context.Context, cmd command.Command) (Frame, error) {
	fs, err := c.SendAll(ctx, cmd)
	if err != nil {
		return Frame{}, err
	}
	return fs[0], nil
}

// SendAll writes cmds in one go, without waiting between them, and then
// waits for their replies, which FreeSWITCH sends in order: one round trip
// instead of len(cmds). mod_event_socket reads a socket one command at a
// time, so the commands are carried out exactly as if sent one by one. It
// returns the replies in order, or the first error; a command that failed
// to get a reply fails the ones after it too. The deadline (ctx's, or the
// Conn's Timeout) covers them all.
func (c *Conn) SendAll(ctx context.Context, cmds ...command.Command) ([]Frame, error) {
	return c.SendAllWithin(ctx, c.opts.Timeout, cmds...)
}

// SendAllWithin is SendAll with timeout in place of the Conn's Timeout,
// for a command whose answer grows with the switch (a listing of every
// channel) and may take longer than an ordinary one.
func (c *Conn) SendAllWithin(ctx context.Context, timeout time.Duration, cmds ...command.Command) ([]Frame, error) {
	out, err := c.sendAll(ctx, timeout, cmds...)
	if err != nil && c.opts.Errors != nil {
		c.opts.Errors.Add(1)
	}
	return out, err
}

func (c *Conn) sendAll(ctx context.Context, timeout time.Duration, cmds ...command.Command) ([]Frame, error) {
	p, err := c.begin(ctx, timeout, cmds...)
	if err != nil {
		return nil, err
	}
	return p.wait()
}

// Post writes cmds at once, like SendAll, but does not wait for their
// replies: the returned function does, and must be called, once. The
// commands sent after Post are written behind these, and FreeSWITCH
// carries them out in that order, so a command that only has to take
// effect before the next ones (myevents, linger, a filter) costs no round
// trip of its own. The deadline (ctx's, or the Conn's Timeout) starts at
// Post and covers the wait; a reply that came before the wait is this
// command's even if the deadline has passed since.
func (c *Conn) Post(ctx context.Context, cmds ...command.Command) func() ([]Frame, error) {
	p, err := c.begin(ctx, c.opts.Timeout, cmds...)
	return func() ([]Frame, error) {
		var frames []Frame
		if err == nil {
			frames, err = p.wait()
		}
		if err != nil && c.opts.Errors != nil {
			c.opts.Errors.Add(1)
		}
		return frames, err
	}
}

// pending is a batch of commands written together and the replies they
// are waiting for: the reader fills replies in order and closes done once
// the last has come, so the sender wakes once per batch, not per reply.
type pending struct {
	c      *Conn
	cmds   []command.Command
	ctx    context.Context
	cancel context.CancelFunc

	replies []Frame // guarded by c.qmu until done is closed
	left    int     // replies still to come; guarded by c.qmu
	done    chan struct{}
}

// replyTo is the place of one command's reply in its batch.
type replyTo struct {
	p *pending
	i int
}

// name is the name of command i, for an error: made only when one happens.
func (p *pending) name(i int) string { return commandName(p.cmds[i].BuildMessage()) }

// begin writes cmds in one go and returns at once; wait then collects
// their replies. The deadline (ctx's, or timeout) runs from now.
func (c *Conn) begin(ctx context.Context, timeout time.Duration, cmds ...command.Command) (*pending, error) {
	if len(cmds) == 0 {
		return &pending{done: closedChan}, nil
	}
	p := &pending{c: c, cmds: cmds, replies: make([]Frame, len(cmds)), left: len(cmds), done: make(chan struct{})}
	p.ctx, p.cancel = context.WithTimeout(ctx, timeout)
	var msg []byte
	for _, cmd := range cmds {
		m := cmd.BuildMessage()
		msg = append(msg, m...)
		msg = append(msg, endOfCommand...)
		if c.log.GetLevel() <= zerolog.DebugLevel {
			c.log.Debug().Str("cmd", redact(m)).Msg("esl >>")
		}
	}

	c.wmu.Lock()
	select {
	case <-c.done:
		c.wmu.Unlock()
		p.cancel()
		return nil, fmt.Errorf("%s: %w", p.name(0), c.err)
	default:
	}
	dl, _ := p.ctx.Deadline()
	_ = c.nc.SetWriteDeadline(dl)
	c.qmu.Lock()
	for i := range cmds {
		c.waiters = append(c.waiters, replyTo{p: p, i: i})
	}
	c.qmu.Unlock()
	_, err := c.nc.Write(msg)
	c.wmu.Unlock()
	if err != nil {
		p.cancel()
		c.fail(fmt.Errorf("write: %w", err))
		return nil, fmt.Errorf("%s: %w", p.name(0), err)
	}
	return p, nil
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// wait returns the batch's replies in order, or the error of the first
// command that got none.
func (p *pending) wait() ([]Frame, error) {
	if p.c == nil {
		return nil, nil
	}
	defer p.cancel()
	var why error
	select {
	case <-p.done:
		return p.replies, nil
	case <-p.c.done:
		why = p.c.err
	case <-p.ctx.Done():
		// The waiters stay queued: their late replies are consumed by
		// them, so the next command still gets its own reply.
		why = p.ctx.Err()
	}
	// Replies read before the connection broke or the time ran out are
	// still this batch's: select picks between ready cases at random.
	i, complete := p.missing()
	if complete {
		return p.replies, nil
	}
	return nil, fmt.Errorf("%s: %w", p.name(i), why)
}

// missing is the index of the first command whose reply has not come, or
// complete if every reply has.
func (p *pending) missing() (i int, complete bool) {
	p.c.qmu.Lock()
	defer p.c.qmu.Unlock()
	return len(p.cmds) - p.left, p.left == 0
}

// API runs "api cmd args" and returns the response body. A body starting
// with -ERR is returned as an *APIError.
func (c *Conn) API(ctx context.Context, cmd, args string) (string, error) {
	f, err := c.Send(ctx, command.API{Command: cmd, Arguments: args})
	if err != nil {
		return "", err
	}
	body := string(f.Body)
	if f.ContentType() != TypeAPIResponse {
		body = f.Headers.Get("Reply-Text")
	}
	if strings.HasPrefix(body, "-ERR") {
		return body, NewAPIError(cmd, body)
	}
	return body, nil
}

// APIError is a -ERR answer from FreeSWITCH, to an api command or in a
// command/reply. One that says the channel does not exist matches
// parking.ErrCallGone with errors.Is: this is the one place where
// FreeSWITCH's words for it are read.
type APIError struct {
	Command string
	Reply   string // e.g. "-ERR No such channel!"
	gone    bool
}

// NewAPIError returns the *APIError for FreeSWITCH's reply to cmd, and
// classifies it: "-ERR No such channel!" (uuid_kill, uuid_transfer,
// uuid_getvar, ...), "-ERR Invalid uuid" (uuid_bridge, uuid_broadcast) and
// "-ERR invalid session id [<uuid>]" (sendmsg on a channel that is gone)
// mean the channel is gone.
func NewAPIError(cmd, reply string) *APIError {
	reply = strings.TrimSpace(reply)
	r := strings.ToLower(reply)
	gone := strings.Contains(r, "no such channel") || strings.Contains(r, "invalid uuid") ||
		strings.Contains(r, "invalid session id")
	return &APIError{Command: cmd, Reply: reply, gone: gone}
}

func (e *APIError) Error() string { return e.Command + ": " + e.Reply }

// Unwrap returns parking.ErrCallGone when the reply says the channel is
// gone, so that errors.Is(err, parking.ErrCallGone) holds for it.
func (e *APIError) Unwrap() error {
	if e.gone {
		return parking.ErrCallGone
	}
	return nil
}

// peer is the remote address, for log lines about the peer's behaviour.
func (c *Conn) peer() string { return c.nc.RemoteAddr().String() }

// readLoop reads frames until the connection breaks.
func (c *Conn) readLoop(r *Reader) {
	defer c.wg.Done()
	for {
		f, err := r.ReadFrame()
		if err != nil {
			if errors.Is(err, ErrProtocol) {
				c.log.Warn().Err(err).Str("peer", c.peer()).Msg("esl: protocol violation; dropping the connection")
			}
			c.fail(fmt.Errorf("read: %w", err))
			return
		}
		switch ct := f.ContentType(); ct {
		case TypeReply, TypeAPIResponse:
			c.qmu.Lock()
			if len(c.waiters) == 0 {
				c.qmu.Unlock()
				c.log.Warn().Err(ErrUnsolicitedReply).Str("peer", c.peer()).Str("content_type", ct).
					Msg("esl: protocol violation; dropping the connection")
				c.fail(ErrUnsolicitedReply)
				return
			}
			w := c.waiters[0]
			c.waiters[0] = replyTo{}
			c.waiters = c.waiters[1:]
			w.p.replies[w.i] = f
			if w.p.left--; w.p.left == 0 {
				close(w.p.done)
			}
			c.qmu.Unlock()
		case TypeEventPlain:
			ev, err := parseEventOwned(f.Body) // f is dropped here: the body is the event's
			if err != nil {
				c.log.Warn().Err(err).Str("peer", c.peer()).Msg("esl: unreadable event skipped")
				continue
			}
			if !c.queue(ev) {
				return
			}
		case TypeDisconnect:
			if !c.queue(f) {
				return
			}
		case TypeRejection:
			c.fail(fmt.Errorf("rejected by FreeSWITCH: %s", strings.TrimSpace(string(f.Body))))
			return
		default:
			c.log.Debug().Str("content_type", ct).Msg("esl: frame of unknown type ignored")
		}
	}
}

// queue hands an event or notice to the event goroutine.
func (c *Conn) queue(item any) bool {
	c.emu.Lock()
	if len(c.equeue) >= c.opts.MaxQueued {
		c.emu.Unlock()
		c.log.Error().Int("queued", c.opts.MaxQueued).Str("peer", c.peer()).Msg("esl: event flood; dropping the connection")
		c.fail(ErrEventFlood)
		return false
	}
	c.equeue = append(c.equeue, item)
	c.emu.Unlock()
	select {
	case c.ewake <- struct{}{}:
	default:
	}
	return true
}

// eventLoop delivers queued events in order. queue signals ewake after
// each item it adds, so every item is taken by a wake that follows it.
func (c *Conn) eventLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ewake:
			c.deliverQueued()
		case <-c.done:
			// Deliver what arrived before the close (a hangup's events
			// often come just before FreeSWITCH closes the socket).
			c.deliverQueued()
			return
		}
	}
}

// deliverQueued delivers the items queued so far.
func (c *Conn) deliverQueued() {
	c.emu.Lock()
	items := c.equeue
	c.equeue = nil
	c.emu.Unlock()
	for _, it := range items {
		c.deliver(it)
	}
}

func (c *Conn) deliver(it any) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error().Interface("panic", p).Msg("esl: event handler panicked")
		}
	}()
	switch v := it.(type) {
	case Event:
		if c.log.GetLevel() <= zerolog.DebugLevel { // Name and UniqueID each scan the headers
			c.log.Debug().Str("event", v.Name()).Str("uuid", v.UniqueID()).Msg("esl <<")
		}
		if c.opts.OnEvent != nil {
			c.opts.OnEvent(v)
		}
	case Frame:
		if c.opts.OnNotice != nil {
			c.opts.OnNotice(v)
		}
	}
}

// commandName is the first word of a command, for error messages.
func commandName(msg string) string {
	line, _, _ := strings.Cut(msg, "\n")
	line = strings.TrimSpace(line)
	if strings.HasPrefix(line, "auth ") || strings.HasPrefix(line, "userauth ") {
		return "auth"
	}
	if i := strings.IndexByte(line, ' '); i >= 0 {
		if w := strings.Fields(line); len(w) >= 2 && (w[0] == "api" || w[0] == "bgapi") {
			return w[0] + " " + w[1]
		}
		return line[:i]
	}
	return line
}

// redact hides secrets in a command for the debug log.
func redact(msg string) string {
	if name := commandName(msg); name == "auth" {
		return "auth ***"
	}
	return strings.ReplaceAll(strings.TrimSpace(msg), "\r\n", " | ")
}
