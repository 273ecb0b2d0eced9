package fstest

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parkd/parkd/esl"
)

// CallSpec describes a call that reaches a `socket <SocketAddr> async full`
// dialplan action.
type CallSpec struct {
	// SocketAddr is the outbound listener of the code under test.
	SocketAddr string
	// CallerName and CallerNumber become Caller-Caller-ID-Name/Number.
	CallerName, CallerNumber string
	// Destination is Caller-Destination-Number, e.g. "*70202". Default "701".
	Destination string
	// Vars are channel variables the dialplan set before `socket`
	// (parkd_slot, ...); they appear as variable_<name> in the connect reply.
	Vars map[string]string
	// Domain is the channel's domain_name (variable_domain_name in the
	// connect reply), as FreeSWITCH sets it: from the directory for a
	// registered user's call, by the vanilla public dialplan for an inbound
	// one, and by FusionPBX for every call routed into a domain's context.
	// "": the switch's own domain (Options.Domain). NoDomain leaves it
	// unset, as for a call from a context that sets none.
	Domain   string
	NoDomain bool
	// Answered: the call is already answered (transferred by REFER).
	Answered bool
	// ReferredBy, if set, is variable_sip_h_Referred-By (e.g.
	// "<sip:1000@127.0.0.1>"), with the other variables a blind REFER leaves
	// (blind-transfer-connect.txt).
	ReferredBy string
	// Callee, if set, is the party the caller was bridged to before:
	// Caller-Callee-ID-Number, last_sent_callee_id_number, and the
	// callee_id_number that uuid_getvar resolves from the caller profile.
	Callee string
	// BeforeSocket are dialplan actions between the variables and `socket`
	// that complete at once, as "app data": "answer" (as `parkd fsconf`
	// writes it, so that the caller's 200 OK does not wait for parkd),
	// "pre_answer", "set name=value", "log ...". Each runs with its events.
	BeforeSocket []string
	// AfterSocket are the dialplan actions after `socket`, as "app data"
	// ("playback tone_stream://...", "transfer parkd_return", "park",
	// "hangup NORMAL_TEMPORARY_FAILURE"). Nil: the call hangs up
	// NORMAL_CLEARING when the socket app returns. A further
	// "socket <addr> async full" dials addr as the first socket did (the
	// next parkd of an active/standby pair).
	AfterSocket []string
	// Sync runs `socket SocketAddr full` (no "async"), as `parkd fsconf`
	// writes the retrieve extension: the connect reply says Socket-Mode:
	// static. The simulator does not model the channel's thread waiting in
	// the socket application: commands take effect as in async mode.
	Sync bool
}

// Call creates an inbound channel that runs `socket SocketAddr async full`,
// and returns once the TCP connection to SocketAddr is made. If the dial
// fails, the socket app returns at once (the dialplan continues, as in
// FreeSWITCH) and the error is returned with the channel.
func (s *Switch) Call(spec CallSpec) (*Channel, error) {
	user := spec.CallerNumber
	if user == "" {
		user = "anonymous"
	}
	name := spec.CallerName
	if name == "" {
		name = user
	}
	dest := spec.Destination
	if dest == "" {
		dest = "701"
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, fmt.Errorf("fstest: switch closed")
	}
	ch := s.newChannel(esl.NewUUID(), "inbound", user, name, user, dest)
	if spec.Answered {
		ch.answered, ch.media, ch.answerState = true, true, "answered"
		ch.answeredAt = ch.created
		ch.addAnsweredVars()
	}
	if spec.ReferredBy != "" || spec.Callee != "" {
		ch.applyTransfer(spec)
	}
	if spec.Answered {
		ch.state = "CS_ROUTING"
		ch.setCallState("ACTIVE")
	} else {
		ch.state = "CS_ROUTING"
		ch.setCallState("RINGING")
	}
	ch.setState("CS_ROUTING")
	ch.vars.set("DP_MATCH", "ARRAY::"+dest)
	ch.vars.set("call_uuid", ch.uuid)
	if !spec.NoDomain {
		d := spec.Domain
		if d == "" {
			d = s.opts.Domain
		}
		ch.vars.set("domain_name", d)
	}
	ch.setVars(spec.Vars)
	ch.setState("CS_EXECUTE")
	if err := ch.runBefore(spec.BeforeSocket); err != nil {
		ch.hangup("NORMAL_CLEARING", "send_bye")
		s.mu.Unlock()
		return ch, err
	}
	ch.plan = append([]string(nil), spec.AfterSocket...)
	ch.sync = spec.Sync
	sa := ch.startSocket(spec.SocketAddr)
	ch.vars.set("socket_host", "127.0.0.1")
	s.mu.Unlock()

	if err := s.dialSocket(ch, sa, spec.SocketAddr); err != nil {
		return ch, err
	}
	return ch, nil
}

