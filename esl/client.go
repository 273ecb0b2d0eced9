package esl

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
)

// ErrNotConnected: the inbound connection to FreeSWITCH is down right now,
// or was lost while a command waited for its reply. It matches
// parking.ErrSwitchDown, so that callers of the Service (the web API) can
// tell "the switch is not there" from other failures.
var ErrNotConnected error = notConnected{}

type notConnected struct{}

func (notConnected) Error() string        { return "not connected to FreeSWITCH" }
func (notConnected) Is(target error) bool { return target == parking.ErrSwitchDown }

// Calls is what the inbound client reports to. parking.Service implements it.
type Calls interface {
	// Hangup is told of every channel that hung up.
	Hangup(ctx context.Context, call parking.CallID, cause string)
	// SwitchShutdown is told when FreeSWITCH announces it is shutting down.
	SwitchShutdown(ctx context.Context)
	// Reconcile is run after each (re)connection, to catch what happened
	// while parkd was not listening.
	Reconcile(ctx context.Context) error
}

// Client is parkd's supervised inbound connection to FreeSWITCH's event
// socket: it dials and authenticates, subscribes to the events parkd needs,
// probes the connection so a dead or half-open one is noticed within
// ProbeEvery+Timeout, and reconnects with exponential backoff and jitter.
// It implements parking.Switch.
type Client struct {
	Addr     string
	Password string
	// Logger: connection state at info/warn, traffic at debug. Default Nop.
	Logger zerolog.Logger
	// Timeout bounds dialing, authentication and every command. Default 5s.
	Timeout time.Duration
	// ProbeEvery is the liveness probe interval. Default 10s.
	ProbeEvery time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnection
	// attempts. Defaults 500ms and 30s.
	MinBackoff, MaxBackoff time.Duration
	// Elsewhere, if set, lists the dial strings that reach a recall's
	// parker (Origination.Parker) on the other nodes sharing the lots:
	// a recall this switch answers USER_NOT_REGISTERED tries them in
	// turn, and rings the parker on the node where they are registered.
	Elsewhere func(o parking.Origination) []string
	// Calls is told of hangups and asked to reconcile. Required.
	Calls Calls
	// Instance is this parkd's name, as the Server writes it on the calls
	// it parks (VarInstance): Survey reports only channels that carry it,
	// and recall legs are marked with it. It must pass ValidateInstance;
	// Run refuses to start otherwise. Default: DefaultInstance (the host
	// name).
	Instance string
	// StrandedBefore, if set, is when this parkd started listening for
	// calls. A channel routed to its extension before then that still
	// waits in the socket application with a parkd request (VarAction) and
	// no parkd mark was on its way to a parkd that stopped before
	// answering: FreeSWITCH keeps it there, silent, for good
	// (docs/freeswitch.md#socket-closed-before-connect). Survey reports
	// it as stranded, to go back through ReturnExtension.
	StrandedBefore time.Time

	mu        sync.Mutex
	conn      *Conn
	connected chan struct{} // closed while connected; replaced on disconnect
	jobs      jobTable      // bgapi commands awaiting their BACKGROUND_JOB
	presence  *Presence     // set by NewPresence: probes and reconnects go to it

	stats clientStats // read by Stats
}

// Events the inbound connection subscribes to.
var subscribed = []string{"CHANNEL_HANGUP_COMPLETE", "BACKGROUND_JOB", "SHUTDOWN"}

var _ parking.Switch = (*Client)(nil)

// NewClient returns a Client for FreeSWITCH at addr. Set Calls before Run.
func NewClient(addr, password string) *Client {
	return &Client{
		Addr: addr, Password: password, Logger: zerolog.Nop(), Instance: DefaultInstance(),
		Timeout: 5 * time.Second, ProbeEvery: 10 * time.Second,
		MinBackoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second,
		connected: make(chan struct{}),
	}
}

// Run keeps the connection up until ctx ends, or returns at once an error
// wrapping ErrBadInstance when Instance is not valid. Every redial waits a
// jittered backoff first; the backoff only starts over once a connection
// has stayed up for a probe interval, so a FreeSWITCH that accepts and then
// drops parkd at once is not hammered.
func (c *Client) Run(ctx context.Context) error {
	if err := ValidateInstance(c.Instance); err != nil {
		return fmt.Errorf("esl: run: %w", err)
	}
	backoff := c.MinBackoff
	for ctx.Err() == nil {
		conn, err := c.dial(ctx)
		if err != nil {
			c.Logger.Warn().Err(err).Str("freeswitch", c.Addr).Msg("cannot connect to FreeSWITCH")
		} else {
			up := time.Now()
			c.Logger.Info().Str("freeswitch", c.Addr).Msg("connected to FreeSWITCH")
			c.setConn(conn)
			reconciled := c.reconcile(ctx)
			c.stats.reconciled.Store(reconciled)
			if p := c.presenceHook(); p != nil {
				c.warnIfValet(ctx)
				p.connected() // after reconcile: the lamps are the switch's again
			}
			c.supervise(ctx, conn, reconciled)
			c.setConn(nil)
			c.stats.reconciled.Store(false)
			_ = conn.Close()
			if ctx.Err() != nil {
				break
			}
			c.stats.reconnects.Add(1)
			c.Logger.Warn().Err(conn.Err()).Str("freeswitch", c.Addr).Msg("lost the connection to FreeSWITCH; reconnecting")
			if time.Since(up) >= c.ProbeEvery {
				backoff = c.MinBackoff // it was healthy: start over
			}
		}
		wait := backoff/2 + rand.N(backoff/2+1) // jitter: [b/2, b]
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		backoff = min(2*backoff, c.MaxBackoff)
	}
	return ctx.Err()
}

