package fstest

import (
	"strconv"
	"strings"
	"time"

	"github.com/parkd/parkd/esl"
)

// Endpoint scripts a registered SIP phone that originate calls.
type Endpoint struct {
	// AnswerAfter is how long the phone rings before it answers.
	AnswerAfter time.Duration
	// Busy: 486 Busy Here at once, originate fails USER_BUSY.
	Busy bool
	// NoAnswer: rings until originate_timeout, originate fails NO_ANSWER.
	NoAnswer bool
	// Reject: the phone declines, originate fails CALL_REJECTED.
	Reject bool
}

// Register registers a SIP user, so that originate user/<user> reaches ep.
// A user given as user@domain is reached only by user/<user>@<domain>;
// a plain user by user/<user> in any domain.
// Originating to an unregistered user fails USER_NOT_REGISTERED with no
// channel created.
func (s *Switch) Register(user string, ep Endpoint) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endpoints[user] = ep
	s.registered.Store(user, ep) // for the peers (peer.go)
}

// Invite is what one originate sent to a phone.
type Invite struct {
	User string
	// Domain is the domain of a user/<user>@<domain> dial string; "" for
	// none.
	Domain string
	// Peer is the host of a sofia/<profile>/<user>@<host> dial string
	// that reached a peer switch (Switch.Peer): the phone rang there.
	Peer string
	// AlertInfo is the Alert-Info header: alert_info, verbatim.
	AlertInfo string
	// CallerIDName and CallerIDNumber are the From display and user after
	// mod_sofia's sanitising (docs/freeswitch.md#caller-id-name-mangling).
	CallerIDName, CallerIDNumber string
	// UUID is the originated leg's Unique-ID.
	UUID string
	// Vars are the variables of the {...} block, after FreeSWITCH's parsing.
	Vars map[string]string
	At   time.Time
}

// Invites returns every INVITE sent so far, in order.
func (s *Switch) Invites() []Invite {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Invite, len(s.invites))
	for i, inv := range s.invites {
		inv.Vars = copyMap(inv.Vars)
		out[i] = inv
	}
	return out
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// origination is a ringing originate.
type origination struct {
	ch    *Channel
	done  func(string)
	timer *timer
	fired bool
}

// resolve reports the originate result once. Called with s.mu held.
func (o *origination) resolve(res string) {
	if o.fired {
		return
	}
	o.fired = true
	o.ch.s.cancel(o.timer)
	o.ch.orig = nil
	o.done(res)
}