// runBefore runs the dialplan actions before `socket`, each of which must
// complete at once. Called with s.mu held.
func (ch *Channel) runBefore(actions []string) error {
	ch.routing = true
	defer func() { ch.routing = false }()
	for _, action := range actions {
		name, data, _ := strings.Cut(action, " ")
		switch name {
		case "answer", "pre_answer", "set", "export", "log", "info", "ring_ready":
		default:
			return fmt.Errorf("fstest: BeforeSocket action %q: only actions that complete at once may precede socket", action)
		}
		ch.ran = append(ch.ran, action)
		ch.startApp(&app{name: name, data: strings.TrimSpace(data)})
	}
	return nil
}

// dialSocket connects the socket app sa, started on ch, to addr: the TCP
// dial FreeSWITCH makes, then the outbound session. If the dial fails the
// socket app returns and the dialplan goes on. Called without s.mu.
func (s *Switch) dialSocket(ch *Channel, sa *app, addr string) error {
	// The time before the dial, not after: the code under test may have
	// accepted and answered before this goroutine runs again, and that
	// time is the client's.
	dialAt := time.Now()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err == nil && s.opts.OnConnect != nil {
		s.opts.OnConnect(ch.uuid, dialAt)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil || s.closed {
		if nc != nil {
			_ = nc.Close()
		}
		if err == nil {
			err = fmt.Errorf("switch closed")
		}
		if ch.socketApp == sa {
			ch.endApp(sa, "_none_")
			ch.runNext()
		}
		return fmt.Errorf("fstest: socket %s: %w", addr, err)
	}
	s.connSeq++
	c := newConn(s, nc, fmt.Sprintf("out%d", s.connSeq), false)
	c.authed = true
	c.ch = ch
	if ch.alive && ch.socketApp == sa {
		ch.sock = c
	} else {
		c.gone = true
		c.closeAfterFlush()
	}
	s.addConn(c)
	s.wg.Add(2)
	go c.writer()
	go s.serve(c)
	ch.notify()
	return nil
}

// applyTransfer adds what a blind REFER leaves on the transferred channel.
func (ch *Channel) applyTransfer(spec CallSpec) {
	callee := spec.Callee
	if callee == "" {
		callee = spec.ReferredBy
		if i := strings.Index(callee, "sip:"); i >= 0 {
			callee = callee[i+4:]
		}
		callee, _, _ = strings.Cut(callee, "@")
		callee = strings.Trim(callee, "<>")
	}
	now := time.Now()
	prof := esl.NewUUID()
	ch.calleeName, ch.calleeNum, ch.rdnis = "Outbound Call", callee, callee
	ch.profileIndex = 2
	ch.transferSource = fmt.Sprintf("%d:%s:bl_xfer:%s/default/XML", now.Unix(), prof, ch.dest)
	r := strings.NewReplacer("__UUID__", ch.uuid, "__BUUID__", esl.NewUUID(), "__DEST__", ch.dest,
		"__CALLEE__", callee, "__REFERRED_BY__", spec.ReferredBy,
		"__EPOCH__", strconv.FormatInt(now.Unix(), 10), "__PROFUUID__", prof)
	for _, kv := range templateVars("transfer", r) {
		if kv[1] == "" {
			continue // no Referred-By header
		}
		ch.vars.set(kv[0], kv[1])
	}
}

// acceptLoop serves the inbound event socket.
func (s *Switch) acceptLoop() {
	defer s.wg.Done()
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = nc.Close()
			return
		}
		s.connSeq++
		c := newConn(s, nc, fmt.Sprintf("in%d", s.connSeq), true)
		s.addConn(c)
		c.push([]byte("Content-Type: auth/request\n\n"), kindReply)
		s.wg.Add(2)
		go c.writer()
		go s.serve(c)
		s.mu.Unlock()
	}
}

