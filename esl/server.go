package esl

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
)

// legEvents are the events a call's socket subscribes to: what callLeg
// follows.
var legEvents = []string{"CHANNEL_EXECUTE_COMPLETE", "CHANNEL_ANSWER", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"}

// Parking is what the outbound server hands requests to. parking.Service
// implements it.
type Parking interface {
	Park(ctx context.Context, req parking.ParkRequest) (parking.Occupant, error)
	Retrieve(ctx context.Context, req parking.RetrieveRequest) (parking.Occupant, error)
	// LotOfSlot names the lot of the calling channel's domain whose range
	// holds slot, for a slot's busy-lamp key (park+<slot>), which names no
	// lot.
	LotOfSlot(domain string, slot int) (string, bool)
}

// Server accepts the connections FreeSWITCH's socket application makes for
// each call the dialplan sends to parkd, reads the request from the
// channel data, and drives the call through Parking.
type Server struct {
	// Logger gets a line per refused connection or request. Default: Nop.
	Logger zerolog.Logger
	// Allow lists who may connect. Empty means loopback only.
	Allow []netip.Prefix
	// Timeout bounds every command on a call's socket. Default 5s.
	Timeout time.Duration
	// CallTimeout bounds a whole park or retrieve, announcement and error
	// tone included. Default 30s.
	CallTimeout time.Duration
	// LingerSeconds is how long FreeSWITCH keeps a hung-up call's socket
	// open for parkd to read its last events. Default 30.
	LingerSeconds int
	// Instance names this parkd on every channel it parks (VarInstance),
	// so that reconciliation adopts only its own calls. It must pass
	// ValidateInstance; Serve refuses to start otherwise. Default:
	// DefaultInstance (the host name). Set the same name on the Client.
	Instance string
	// Observe, if set, is told parkd's own time for every park and
	// retrieve that succeeded: from the call's socket connection to the
	// caller hearing music in a committed slot (op "park"), or to the
	// retriever bridged to the call (op "retrieve"), with the lot the
	// call was in. It runs on the call's goroutine: it must not block.
	Observe func(op, lot string, d time.Duration)

	parking Parking

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*Conn]struct{}
	closing  bool
	handlers sync.WaitGroup
	stop     chan struct{} // closed by Shutdown: bridged retrievers let go
}

// NewServer returns a Server that hands requests to p.
func NewServer(p Parking) *Server {
	return &Server{
		Logger: zerolog.Nop(), Timeout: 5 * time.Second, CallTimeout: 30 * time.Second, LingerSeconds: 30,
		Instance: DefaultInstance(), parking: p, conns: make(map[*Conn]struct{}), stop: make(chan struct{}),
	}
}

// ErrServerClosed is returned by Serve after Shutdown.
var ErrServerClosed = errors.New("esl: server closed")

// Serve accepts connections on ln until Shutdown. It refuses to start
// (and closes ln) when Instance is not a valid instance name.
func (s *Server) Serve(ln net.Listener) error {
	if err := ValidateInstance(s.Instance); err != nil {
		_ = ln.Close()
		return fmt.Errorf("esl: serve: %w", err)
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.ln = ln
	s.mu.Unlock()
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			s.mu.Lock()
			closing := s.closing
			s.mu.Unlock()
			if closing {
				return ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return fmt.Errorf("accept: %w", err)
		}
		delay = 0
		// A peer outside esl.allow is never parked for, but its call is
		// refused like a bad request (error tone, back to the parker)
		// rather than by closing the socket: FreeSWITCH's socket
		// application, closed before the connect, parks the call for
		// good, in silence (docs/freeswitch.md#socket-closed-before-connect).
		var refuse error
		if !s.allowed(nc.RemoteAddr()) {
			s.Logger.Warn().Str("remote", nc.RemoteAddr().String()).Msg("outbound connection refused: address not in esl.allow")
			refuse = ErrNotAllowed
		}
		s.handlers.Add(1)
		go func() {
			defer s.handlers.Done()
			s.handle(nc, refuse)
		}()
	}
}

// Shutdown stops accepting calls (the dialplan's fallback takes them),
// waits for the parks and retrieves under way, then lets go of the sockets
// of bridged retrievers; their calls go on in FreeSWITCH.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if !s.closing {
		s.closing = true
		close(s.stop)
		if s.ln != nil {
			_ = s.ln.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() { s.handlers.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		for c := range s.conns {
			_ = c.nc.Close()
		}
		s.mu.Unlock()
		<-done
		return fmt.Errorf("esl: shutdown: %w", ctx.Err())
	}
}

func (s *Server) allowed(a net.Addr) bool {
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return false
	}
	ip := ap.Addr().Unmap()
	if len(s.Allow) == 0 {
		return ip.IsLoopback()
	}
	for _, p := range s.Allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// handle runs one call's socket from connect to exit. A non-nil refuse
