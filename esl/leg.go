package esl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
)

// ErrorTone is what a refused channel hears: a fast busy (reorder) tone for
// two seconds. fsconf's dialplan plays the same tone when parkd is down.
const ErrorTone = "tone_stream://%(250,250,480,620);loops=4"

// callLeg is one channel handed to parkd by the dialplan's socket
// application, controlled through that socket. It implements parking.Leg.
type callLeg struct {
	conn     *Conn
	uuid     string
	context  string
	instance string // written on the channel as VarInstance by Hold
	log      zerolog.Logger

	mu       sync.Mutex
	answered bool
	// sync is the socket application's mode without "async" (Request.Sync):
	// the channel's own thread runs parkd's commands and waits for exit.
	sync bool
	// released is set once parkd has said exit to let a sync channel go
	// on (to the music or a bridge); Server.exit then only waits.
	released bool
	gone     bool
	goneCh   chan struct{}
	waiting  map[string]waiter // by Application-UUID
	early    []Event           // events that came before bind
	bound    bool
	// placedAt is when the switch accepted the leg's last move: Hold's
	// music, Bridge's bridge. Observe measures parkd's time to it, not to
	// the end of the operation, which also waits for the history.
	placedAt time.Time

	// setup waits for the replies of the socket's setup (myevents,
	// linger, filters), which the server posts without waiting for them
	// (Conn.Post); setupOnce keeps its outcome in setupErr.
	setup     func() ([]Frame, error)
	setupOnce sync.Once
	setupErr  error
}

// waiter waits for an application's CHANNEL_EXECUTE_COMPLETE: it gets the
// Application-Response, or the channel variable v when v is set (the
// digits play_and_get_digits collected).
type waiter struct {
	ch chan string
	v  string
}

var _ parking.Leg = (*callLeg)(nil)

func newCallLeg(instance string) *callLeg {
	return &callLeg{instance: instance, goneCh: make(chan struct{}), waiting: make(map[string]waiter)}
}

// bind sets the channel the leg controls, once the connect reply is read,
// and the logger for what happens to it. Events that came before (the
// socket's setup is sent with connect, so the channel's events may overtake
// the connect reply's handling) are followed now, in order.
func (l *callLeg) bind(conn *Conn, req Request, log zerolog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.conn, l.uuid, l.context, l.answered, l.log = conn, req.Call, req.Context, req.Answered, log
	l.sync = req.Sync
	l.bound = true
	for _, ev := range l.early {
		l.followLocked(ev)
	}
	l.early = nil
}

// subscribed returns the outcome of the socket's setup: nil once FreeSWITCH
// has accepted every setup command, so that the channel's events (and its
// linger notice) will come. A command's reply comes after the setup's, so
// after any command has been answered this does not wait.
func (l *callLeg) subscribed() error {
	l.setupOnce.Do(func() {
		if l.setup == nil {
			return
		}
		frames, err := l.setup()
		if err == nil {
			for _, f := range frames {
				if reply := f.Headers.Get("Reply-Text"); !strings.HasPrefix(reply, "+OK") {
					err = fmt.Errorf("socket setup: %w", NewAPIError(commandName(reply), reply))
					break
				}
			}
		} else {
			err = fmt.Errorf("socket setup: %w", err)
		}
		l.setupErr = err
	})
	return l.setupErr
}

// onEvent follows the channel's own events (myevents).
func (l *callLeg) onEvent(ev Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.bound {
		if len(l.early) < 64 {
			l.early = append(l.early, ev)
		}
		return
	}
	l.followLocked(ev)
}

// followLocked applies one of the channel's events. Called with l.mu held.
func (l *callLeg) followLocked(ev Event) {
	if ev.UniqueID() != l.uuid || l.uuid == "" {
		return
	}
	switch ev.Name() {
	case "CHANNEL_EXECUTE_COMPLETE":
		if w, ok := l.waiting[ev.Get("Application-UUID")]; ok {
			resp := ev.Get("Application-Response")
			if w.v != "" {
				if resp = ev.Get("variable_" + w.v); resp == "_undef_" {
					resp = ""
				}
			}
			w.ch <- resp
			delete(l.waiting, ev.Get("Application-UUID"))
		}
	case "CHANNEL_ANSWER":
		l.answered = true
	case "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE":
		l.markGoneLocked()
	}
}