// serve reads commands from one connection until it ends.
func (s *Switch) serve(c *conn) {
	defer s.wg.Done()
	src := newArrivalReader(c.nc, s.opts.OnCommand != nil)
	r := esl.NewReader(src)
	_ = c.nc.SetReadDeadline(time.Now().Add(s.opts.ConnectTimeout))
	first := true
	for {
		cmd, err := r.ReadCommand()
		if err != nil {
			break
		}
		if s.opts.OnCommand != nil {
			s.opts.OnCommand(c.hookLabel(), strings.TrimSpace(cmd.Line), src.arrived())
		}
		if first && !c.inbound {
			first = false
			_ = c.nc.SetReadDeadline(time.Time{})
		}
		if s.opts.Trace != nil {
			f := esl.AppendFrame([]byte(cmd.Line+"\n"), esl.Frame{Headers: cmd.Headers, Body: cmd.Body})
			s.trace(c.label, ">>", f)
		}
		s.handle(c, cmd)
	}
	s.connGone(c)
}

// connGone handles the end of a connection's reader: for an outbound
// socket that did not say exit, a plain TCP close, which to the channel is
// the same as exit.
func (s *Switch) connGone(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.removeConn(c)
	if c.gone {
		return
	}
	c.gone = true
	c.kill()
	if ch := c.ch; ch != nil && ch.sock == c {
		ch.sock = nil
		if c.connected {
			ch.socketClosed()
		}
		ch.notify() // SocketConnected changed, hung up or not
		// Closed before its connect, the real socket application goes on
		// to park the channel after its listener ended, a park nothing
		// ends: the call stays, silent, until it hangs up or is killed
		// (docs/freeswitch.md#socket-closed-before-connect).
	}
}

// handle runs one client command.
func (s *Switch) handle(c *conn, cmd esl.Command) {
	line := strings.TrimSpace(cmd.Line)
	word, rest := cut(line)
	lw := strings.ToLower(word)

	s.mu.Lock()
	if c.inbound {
		s.record("in: ", line)
	} else {
		s.record("out "+c.ch.uuid+": ", line)
	}
	if c.gone || s.closed {
		s.mu.Unlock()
		return
	}
	if c.inbound && !c.authed {
		defer s.mu.Unlock()
		switch lw {
		case "auth":
			if rest == s.opts.Password {
				c.authed = true
				_ = c.nc.SetReadDeadline(time.Time{})
				c.reply("+OK accepted")
				return
			}
			c.reply("-ERR invalid")
			c.sendNotice(disconnectNotice("", goodbye))
			c.closeAfterFlush()
			c.gone = true
		case "exit":
			s.exit(c)
		default:
			c.reply("-ERR command not found")
		}
		return
	}

	switch lw {
	case "api":
		s.mu.Unlock()
		c.beginHold()
		res := s.api(rest)
		c.endHold(apiResponse(res))
		return
	case "bgapi":
		job := cmd.Headers.Get("Job-UUID")
		if job == "" {
			job = esl.NewUUID()
		}
		c.reply("+OK Job-UUID: "+job, hdr("Job-UUID", job))
		owner := ""
		if c.ch != nil {
			owner = c.ch.uuid
		}
		jc, ja := cut(rest)
		finish := func(res string) { s.backgroundJob(job, owner, jc, ja, res) }
		if strings.EqualFold(jc, "originate") {
			s.originateStart(ja, finish)
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			res := s.api(rest)
			s.mu.Lock()
			defer s.mu.Unlock()
			if !s.closed {
				finish(res)
			}
		}()
		return
	}
	defer s.mu.Unlock()
	switch lw {
	case "connect":
		if c.inbound {
			c.reply("-ERR command not found")
			return
		}
		s.connect(c)
	case "myevents":
		uuid := ""
		for _, f := range strings.Fields(rest) {
			if l := strings.ToLower(f); l != "plain" && l != "json" && l != "xml" {
				uuid = f
			}
		}
		if uuid == "" && c.ch != nil {
			uuid = c.ch.uuid
		}
		if uuid == "" {
			c.reply("-ERR invalid uuid")
			return
		}
		c.sub.myevents = uuid
		s.indexConn(c)
		c.sub.addNames(myEventNames)
		c.reply("+OK Events Enabled")
	case "event":
		f := strings.Fields(rest)
		format := "plain"
		if len(f) > 0 {
			if l := strings.ToLower(f[0]); l == "plain" || l == "json" || l == "xml" {
				format, f = l, f[1:]
			}
		}
		c.sub.addNames(f)
		c.reply("+OK event listener enabled " + format)
	case "nixevent":
		for _, n := range strings.Fields(rest) {
			n = strings.ToUpper(n)
			if n == "ALL" {
				c.sub.all = false
				c.sub.names = nil
			}
			delete(c.sub.names, n)
		}
		c.reply("+OK events nixed")
	case "noevents":
		c.sub.all = false
		c.sub.names = nil
		c.sub.myevents = ""
		s.indexConn(c)
		c.reply("+OK no longer listening for events")
	case "filter":
		h, v := cut(rest)
		if strings.EqualFold(h, "delete") {
			h, v = cut(v)
			c.sub.deleteFilter(h, v)
			c.reply(fmt.Sprintf("+OK filter deleted. [%s]=[%s]", h, v))
			return
		}
		if h == "" {
			c.reply("-ERR invalid syntax")
			return
		}
		c.sub.addFilter(h, v)
		c.reply(fmt.Sprintf("+OK filter added. [%s]=[%s]", h, v))
	case "linger":
		if c.inbound {
			c.reply("-ERR not controlling a session")
			return
		}
		c.linger, c.lingerSecs = true, -1
		if n, err := strconv.Atoi(strings.TrimSpace(rest)); err == nil && n > 0 {
			c.lingerSecs = n
			c.reply(fmt.Sprintf("+OK will linger %d seconds", n))
			return
		}
		c.reply("+OK will linger")
	case "nolinger":
		if c.inbound {
			c.reply("-ERR not controlling a session")
			return
		}
		c.linger = false
		c.reply("+OK will not linger")
	case "resume":
		if c.inbound {
			c.reply("-ERR not controlling a session")
			return
		}
		c.reply("+OK")
	case "sendmsg":
		uuid := strings.TrimSpace(rest)
		if uuid == "" && c.ch != nil {
			uuid = c.ch.uuid
		}
		target := s.channels[uuid]
		if target == nil {
			c.reply("-ERR invalid session id [" + uuid + "]")
			return
		}
		c.reply("+OK")
		target.sendmsg(cmd)
	case "sendevent":
		name := strings.ToUpper(strings.TrimSpace(rest))
		if name == "" {
			name = "CUSTOM"
		}
		id := esl.NewUUID()
		ev := s.newEvent(name, "mod_event_socket.c", "parse_command", 2283)
		for _, h := range cmd.Headers {
			if !strings.EqualFold(h.Name, "Content-Length") {
				ev.Headers = append(ev.Headers, h)
			}
		}
		ev.Body = cmd.Body
		c.reply("+OK " + id)
		if name == "PRESENCE_IN" {
			s.recordPresence(cmd.Headers)
		}
		s.dispatch(ev)
	case "log":
		c.reply("+OK log level 7 [7]")
	case "nolog":
		c.reply("+OK no longer logging")
	case "exit":
		s.exit(c)
	default:
		c.reply("-ERR command not found")
	}
}