// refuses the call whatever it asks for.
func (s *Server) handle(nc net.Conn, refuse error) {
	start := time.Now()
	log := s.Logger.With().Str("remote", nc.RemoteAddr().String()).Logger()
	leg := newCallLeg(s.Instance)
	conn := NewConn(nc, nil, ConnOptions{
		Logger: log, Timeout: s.Timeout, OnEvent: leg.onEvent, OnNotice: leg.onNotice, MaxQueued: 10000,
	})
	s.track(conn, true)
	defer func() {
		s.track(conn, false)
		_ = conn.Close()
	}()

	ctx, cancel := context.WithTimeout(context.Background(), s.CallTimeout)
	defer cancel()
	// connect, then at once the channel's events and linger: nothing
	// waits between them (Conn.Post). FreeSWITCH reads a socket's commands
	// one at a time, in order, and sends nothing before the connect
	// reply, so the setup takes effect right after it and before the park
	// or retrieve's first command, whose reply comes after the setup's:
	// the whole setup costs no round trip. The leg checks the setup's
	// replies before it waits for an event (callLeg.subscribed), and holds
	// the events that arrive before it knows its channel (bind). Of the
	// ~15 events a park sends down its socket, the leg needs these four
	// (callLeg.onEvent); filters keep the rest from being built, sent and
	// parsed at all. eslgo's Linger.Seconds is a count sent as is
	// ("linger 30"), not a time.Duration of 30s, which would go out as
	// "linger 30000000000".
	connected := conn.Post(ctx, command.Connect{})
	setup := []command.Command{command.MyEvents{Format: "plain"}, command.Linger{Enabled: true, Seconds: time.Duration(s.LingerSeconds)}}
	for _, name := range legEvents {
		setup = append(setup, command.Filter{EventHeader: "Event-Name", FilterValue: name})
	}
	leg.setup = conn.Post(ctx, setup...)
	replies, err := connected()
	if err != nil {
		log.Warn().Err(err).Msg("outbound connection: no channel data")
		_ = leg.subscribed()
		return
	}
	f := replies[0]
	decodeValues(f.Headers) // the connect reply is ours alone
	req, perr := ParseRequest(f.Headers)
	if req.Call == "" {
		log.Warn().Err(perr).Msg("outbound connection: not a channel; closing")
		_ = leg.subscribed()
		return
	}
	log = log.With().Str("call", req.Call).Str("action", req.Action).Str("lot", req.Lot).Int("slot", req.Slot).Logger()
	leg.bind(conn, req, log)
	defer s.exit(conn, leg, log)
	defer func() {
		if err := leg.subscribed(); err != nil {
			log.Warn().Err(err).Msg("outbound connection: setup failed")
		}
	}()
	if refuse != nil {
		perr = refuse
		if set, err := setVars(req.Call, [][2]string{{VarRefused, RefusedNotAllowed}}); err == nil {
			_, _ = conn.Send(ctx, set) // only a mark: the refusal goes on without it
		}
	}
	if perr != nil {
		log.Warn().Err(perr).Str("parker", req.Parker).Msg("request refused")
		// A refused park goes back to whoever transferred it; a call that
		// dialled parkd itself (a retrieve, a key pressed, a self-park) is
		// not sent back to its own phone.
		returnTo := ""
		if req.Transferred && req.Action != ActionRetrieve {
			returnTo = req.Parker
		}
		if err := leg.Refuse(ctx, returnTo); err != nil && !errors.Is(err, parking.ErrCallGone) {
			log.Warn().Err(err).Msg("could not refuse the call")
		}
		return
	}

	switch req.Action {
	case ActionPark:
		s.park(ctx, leg, req, req.Lot, req.Slot, start, log)
	case ActionRetrieve:
		s.retrieve(ctx, leg, req, req.Lot, req.Slot, start, log)
	case ActionKey:
		s.key(ctx, leg, req, start, log)
	case ActionOutside:
		cancel() // it runs on its own, longer clock
		s.outside(leg, req, start)
	case ActionHop:
		s.hop(ctx, leg, req, start, log)
	}
}

// exit says goodbye on a call's socket and waits briefly for FreeSWITCH to
// close it.
func (s *Server) exit(conn *Conn, leg *callLeg, log zerolog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), exitTimeout)
	defer cancel()
	if leg.isReleased() {
		// The leg said exit already (a sync socket's music or bridge).
		select {
		case <-conn.Done():
		case <-ctx.Done():
		}
		return
	}
	if _, err := conn.Send(ctx, command.Exit{}); err != nil {
		log.Debug().Err(err).Msg("exit")
		return
	}
	select {
	case <-conn.Done():
	case <-ctx.Done():
	}
}

// observe tells Observe, if set, how long op took from start until the
// switch accepted leg's last move (music or bridge): parkd's own time, as
// the caller hears it, without the history write that follows.
func (s *Server) observe(op, lot string, start time.Time, leg *callLeg) {
	if s.Observe != nil {
		s.Observe(op, lot, leg.placedSince(start))
	}
}

func (s *Server) track(c *Conn, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		s.conns[c] = struct{}{}
	} else {
		delete(s.conns, c)
	}
}