// onNotice treats a linger or disconnect notice as the channel's end.
func (l *callLeg) onNotice(Frame) {
	l.mu.Lock()
	l.markGoneLocked()
	l.mu.Unlock()
}

func (l *callLeg) markGoneLocked() {
	if !l.gone {
		l.gone = true
		close(l.goneCh)
	}
}

// Call implements parking.Leg.
func (l *callLeg) Call() parking.CallID { return parking.CallID(l.uuid) }

// Answer implements parking.Leg. A call the dialplan answered before
// `socket` (as `parkd fsconf` writes it) needs nothing. Any other is
// answered with `api uuid_answer`, which FreeSWITCH carries out in the
// thread that reads the command and replies once the call is answered: an
// `answer` application sent with sendmsg would wait for the socket
// application's park loop to look at its queue (every 20 ms while the call
// has no media), and its completion event for the listener's next pass
// (docs/freeswitch.md#socket-commands-wait-for-the-frame-clock).
func (l *callLeg) Answer(ctx context.Context) error {
	l.mu.Lock()
	answered := l.answered
	l.mu.Unlock()
	if answered {
		return l.alive()
	}
	if !ValidUUID(l.uuid) {
		return fmt.Errorf("answer: %w", unsafe("uuid", l.uuid))
	}
	reply, err := l.api(ctx, "uuid_answer", l.uuid)
	if err != nil {
		// "-ERROR": no such channel, or one already hanging up
		// (switch_channel_answer refuses those).
		var apiErr *APIError
		if errors.As(err, &apiErr) && !errors.Is(err, parking.ErrCallGone) {
			return fmt.Errorf("answer: %w: %s", parking.ErrCallGone, apiErr.Reply)
		}
		return fmt.Errorf("answer: %w", err)
	}
	if !strings.HasPrefix(reply, "+OK") {
		return fmt.Errorf("answer: unexpected reply %q", clip(reply))
	}
	l.mu.Lock()
	l.answered = true
	l.mu.Unlock()
	return nil
}

// Announce implements parking.Leg: the slot is said digit by digit.
func (l *callLeg) Announce(ctx context.Context, slot int) error {
	if _, err := l.run(ctx, "say", sayDigits(slot)); err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	return nil
}

// Hold implements parking.Leg. The park facts are written on the channel,
// then the channel is moved to an inline dialplan that plays the music
// forever: unlike uuid_park, which leaves a socket-delivered channel silent
// and dormant once the socket closes (docs/freeswitch.md#uuid-park-goes-dormant),
// the inline endless_playback survives parkd closing the socket or exiting
// (docs/freeswitch.md#inline-transfer-keeps-music), and ends the call when a
// bridge to it ends, so no caller is orphaned
// (docs/freeswitch.md#bridge-end-ends-the-inline-park).
func (l *callLeg) Hold(ctx context.Context, h parking.Hold) error {
	set, move, err := holdCommands(l.uuid, l.instance, h)
	if err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	// Both in one write (one round trip): FreeSWITCH sets the variables
	// before it moves the call. The variables fail only with the channel
	// gone (-ERR No such channel!), and then so does the move.
	frames, err := l.conn.SendAll(ctx, set, move)
	if err != nil {
		return fmt.Errorf("hold: %w", l.goneOr(err))
	}
	if reply := apiReply(frames[0]); !strings.HasPrefix(reply, "+OK") {
		return fmt.Errorf("hold: set the park variables: %w", l.goneOr(NewAPIError(set.Command, reply)))
	}
	if reply := apiReply(frames[1]); !strings.HasPrefix(reply, "+OK") {
		return fmt.Errorf("hold: start music: %w", l.goneOr(NewAPIError(move.Command, reply)))
	}
	l.placed()
	l.release(ctx)
	return nil
}

// placed records that the switch has just accepted the leg's last move.
func (l *callLeg) placed() {
	now := time.Now()
	l.mu.Lock()
	l.placedAt = now
	l.mu.Unlock()
}

// placedSince is how long after start the leg's last move was accepted;
// if none was, how long ago start was.
func (l *callLeg) placedSince(start time.Time) time.Duration {
	l.mu.Lock()
	at := l.placedAt
	l.mu.Unlock()
	if at.IsZero() {
		return time.Since(start)
	}
	return at.Sub(start)
}

// apiReply is the answer an api command's reply frame carries: its body,
// or the Reply-Text of a command/reply.
func apiReply(f Frame) string {
	if f.ContentType() != TypeAPIResponse {
		return f.Headers.Get("Reply-Text")
	}
	return string(f.Body)
}