// exit answers "exit": +OK bye, the disconnect notice, EOF. On an outbound
// socket the channel then sees the socket close.
func (s *Switch) exit(c *conn) {
	c.reply("+OK bye")
	session := ""
	if c.ch != nil {
		session = c.ch.uuid
	}
	c.sendNotice(disconnectNotice(session, goodbye))
	c.closeAfterFlush()
	c.gone = true
	if ch := c.ch; ch != nil && ch.sock == c {
		ch.sock = nil
		if c.connected {
			ch.socketClosed()
		}
		ch.notify() // SocketConnected changed, hung up or not
		// Closed before its connect, the real socket application goes on
		// to park the channel after its listener ended, a park nothing
		// ends: the call stays, silent, until it hangs up or is killed
		// (docs/freeswitch.md#socket-closed-before-connect).
	}
}

// connect answers an outbound "connect" with the CHANNEL_DATA reply, then the
// socket app parks the channel (its CHANNEL_PARK fires before myevents).
func (s *Switch) connect(c *conn) {
	ch := c.ch
	h := ch.channelData(true, "parse_command", 2029)
	mode := "async"
	if ch.sync {
		mode = "static"
	}
	h = append(h,
		hdr("Content-Type", esl.TypeReply),
		hdr("Reply-Text", "+OK\n"),
		hdr("Socket-Mode", mode),
		hdr("Control", "full"))
	c.push((&esl.Event{Headers: h}).AppendPlain(nil), kindReply)
	if c.connected {
		return
	}
	c.connected = true
	if a := ch.socketApp; a != nil && ch.alive && ch.sock == c && !a.parks {
		a.parks = true
		ch.fullEvent("CHANNEL_PARK")
		ch.notify()
	}
}

