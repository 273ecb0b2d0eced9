package fstest

import (
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/parkd/parkd/esl"
)

func hdr(name, value string) esl.Header { return esl.Header{Name: name, Value: value} }

// origin is where FreeSWITCH fires an event (Event-Calling-*), as in the transcripts.
type origin struct {
	file, fn string
	line     int
}

var origins = map[string]origin{
	"CHANNEL_STATE":            {"switch_channel.c", "switch_channel_perform_set_running_state", 2409},
	"CHANNEL_CREATE":           {"switch_core_state_machine.c", "switch_core_session_run", 626},
	"CHANNEL_ORIGINATE":        {"switch_core_state_machine.c", "switch_core_session_run", 632},
	"CHANNEL_CALLSTATE":        {"switch_channel.c", "switch_channel_perform_set_callstate", 302},
	"CHANNEL_EXECUTE":          {"switch_core_session.c", "switch_core_session_exec", 2949},
	"CHANNEL_EXECUTE_COMPLETE": {"switch_core_session.c", "switch_core_session_exec", 2972},
	"CHANNEL_PARK":             {"switch_ivr.c", "switch_ivr_park", 1002},
	"CHANNEL_UNPARK":           {"switch_ivr.c", "switch_ivr_park", 1213},
	"CHANNEL_PROGRESS":         {"switch_channel.c", "switch_channel_perform_mark_ring_ready_value", 3431},
	"CHANNEL_PROGRESS_MEDIA":   {"switch_channel.c", "switch_channel_perform_mark_pre_answered", 3562},
	"CHANNEL_ANSWER":           {"switch_channel.c", "switch_channel_perform_mark_answered", 3848},
	"CHANNEL_HANGUP":           {"switch_channel.c", "switch_channel_perform_hangup", 3447},
	"CHANNEL_HANGUP_COMPLETE":  {"switch_core_state_machine.c", "switch_core_session_reporting_state", 943},
	"CHANNEL_DESTROY":          {"switch_core_session.c", "switch_core_session_perform_destroy", 1588},
	"CHANNEL_BRIDGE":           {"switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1689},
	"CHANNEL_UNBRIDGE":         {"switch_ivr_bridge.c", "switch_ivr_multi_threaded_bridge", 1879},
	"CHANNEL_DATA":             {"mod_event_socket.c", "parse_command", 2029},
	"BACKGROUND_JOB":           {"mod_event_socket.c", "api_exec", 1580},
	"SHUTDOWN":                 {"switch_core.c", "switch_core_destroy", 3033},
}

// baseHeaders are the headers every event starts with. Called with s.mu held;
// it consumes an Event-Sequence number.
func (s *Switch) baseHeaders(name, file, fn string, line int) esl.Headers {
	now := time.Now()
	s.seq++
	return esl.Headers{
		hdr("Event-Name", name),
		hdr("Core-UUID", s.coreUUID),
		hdr("FreeSWITCH-Hostname", s.opts.Hostname),
		hdr("FreeSWITCH-Switchname", s.opts.Hostname),
		hdr("FreeSWITCH-IPv4", "127.0.0.1"),
		hdr("FreeSWITCH-IPv6", "::1"),
		hdr("Event-Date-Local", now.Format("2006-01-02 15:04:05")),
		hdr("Event-Date-GMT", now.UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")),
		hdr("Event-Date-Timestamp", strconv.FormatInt(now.UnixMicro(), 10)),
		hdr("Event-Calling-File", file),
		hdr("Event-Calling-Function", fn),
		hdr("Event-Calling-Line-Number", strconv.Itoa(line)),
		hdr("Event-Sequence", strconv.FormatUint(s.seq, 10)),
	}
}

// newEvent builds a non-channel event. Called with s.mu held.
func (s *Switch) newEvent(name, file, fn string, line int, extra ...esl.Header) *esl.Event {
	h := s.baseHeaders(name, file, fn, line)
	return &esl.Event{Headers: append(h, extra...)}
}

// dispatch sends an event to every connection subscribed to it. Called with
// s.mu held.
func (s *Switch) dispatch(ev *esl.Event) {
	var frame []byte
	// The headers every subscription tests are looked up once per event,
	// not once per connection: with thousands of sockets open that lookup
	// was most of the simulator's time.
	k := eventKey{name: ev.Name(), uniqueID: ev.Get("Unique-ID"), jobOwner: ev.Get("Job-Owner-UUID")}
	s.candidates(k, func(c *conn) bool {
		if c.gone || !c.authed || !c.sub.wants(ev, k) {
			return true
		}
		if frame == nil {
			frame = esl.AppendEventFrame(nil, *ev)
		}
		c.sendNotice(frame)
		return true
	})
}

// anyMayWant reports whether some connection could receive an event with
// key k. Called with s.mu held.
func (s *Switch) anyMayWant(k eventKey) bool {
	found := false
	s.candidates(k, func(c *conn) bool {
		found = !c.gone && c.authed && c.sub.mayWant(k)
		return !found
	})
	return found
}

// candidates calls fn, until it returns false, for every connection whose
// subscription could take an event with key k: those without myevents,
// and those whose myevents is the event's channel or job owner. With a
// socket per call, testing every connection for every event grew with the
// number of calls. Called with s.mu held.
func (s *Switch) candidates(k eventKey, fn func(*conn) bool) {
	for c := range s.broad {
		if !fn(c) {
			return
		}
	}
	for c := range s.mine[k.uniqueID] {
		if !fn(c) {
			return
		}
	}
	if k.jobOwner != "" && k.jobOwner != k.uniqueID {
		for c := range s.mine[k.jobOwner] {
			if !fn(c) {
				return
			}
		}
	}
}

// addConn registers a new connection. Called with s.mu held.
func (s *Switch) addConn(c *conn) {
	s.conns[c] = struct{}{}
	s.indexConn(c)
}

// removeConn forgets a connection. Called with s.mu held.
func (s *Switch) removeConn(c *conn) {
	delete(s.conns, c)
	s.unindexConn(c)
}

// indexConn files c under its subscription's myevents UUID, or among the
// broad subscribers. Called with s.mu held, whenever myevents changes.
func (s *Switch) indexConn(c *conn) {
	s.unindexConn(c)
	if _, ok := s.conns[c]; !ok {
		return
	}
	c.indexed, c.indexedAs = true, c.sub.myevents
	if c.indexedAs == "" {
		s.broad[c] = struct{}{}
		return
	}
	m := s.mine[c.indexedAs]
	if m == nil {
		m = map[*conn]struct{}{}
		s.mine[c.indexedAs] = m
	}
	m[c] = struct{}{}
}

func (s *Switch) unindexConn(c *conn) {
	if !c.indexed {
		return
	}
	if c.indexedAs == "" {
		delete(s.broad, c)
	} else if m := s.mine[c.indexedAs]; m != nil {
		delete(m, c)
		if len(m) == 0 {
			delete(s.mine, c.indexedAs)
		}
	}
	c.indexed = false
}

// Detail levels of channel events.
const (
	levelMinimal = iota // CHANNEL_STATE CS_NEW: channel headers only
	levelProfile        // + caller profile (CHANNEL_STATE, CHANNEL_CALLSTATE)
	levelFull           // + variables (everything else)
)

// evOpts shape one channel event.
type evOpts struct {
	pre      esl.Headers // after the base headers (Bridge-A-Unique-ID, Hangup-Cause, ...)
	post     esl.Headers // after the variables (Application, ...)
	level    int
	stateNum int // Channel-State-Number override; 0 = from the state
}

// event builds and dispatches a channel event. An event nobody can
// receive is not built (it still takes its Event-Sequence number, as in
// FreeSWITCH): building every event in full was most of the simulator's
// work under load. Called with s.mu held.
func (ch *Channel) event(name string, o evOpts) {
	s := ch.s
	if !s.anyMayWant(eventKey{name: name, uniqueID: ch.uuid}) {
		s.seq++
		return
	}
	og := origins[name]
	h := s.baseHeaders(name, og.file, og.fn, og.line)
	h = append(h, o.pre...)
	h = ch.appendChannelHeaders(h, o.level, o.stateNum)
	h = append(h, o.post...)
	s.dispatch(&esl.Event{Headers: h})
}

// fullEvent is the common case: a channel event with variables.
func (ch *Channel) fullEvent(name string, post ...esl.Header) {
	ch.event(name, evOpts{level: levelFull, post: post})
}

var stateNumbers = map[string]int{
	"CS_NEW": 0, "CS_INIT": 1, "CS_ROUTING": 2, "CS_SOFT_EXECUTE": 3, "CS_EXECUTE": 4,
	"CS_EXCHANGE_MEDIA": 5, "CS_PARK": 6, "CS_CONSUME_MEDIA": 7, "CS_HIBERNATE": 8,
	"CS_RESET": 9, "CS_HANGUP": 10, "CS_REPORTING": 11, "CS_DESTROY": 12,
}

// appendChannelHeaders appends what switch_channel_event_set_data adds.
func (ch *Channel) appendChannelHeaders(h esl.Headers, level, stateNum int) esl.Headers {
	n := stateNumbers[ch.state]
	if stateNum != 0 {
		n = stateNum
	}
	dir := ch.direction
	h = append(h,
		hdr("Channel-State", ch.state),
		hdr("Channel-Call-State", ch.callState),
		hdr("Channel-State-Number", strconv.Itoa(n)),
		hdr("Channel-Name", ch.name),
		hdr("Unique-ID", ch.uuid),
		hdr("Call-Direction", dir),
		hdr("Presence-Call-Direction", dir),
		hdr("Channel-HIT-Dialplan", strconv.FormatBool(dir == "inbound")),
	)
	if level > levelMinimal {
		h = append(h, hdr("Channel-Presence-ID", ch.user+"@127.0.0.1"))
	}
	h = append(h, hdr("Channel-Call-UUID", ch.uuid), hdr("Answer-State", ch.answerState))
	if ch.hangupCause != "" {
		h = append(h, hdr("Hangup-Cause", ch.hangupCause))
	}
	if ch.media {
		h = append(h,
			hdr("Channel-Read-Codec-Name", "PCMU"), hdr("Channel-Read-Codec-Rate", "8000"),
			hdr("Channel-Read-Codec-Bit-Rate", "64000"), hdr("Channel-Write-Codec-Name", "PCMU"),
			hdr("Channel-Write-Codec-Rate", "8000"), hdr("Channel-Write-Codec-Bit-Rate", "64000"))
	}
	if level == levelMinimal {
		return h
	}
	h = ch.appendProfile(h, "Caller-")
	if o := ch.bridge; o != nil {
		if ch.bridgeA {
			h = append(h, hdr("Other-Type", "originatee"))
		} else {
			h = append(h, hdr("Other-Type", "originator"))
		}
		h = o.appendProfile(h, "Other-Leg-")
	}
	if level == levelFull {
		h = ch.appendVars(h)
	}
	return h
}

// Caller-profile header suffixes, in FreeSWITCH's order (optional ones
// included; appendProfile skips those without a value).
const (
	pDirection = iota
	pLogicalDirection
	pUsername
	pDialplan
	pCallerIDName
	pCallerIDNumber
	pOrigCallerIDName
	pOrigCallerIDNumber
	pCalleeIDName
	pCalleeIDNumber
	pNetworkAddr
	pANI
	pDestinationNumber
	pUniqueID
	pSource
	pTransferSource
	pContext
	pRDNIS
	pChannelName
	pProfileIndex
	pProfileCreatedTime
	pChannelCreatedTime
	pChannelAnsweredTime
	pChannelProgressTime
	pChannelProgressMediaTime
	pChannelHangupTime
	pChannelTransferTime
	pChannelResurrectTime
	pChannelBridgedTime
	pChannelLastHold
	pChannelHoldAccum
	pScreenBit
	pPrivacyHideName
	pPrivacyHideNumber
	pCount
)

var profileSuffixes = [pCount]string{
	"Direction", "Logical-Direction", "Username", "Dialplan", "Caller-ID-Name", "Caller-ID-Number",
	"Orig-Caller-ID-Name", "Orig-Caller-ID-Number", "Callee-ID-Name", "Callee-ID-Number",
	"Network-Addr", "ANI", "Destination-Number", "Unique-ID", "Source", "Transfer-Source", "Context",
	"RDNIS", "Channel-Name", "Profile-Index", "Profile-Created-Time", "Channel-Created-Time",
	"Channel-Answered-Time", "Channel-Progress-Time", "Channel-Progress-Media-Time",
	"Channel-Hangup-Time", "Channel-Transfer-Time", "Channel-Resurrect-Time", "Channel-Bridged-Time",
	"Channel-Last-Hold", "Channel-Hold-Accum", "Screen-Bit", "Privacy-Hide-Name", "Privacy-Hide-Number",
}

// profileNames holds the prefixed header names of the three profiles an
// event carries, built once instead of concatenated per header per event.
var profileNames = func() map[string]*[pCount]string {
	m := map[string]*[pCount]string{}
	for _, p := range []string{"Caller-", "Channel-", "Other-Leg-"} {
		var n [pCount]string
		for i, sfx := range profileSuffixes {
			n[i] = p + sfx
		}
		m[p] = &n
	}
	return m
}()

// appendProfile appends the caller profile with a prefix: "Caller-",
// "Channel-" (the connect reply) or "Other-Leg-".
func (ch *Channel) appendProfile(h esl.Headers, p string) esl.Headers {
	us := func(t time.Time) string {
		if t.IsZero() {
			return "0"
		}
		return strconv.FormatInt(t.UnixMicro(), 10)
	}
	n := profileNames[p]
	h = append(h,
		hdr(n[pDirection], ch.direction),
		hdr(n[pLogicalDirection], ch.direction),
		hdr(n[pUsername], ch.user),
		hdr(n[pDialplan], "XML"),
		hdr(n[pCallerIDName], ch.cidName),
		hdr(n[pCallerIDNumber], ch.cidNum),
		hdr(n[pOrigCallerIDName], ch.cidName),
		hdr(n[pOrigCallerIDNumber], ch.cidNum),
	)
	if ch.calleeNum != "" {
		h = append(h, hdr(n[pCalleeIDName], ch.calleeName), hdr(n[pCalleeIDNumber], ch.calleeNum))
	}
	h = append(h,
		hdr(n[pNetworkAddr], "127.0.0.1"),
		hdr(n[pANI], ch.cidNum),
		hdr(n[pDestinationNumber], ch.dest),
		hdr(n[pUniqueID], ch.uuid),
		hdr(n[pSource], "mod_sofia"),
	)
	if ch.transferSource != "" {
		h = append(h, hdr(n[pTransferSource], ch.transferSource))
	}
	h = append(h, hdr(n[pContext], "default"))
	if ch.rdnis != "" {
		h = append(h, hdr(n[pRDNIS], ch.rdnis))
	}
	h = append(h,
		hdr(n[pChannelName], ch.name),
		hdr(n[pProfileIndex], strconv.Itoa(ch.profileIndex)),
		hdr(n[pProfileCreatedTime], us(ch.profileCreated)),
		hdr(n[pChannelCreatedTime], us(ch.created)),
		hdr(n[pChannelAnsweredTime], us(ch.answeredAt)),
		hdr(n[pChannelProgressTime], "0"),
		hdr(n[pChannelProgressMediaTime], us(ch.answeredAt)),
		hdr(n[pChannelHangupTime], us(ch.hungupAt)),
		hdr(n[pChannelTransferTime], "0"),
		hdr(n[pChannelResurrectTime], "0"),
		hdr(n[pChannelBridgedTime], us(ch.bridgedAt)),
		hdr(n[pChannelLastHold], "0"),
		hdr(n[pChannelHoldAccum], "0"),
		hdr(n[pScreenBit], "true"),
		hdr(n[pPrivacyHideName], "false"),
		hdr(n[pPrivacyHideNumber], "false"),
	)
	return h
}

// appendVars appends every channel variable as variable_<name>.
func (ch *Channel) appendVars(h esl.Headers) esl.Headers {
	for i, k := range ch.vars.names {
		h = append(h, hdr(ch.vars.headers[i], ch.vars.m[k]))
	}
	return h
}

// channelData is the CHANNEL_DATA event of the connect reply and uuid_dump:
// with connect set, the caller profile also comes first as Channel-*.
func (ch *Channel) channelData(connect bool, fn string, line int) esl.Headers {
	h := ch.s.baseHeaders("CHANNEL_DATA", "mod_event_socket.c", fn, line)
	if !connect {
		h[9].Value = "mod_commands.c"
	} else {
		h = ch.appendProfile(h, "Channel-")
	}
	return ch.appendChannelHeaders(h, levelFull, 0)
}

// varHeaders interns "variable_"+name: every channel has the same hundred
// or so variables, and 50,000 parked calls made five million copies of
// their header names for the load tool's garbage collector to trace.
var varHeaders = struct {
	sync.Mutex
	m map[string]string
}{m: map[string]string{}}

// maxVarHeaders bounds varHeaders: names beyond it are made each time.
const maxVarHeaders = 4096

func varHeader(name string) string {
	varHeaders.Lock()
	defer varHeaders.Unlock()
	if h, ok := varHeaders.m[name]; ok {
		return h
	}
	h := "variable_" + name
	if len(varHeaders.m) < maxVarHeaders {
		varHeaders.m[name] = h
	}
	return h
}

// varList is an ordered set of channel variables.
type varList struct {
	names   []string
	headers []string // "variable_"+names[i], made once per variable
	m       map[string]string
}

// grow makes room for n variables at once; a call's hundred-odd grown one
// at a time left its map and lists half empty.
func (v *varList) grow(n int) {
	if v.m == nil {
		v.m = make(map[string]string, n)
	}
	v.names = slices.Grow(v.names, n)
	v.headers = slices.Grow(v.headers, n)
}

func (v *varList) set(k, val string) {
	if v.m == nil {
		v.m = map[string]string{}
	}
	// FreeSWITCH deletes and re-adds a variable it sets, so it moves last.
	header := ""
	if _, ok := v.m[k]; ok {
		i := slices.Index(v.names, k)
		header = v.headers[i]
		v.names = slices.Delete(v.names, i, i+1)
		v.headers = slices.Delete(v.headers, i, i+1)
	} else {
		header = varHeader(k)
	}
	v.names = append(v.names, k)
	v.headers = append(v.headers, header)
	v.m[k] = val
}

func (v *varList) unset(k string) {
	if _, ok := v.m[k]; !ok {
		return
	}
	delete(v.m, k)
	i := slices.Index(v.names, k)
	v.names = slices.Delete(v.names, i, i+1)
	v.headers = slices.Delete(v.headers, i, i+1)
}

func (v *varList) get(k string) (string, bool) {
	val, ok := v.m[k]
	return val, ok
}