// holdCommands are the two commands that park a channel: its marks
// (uuid_setvar_multi), then the inline transfer to the music.
func holdCommands(uuid, instance string, h parking.Hold) (set, move command.API, err error) {
	if err := ValidateInstance(instance); err != nil {
		return set, move, err
	}
	vars := [][2]string{
		{VarInstance, instance},
		{VarLot, h.Lot},
		{VarSlot, strconv.Itoa(h.Slot)},
		{VarParkedAt, h.ParkedAt.UTC().Format("2006-01-02T15:04:05.000Z")},
		{"hangup_after_bridge", "true"},
	}
	if h.Parker != "" {
		vars = append(vars, [2]string{VarParker, h.Parker})
	}
	if h.Domain != "" {
		if !domainRE.MatchString(h.Domain) {
			return set, move, fmt.Errorf("%w: lot domain %q", ErrBadRequest, clip(h.Domain))
		}
		vars = append(vars, [2]string{VarDomain, h.Domain})
	}
	if set, err = setVars(uuid, vars); err != nil {
		return set, move, err
	}
	if move, err = transferInline(uuid, h.Music); err != nil {
		return set, move, err
	}
	return set, move, nil
}

// Bridge implements parking.Leg: `uuid_bridge <parked> <this>`, with the
// parked call first so that it ends when this leg hangs up
// (docs/freeswitch.md#bridge-argument-order).
func (l *callLeg) Bridge(ctx context.Context, parked parking.CallID) error {
	cmd, err := bridge(string(parked), l.uuid)
	if err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	reply, err := l.api(ctx, cmd.Command, cmd.Arguments)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", parked, err)
	}
	if !strings.HasPrefix(reply, "+OK") {
		return fmt.Errorf("bridge %s: unexpected reply %q", parked, clip(reply))
	}
	l.placed()
	l.release(ctx)
	return nil
}

// release lets a sync socket's channel go on to what parkd's last command
// set up (Hold's transfer to the music, Bridge's uuid_bridge): its thread is
// the one reading parkd's commands, so the music or the bridge starts only
// when that thread leaves the socket application, at parkd's exit
// (docs/freeswitch.md#sync-socket-acts-at-once). The exit is sent at once,
// before parkd records the park or the retrieve, and not waited for here:
// its reply and the socket's close come while the call goes on (Server.exit
// waits for the close). An async socket's channel needs nothing: its thread
// is in the socket application's park loop, which the state change ends at
// the channel's next media tick.
func (l *callLeg) release(ctx context.Context) {
	l.mu.Lock()
	do := l.sync && !l.released
	l.released = do || l.released
	l.mu.Unlock()
	if do {
		wait := l.conn.Post(ctx, command.Exit{})
		go func() { _, _ = wait() }()
	}
}

// isReleased reports whether release has said exit.
func (l *callLeg) isReleased() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.released
}

// Refuse implements parking.Leg: answer (so the tone is heard), the error
// tone, then a transfer back to returnTo or a hangup.
func (l *callLeg) Refuse(ctx context.Context, returnTo string) error {
	if err := l.Answer(ctx); err != nil {
		return fmt.Errorf("refuse: %w", err)
	}
	if _, err := l.run(ctx, "playback", ErrorTone); err != nil {
		return fmt.Errorf("refuse: tone: %w", err)
	}
	if returnTo != "" {
		// If it cannot be sent back, hanging up after the tone is the
		// lesser evil than leaving it to an unknown dialplan.
		if cmd, err := transferTo(l.uuid, returnTo, l.context); err == nil {
			if _, err := l.api(ctx, cmd.Command, cmd.Arguments); err == nil {
				return nil
			}
		}
	}
	cmd, err := hangup(l.uuid, "NORMAL_CLEARING")
	if err != nil {
		return fmt.Errorf("refuse: %w", err)
	}
	if _, err := l.conn.Send(ctx, cmd); err != nil {
		return fmt.Errorf("refuse: hangup: %w", err)
	}
	return nil
}

// run executes app on the channel and waits for it to complete.
func (l *callLeg) run(ctx context.Context, app, arg string) (string, error) {
	return l.runFor(ctx, app, arg, "")
}