// reconcile runs Calls.Reconcile and reports whether it succeeded.
func (c *Client) reconcile(ctx context.Context) bool {
	if err := c.Calls.Reconcile(ctx); err != nil {
		c.Logger.Warn().Err(err).Msg("reconcile with FreeSWITCH failed; retrying at the next probe")
		return false
	}
	return true
}

// supervise probes conn until it breaks or ctx ends, and retries a failed
// reconcile at each probe until it succeeds.
func (c *Client) supervise(ctx context.Context, conn *Conn, reconciled bool) {
	t := time.NewTicker(c.ProbeEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-conn.Done():
			return
		case <-t.C:
			if _, err := conn.API(ctx, "status", ""); err != nil {
				var apiErr *APIError
				if !errors.As(err, &apiErr) {
					c.Logger.Warn().Err(err).Msg("FreeSWITCH did not answer the liveness probe")
					return
				}
			}
			if !reconciled {
				reconciled = c.reconcile(ctx)
				c.stats.reconciled.Store(reconciled)
			}
		}
	}
}

// dial connects, authenticates and subscribes.
func (c *Client) dial(ctx context.Context) (*Conn, error) {
	names := c.eventNames()
	return c.connect(ctx, names, eventFilters(names, c.Instance))
}

// connect connects, authenticates, sets filters and subscribes to events
// (none if events is empty).
func (c *Client) connect(ctx context.Context, events []string, filters []command.Filter) (*Conn, error) {
	d := net.Dialer{Timeout: c.Timeout}
	nc, err := d.DialContext(ctx, "tcp", c.Addr)
	if err != nil {
		return nil, err
	}
	_ = nc.SetReadDeadline(time.Now().Add(c.Timeout))
	r := NewReaderLimits(nc, InboundLimits) // api responses grow with the switch's channels
	greet, err := r.ReadFrame()
	if err != nil {
		_ = nc.Close()
		return nil, fmt.Errorf("read greeting: %w", err)
	}
	if ct := greet.ContentType(); ct != TypeAuthRequest {
		_ = nc.Close()
		return nil, fmt.Errorf("unexpected greeting %q", clip(ct))
	}
	_ = nc.SetReadDeadline(time.Time{})
	conn := NewConn(nc, r, ConnOptions{Logger: c.Logger, Timeout: c.Timeout, OnEvent: c.onEvent, Errors: &c.stats.commandErrors})
	reply, err := conn.Send(ctx, command.Auth{Password: c.Password})
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("authenticate: %w", err)
	}
	if text := reply.Headers.Get("Reply-Text"); !strings.HasPrefix(text, "+OK") {
		_ = conn.Close()
		return nil, errors.New("authenticate: FreeSWITCH refused the password (esl.password)")
	}
	if len(events) == 0 {
		return conn, nil
	}
	// The filters go first, so that no unfiltered event slips in between;
	// all in one round trip.
	cmds := make([]command.Command, 0, len(filters)+1)
	for _, f := range filters {
		cmds = append(cmds, f)
	}
	cmds = append(cmds, command.Event{Format: "plain", Listen: events})
	replies, err := conn.SendAll(ctx, cmds...)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("subscribe: %w", err)
	}
	for i, r := range replies {
		if text := r.Headers.Get("Reply-Text"); !strings.HasPrefix(text, "+OK") {
			_ = conn.Close()
			return nil, fmt.Errorf("subscribe: %s: %s", commandName(cmds[i].BuildMessage()), clip(text))
		}
	}
	return conn, nil
}

func (c *Client) onEvent(ev Event) {
	c.stats.events.Add(1)
	switch ev.Name() {
	case "CHANNEL_HANGUP_COMPLETE":
		if id := ev.UniqueID(); ValidUUID(id) {
			c.Calls.Hangup(context.Background(), parking.CallID(id), ev.Get("Hangup-Cause"))
		}
	case "BACKGROUND_JOB":
		c.jobs.deliver(ev.Get("Job-UUID"), ev)
	case "SHUTDOWN":
		c.Logger.Warn().Msg("FreeSWITCH is shutting down: its parked calls are lost")
		c.Calls.SwitchShutdown(context.Background())
	case "PRESENCE_PROBE":
		if p := c.presenceHook(); p != nil {
			p.onProbe(ev)
		}
	}
}

func (c *Client) setConn(conn *Conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.conn = conn
	if conn != nil {
		close(c.connected)
	} else {
		c.connected = make(chan struct{})
	}
}

// Connected returns a channel that is closed while the connection is up.
func (c *Client) Connected() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

func (c *Client) current() (*Conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		c.stats.commandErrors.Add(1)
		return nil, ErrNotConnected
	}
	return c.conn, nil
}

// API runs an api command on the inbound connection.
func (c *Client) API(ctx context.Context, cmd command.API) (string, error) {
	conn, err := c.current()
	if err != nil {
		return "", err
	}
	reply, err := conn.API(ctx, cmd.Command, cmd.Arguments)
	if errors.Is(err, ErrConnClosed) {
		err = fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	return reply, err
}