// sanitizeCID is switch_sanitize_number as mod_sofia applies it to the
// caller-ID name and number of outgoing calls: everything from the first '@'
// goes, and everything up to the last ':' or '/'.
func sanitizeCID(s string) string {
	if i := strings.IndexByte(s, '@'); i >= 0 {
		s = s[:i]
	}
	if i := strings.LastIndexAny(s, ":/"); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// originateStart starts "originate <url> <exten>|&app(args) ...". done gets
// the api result exactly once, with s.mu held, maybe before this returns.
// Called with s.mu held.
func (s *Switch) originateStart(args string, done func(string)) {
	argv := splitBlank(args)
	if len(argv) < 2 {
		done("-USAGE: <call url> <exten>|&<application_name>(<app_args>) [<dialplan>] [<context>] [<cid_name>] [<cid_num>] [<timeout_sec>]\n")
		return
	}
	url := argv[0]
	var vars [][2]string
	for len(url) > 0 && (url[0] == '{' || url[0] == '[' || url[0] == '<') {
		open, closeCh := url[0], map[byte]byte{'{': '}', '[': ']', '<': '>'}[url[0]]
		end := findEnd(url, open, closeCh)
		if end < 0 {
			done("-ERR INVALID_URL\n")
			return
		}
		for _, tok := range splitChar(url[1:end], ',') {
			if k, v, ok := strings.Cut(tok, "="); ok {
				vars = append(vars, [2]string{strings.TrimSpace(k), v})
			}
		}
		url = url[end+1:]
	}
	vm := map[string]string{}
	for _, kv := range vars {
		vm[kv[0]] = kv[1]
	}
	var user, domain, host string
	switch {
	case strings.HasPrefix(url, "user/"):
		user, domain, _ = strings.Cut(strings.TrimPrefix(url, "user/"), "@")
	case strings.HasPrefix(url, "sofia/"):
		parts := strings.SplitN(url, "/", 3)
		if len(parts) == 3 {
			user, host, _ = strings.Cut(parts[2], "@")
		}
	default:
		done("-ERR DESTINATION_OUT_OF_ORDER\n")
		return
	}
	ep, ok := s.endpoints[user+"@"+domain]
	if !ok {
		ep, ok = s.endpoints[user]
	}
	peer := ""
	if p := s.peers[host]; p != nil {
		// A call to another node rings the phone registered there
		// (that node's dialplan routes it to the user).
		ep, ok = p.registeredEndpoint(user)
		peer = host
	}
	if !ok {
		done("-ERR USER_NOT_REGISTERED\n")
		return
	}
	uuid := vm["origination_uuid"]
	if uuid == "" || s.channels[uuid] != nil {
		uuid = esl.NewUUID()
	}
	timeout := 60 * time.Second
	if v, err := strconv.ParseFloat(vm["originate_timeout"], 64); err == nil && v > 0 {
		timeout = time.Duration(v * float64(time.Second))
	} else if len(argv) > 6 {
		if v, err := strconv.Atoi(argv[6]); err == nil && v > 0 {
			timeout = time.Duration(v) * time.Second
		}
	}
	cidName, cidNum := vm["origination_caller_id_name"], vm["origination_caller_id_number"]
	if cidName == "" {
		cidName = "FreeSWITCH"
	}
	if cidNum == "" {
		cidNum = "0000000000"
	}
	ch := s.newChannel(uuid, "outbound", user, cidName, cidNum, user)
	for _, kv := range vars {
		ch.vars.set(kv[0], kv[1])
	}
	ch.fullEvent("CHANNEL_ORIGINATE")
	s.invites = append(s.invites, Invite{
		User: user, Domain: domain, Peer: peer, AlertInfo: vm["alert_info"], CallerIDName: sanitizeCID(cidName),
		CallerIDNumber: sanitizeCID(cidNum), UUID: uuid, Vars: vm, At: time.Now(),
	})
	o := &origination{ch: ch, done: done}
	ch.orig = o
	exten := argv[1]
	switch {
	case ep.Busy:
		ch.hangup("USER_BUSY", "recv_refuse")
	case ep.Reject:
		ch.hangup("CALL_REJECTED", "recv_refuse")
	default:
		ch.setState("CS_CONSUME_MEDIA")
		ch.setCallState("RINGING")
		ch.event("CHANNEL_PROGRESS", evOpts{level: levelFull})
		if ep.NoAnswer || ep.AnswerAfter >= timeout {
			o.timer = s.after(timeout, func() { ch.hangup("NO_ANSWER", "send_cancel") })
			return
		}
		o.timer = s.after(ep.AnswerAfter, func() {
			o.timer = nil
			ch.media = true
			ch.markAnswered()
			o.resolve("+OK " + ch.uuid + "\n")
			ch.startOriginated(exten)
		})
	}
}

// startOriginated runs what originate gave the answered leg: &app(args) or
// an extension (out of the model).
func (ch *Channel) startOriginated(exten string) {
	if !ch.alive {
		return
	}
	ch.setState("CS_EXECUTE")
	if strings.HasPrefix(exten, "&") {
		name, args, _ := strings.Cut(exten[1:], "(")
		args = strings.TrimSuffix(args, ")")
		ch.plan = []string{strings.TrimSpace(name + " " + args)}
		ch.runNext()
		return
	}
	ch.dest = exten
	ch.extern = true
	ch.appName, ch.appData = "transfer", exten
	ch.notify()
}

// findEnd finds the bracket closing s[0], counting nesting (switch_find_end_paren).
func findEnd(s string, open, closeCh byte) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case open:
			depth++
		case closeCh:
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

// splitBlank splits on spaces as switch_separate_string(' ') does: quotes
// group, a backslash escapes, and quotes are then removed.
func splitBlank(s string) []string {
	var out []string
	for _, tok := range tokenize(s, ' ') {
		if tok = strings.TrimSpace(tok); tok != "" {
			out = append(out, cleanup(tok, 0))
		}
	}
	return out
}

// splitChar splits on a delimiter as switch_separate_string does, then
// removes quotes and the escapes of the delimiter.
func splitChar(s string, delim byte) []string {
	toks := tokenize(s, delim)
	for i, t := range toks {
		toks[i] = strings.TrimSpace(cleanup(t, delim))
	}
	return toks
}

// tokenize splits s at delim outside quotes. A quote opens only if another
// quote follows; a backslash protects the next byte.
func tokenize(s string, delim byte) []string {
	var out []string
	start, inQuotes := 0, false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			i++
		case c == '\'' && (inQuotes || strings.IndexByte(s[i+1:], '\'') >= 0):
			inQuotes = !inQuotes
		case c == delim && !inQuotes:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// cleanup is cleanup_separated_string: it drops quotes and resolves escapes
// of quotes, backslashes, the delimiter and \n \r \t \s.
func cleanup(s string, delim byte) string {
	var b strings.Builder
	inQuotes := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '\\' && i+1 < len(s) {
			e := s[i+1]
			un := map[byte]byte{'n': '\n', 'r': '\r', 't': '\t', 's': ' '}[e]
			switch {
			case e == '\'' || e == '"' || e == '\\' || (delim != 0 && e == delim):
				b.WriteByte(e)
				i++
				continue
			case un != 0:
				b.WriteByte(un)
				i++
				continue
			}
		}
		if c == '\'' && (inQuotes || strings.IndexByte(s[i+1:], '\'') >= 0) {
			inQuotes = !inQuotes
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