// runFor is run returning, when v is set, the channel variable v as the
// application's completion event carries it instead of its response.
func (l *callLeg) runFor(ctx context.Context, app, arg, v string) (string, error) {
	appUUID := NewUUID()
	cmd, err := execute(l.uuid, app, arg, appUUID)
	if err != nil {
		return "", err
	}
	done := make(chan string, 1)
	l.mu.Lock()
	if l.gone {
		l.mu.Unlock()
		return "", parking.ErrCallGone
	}
	l.waiting[appUUID] = waiter{ch: done, v: v}
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		delete(l.waiting, appUUID)
		l.mu.Unlock()
	}()

	f, err := l.conn.Send(ctx, cmd)
	if err != nil {
		return "", l.ended(app, l.goneOr(err))
	}
	if reply := f.Headers.Get("Reply-Text"); !strings.HasPrefix(reply, "+OK") {
		return "", l.goneOr(NewAPIError(app, reply))
	}
	// Its end comes as an event, which needs the socket's setup.
	if err := l.subscribed(); err != nil {
		return "", l.goneOr(err)
	}
	// The application's end comes as an event; the socket closing (EOF or
	// reset from FreeSWITCH's side) ends the wait as surely, so nothing
	// waits out ctx on a dead socket.
	select {
	case resp := <-done:
		return resp, nil
	case <-l.goneCh:
		return "", parking.ErrCallGone
	case <-l.conn.Done():
		return "", l.ended(app, l.closed(app))
	case <-ctx.Done():
		return "", fmt.Errorf("%s: %w", app, ctx.Err())
	}
}

// ended logs at info that the caller left when err, the outcome of
// starting or running app, is the channel gone because FreeSWITCH closed
// the call's socket (EOF or reset), and returns err. A socket parkd closed
// itself (Shutdown) is not the caller leaving, and a protocol violation is
// logged by Conn.
func (l *callLeg) ended(app string, err error) error {
	select {
	case <-l.conn.Done():
		if why := l.conn.Err(); errors.Is(err, parking.ErrCallGone) && !errors.Is(why, ErrConnClosed) {
			l.log.Info().Str("app", app).AnErr("socket", why).
				Msg("the caller left: FreeSWITCH closed the call's socket while parkd waited for an application")
		}
	default:
	}
	return err
}

// closed is why app's wait ended with the socket: a protocol violation by
// the peer (which Conn has logged), or else the channel gone.
func (l *callLeg) closed(app string) error {
	err := l.conn.Err()
	if errors.Is(err, ErrProtocol) {
		return fmt.Errorf("%s: %w", app, err)
	}
	return fmt.Errorf("%s: %w: socket closed: %v", app, parking.ErrCallGone, err)
}

// api runs an api command on the channel's socket.
func (l *callLeg) api(ctx context.Context, cmd, args string) (string, error) {
	reply, err := l.conn.API(ctx, cmd, args)
	if err != nil {
		return "", l.goneOr(err)
	}
	return reply, nil
}

// goneOr maps a command's error to parking.ErrCallGone when the channel
// has hung up or its socket closed. FreeSWITCH's own "no such channel"
// replies already match it (NewAPIError); a protocol violation by the peer
// stays one, so that it is not taken for the caller leaving.
func (l *callLeg) goneOr(err error) error {
	if errors.Is(err, parking.ErrCallGone) || errors.Is(err, ErrProtocol) {
		return err
	}
	if l.alive() != nil {
		return fmt.Errorf("%w: %w", parking.ErrCallGone, err)
	}
	return err
}

// alive returns ErrCallGone once the channel hung up or its socket closed,
// or the protocol violation that closed the socket.
func (l *callLeg) alive() error {
	l.mu.Lock()
	gone := l.gone
	l.mu.Unlock()
	if gone {
		return parking.ErrCallGone
	}
	select {
	case <-l.conn.Done():
		if err := l.conn.Err(); errors.Is(err, ErrProtocol) {
			return err
		}
		return parking.ErrCallGone
	default:
		return nil
	}
}

// waitGone blocks until the channel hangs up, its socket closes, or stop
// is closed.
func (l *callLeg) waitGone(stop <-chan struct{}) {
	if l.subscribed() != nil {
		return // no events would tell of the hangup
	}
	select {
	case <-l.goneCh:
	case <-l.conn.Done():
	case <-stop:
	}
}

// exitTimeout bounds the polite goodbye on a call's socket.
const exitTimeout = 2 * time.Second