// backgroundJob fires BACKGROUND_JOB. Called with s.mu held.
func (s *Switch) backgroundJob(job, owner, command, arg, res string) {
	h := []esl.Header{hdr("Job-UUID", job)}
	if owner != "" {
		h = append(h, hdr("Job-Owner-UUID", owner))
	}
	h = append(h, hdr("Job-Command", command))
	if arg != "" {
		h = append(h, hdr("Job-Command-Arg", arg))
	}
	ev := s.newEvent("BACKGROUND_JOB", "mod_event_socket.c", "api_exec", 1580, h...)
	ev.Body = []byte(res)
	s.dispatch(ev)
}

// sendmsg runs a sendmsg on the channel. Called with s.mu held.
func (ch *Channel) sendmsg(cmd esl.Command) {
	h := cmd.Headers
	switch strings.ToLower(strings.TrimSpace(h.Get("call-command"))) {
	case "execute":
		name := strings.TrimSpace(h.Get("execute-app-name"))
		arg := h.Get("execute-app-arg")
		if arg == "" && len(cmd.Body) > 0 {
			arg = strings.TrimRight(string(cmd.Body), "\r\n")
		}
		loops, _ := strconv.Atoi(strings.TrimSpace(h.Get("loops")))
		if loops < 1 {
			loops = 1
		}
		ch.queueMsg(&app{name: name, data: arg, uuid: h.Get("Event-UUID"), loops: loops - 1})
	case "hangup":
		cause := strings.TrimSpace(h.Get("hangup-cause"))
		if cause == "" {
			cause = "NORMAL_CLEARING"
		}
		ch.hangup(cause, "send_bye")
	}
}

// CloseSocket closes the channel's outbound socket from the switch's side,
// mid-command or mid-application, without an exit, a disconnect notice or
// a hangup: the client reads what was already queued for it (the reply to
// the command that started the application, say) and then EOF. The
// channel carries on as when its socket goes away: an application started
// inside the socket app, such as a playback, plays on. It does nothing when
// the channel has no socket.
func (ch *Channel) CloseSocket() { ch.dropSocket(false) }

// ResetSocket is CloseSocket with a TCP reset instead of an orderly close:
// the client's read fails with "connection reset by peer" (and data not
// yet read by the client may be lost with it).
func (ch *Channel) ResetSocket() { ch.dropSocket(true) }

func (ch *Channel) dropSocket(reset bool) {
	ch.s.mu.Lock()
	defer ch.s.mu.Unlock()
	c := ch.sock
	if c == nil || c.gone {
		return
	}
	if tc, ok := c.nc.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0) // Close sends RST
	}
	// The writer closes the connection once the queue is written; the
	// reader then ends and runs connGone, which tells the channel
	// (socketClosed) as for a client that went away.
	c.closeAfterFlush()
}

// socketClosed applies docs/freeswitch.md#socket-close-ends-the-park-loop
// when the outbound socket goes away
// (exit or TCP close): the park loop running at that moment ends.
// Called with s.mu held, after ch.sock was cleared.
func (ch *Channel) socketClosed() {
	if !ch.alive {
		return
	}
	defer ch.notify()
	switch {
	case ch.uuidParked:
		if !ch.dormant {
			ch.dormant = true
			ch.fullEvent("CHANNEL_UNPARK")
		}
	case ch.socketApp != nil:
		ch.msgs = nil
		if len(ch.stack) > 1 || ch.curMsg != nil {
			return // music started inside the socket app plays on
		}
		ch.endApp(ch.socketApp, "_none_")
		ch.runNext()
	case len(ch.stack) > 0 && ch.stack[0].name == "park" && ch.stack[0].controlled:
		ch.finishApp(ch.stack[0], "_none_")
	}
}

// cut splits off the first space-separated word.
func cut(s string) (string, string) {
	s = strings.TrimSpace(s)
	w, rest, _ := strings.Cut(s, " ")
	return w, strings.TrimSpace(rest)
}

// setVars sets the dialplan's variables on ch in name order, so that the
// connect reply's headers come in the same order on every run. Called with
// s.mu held.
func (ch *Channel) setVars(vars map[string]string) {
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ch.vars.set(k, vars[k])
	}
}

// startSocket starts the dialplan's `socket <addr> async full` on ch;
// dialSocket then connects it. Called with s.mu held.
func (ch *Channel) startSocket(addr string) *app {
	sa := &app{name: "socket", data: addr + " async full", endless: true}
	ch.socketApp = sa
	ch.startApp(sa)
	return sa
}
