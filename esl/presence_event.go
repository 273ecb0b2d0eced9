package esl

import (
	"strconv"
	"strings"

	"github.com/parkd/parkd/parking"
)

// presenceIn is one PRESENCE_IN event for a key, as `sendevent` sends it.
// Build it with newPresenceIn, which validates every value.
type presenceIn struct {
	proto, user, domain string
	uniqueID            string
	state               parking.LampState
	status              string
	callID              string
	count               uint64
}

// newPresenceIn builds the event for lamp l on the key whose subscription
// user is prefix+id (id: the slot number or the lot key) in domain. callID
// is the probe's sub-call-id when answering one. It returns false when a
// value is not safe in a header; the keys and domains were validated
// before, so this is a second line of defence, not a user error.
func newPresenceIn(prefix, id, domain string, l parking.Lamp, callID string, count uint64) (presenceIn, bool) {
	if !prefixRE.MatchString(prefix) || !lotKeyRE.MatchString(id) || !ValidDomain(domain) {
		return presenceIn{}, false
	}
	if !ValidCallID(callID) {
		// Echoed as the answer's call-id only when it is a Call-ID (no
		// space or control character); else the answer goes to every
		// subscription of the key, which is also right.
		callID = ""
	}
	return presenceIn{
		proto: presenceProto(prefix), user: prefix + id, domain: domain, uniqueID: id,
		state: l.State, status: lampStatus(l), callID: callID, count: count,
	}, true
}

// presenceProto is the proto of the events for keys with prefix: sofia
// derives a subscription's proto from the user's text before '+'
// ("park+701" → park), and routes an event to the subscriptions of its
// proto. Only "park" was verified on a real switch (docs/freeswitch.md#presence).
func presenceProto(prefix string) string {
	if i := strings.IndexByte(prefix, '+'); i > 0 {
		return strings.ToLower(prefix[:i])
	}
	return "park"
}

// lampStatus is the status text of a lamp. It never starts with "hold":
// sofia turns such a status into the dialog state early
// (presence-hold-state, docs/freeswitch.md#presence).
func lampStatus(l parking.Lamp) string {
	if l.State == parking.LampIdle {
		return "Available"
	}
	if l.Slot == 0 {
		return strconv.Itoa(max(l.Parked, 1)) + " parked"
	}
	who := strings.TrimSpace(SanitizeCallerText(l.Caller.Name) + " " + SanitizeCallerText(l.Caller.Number))
	word := "Parked"
	if l.State == parking.LampRinging {
		word = "Recalling"
	}
	if who == "" {
		return word
	}
	return word + ": " + who
}

// BuildMessage implements command.Command: the `sendevent` frame of the
// transcript (docs/freeswitch.md#presence), without the blank line that
// Conn adds. Its lines end in CR LF like that blank line: the real switch
// reads a frame whose lines end in LF but whose end is CR LF CR LF as one
// line, replies +OK, and fires a CUSTOM event instead of PRESENCE_IN.
func (e presenceIn) BuildMessage() string {
	answer, rpid, chState := "terminated", "unknown", "CS_HANGUP"
	switch e.state {
	case parking.LampParked:
		answer, rpid, chState = "confirmed", "active", "CS_ROUTING"
	case parking.LampRinging:
		answer, rpid, chState = "early", "active", "CS_ROUTING"
	}
	at := e.user + "@" + e.domain
	var b strings.Builder
	b.Grow(320)
	line := func(name, value string) {
		b.WriteString(name)
		b.WriteString(": ")
		b.WriteString(value)
		b.WriteString("\r\n")
	}
	b.WriteString("sendevent PRESENCE_IN\r\n")
	line("proto", e.proto)
	line("login", at)
	line("from", at)
	line("status", e.status)
	// sofia writes its own note ("On The Phone") into a presence (PIDF)
	// NOTIFY for a confirmed dialog unless force-status names one.
	line("force-status", e.status)
	line("rpid", rpid)
	line("event_type", "presence")
	line("alt_event_type", "dialog")
	line("event_count", strconv.FormatUint(e.count, 10))
	line("unique-id", e.uniqueID)
	line("channel-state", chState)
	line("answer-state", answer)
	line("presence-call-direction", "inbound")
	if e.callID != "" {
		line("call-id", e.callID)
	}
	return strings.TrimSuffix(b.String(), "\r\n")
}
