package fstest

import (
	"fmt"
	"strings"
)

// Several simulated switches can call each other as FreeSWITCH nodes do
// over SIP, for lots shared by several nodes: a channel transferred to an
// extension modelled with AddExtension runs what it returns; a `bridge`
// to sofia/<profile>/<user>@<host> whose host is a peer's (Peer) arrives
// on that peer as a new inbound call to <user>, carrying the dial
// string's sip_h_<header> variables as the channel variables
// sip_h_<header> (how FreeSWITCH presents an INVITE's X- headers). The
// peer's Inbound says what its dialplan does with such a call (usually:
// the `socket` of its parkd). The two channels are then one call: when the
// peer answers, the bridging channel is bridged; when either hangs up,
// so does the other.

// Extension models a dialplan extension: given the channel's variables,
// the actions it runs, as "app data". Only "bridge <dial string>" and
// "hangup [cause]" are modelled; no actions is a refusal
// (NO_ROUTE_DESTINATION).
type Extension func(vars map[string]string) []string

// Inbound models the dialplan of a switch for calls arriving over SIP
// from a peer: the CallSpec of the `socket` they reach (its Destination
// and Vars already set from the INVITE), or false to refuse them
// (NO_ROUTE_DESTINATION).
type Inbound func(spec CallSpec) (CallSpec, bool)

// AddExtension makes name a modelled extension of s.
func (s *Switch) AddExtension(name string, ext Extension) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.extensions == nil {
		s.extensions = map[string]Extension{}
	}
	s.extensions[name] = ext
}

// Peer makes host (as in a dial string's user@host) reach the switch p.
func (s *Switch) Peer(host string, p *Switch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peers == nil {
		s.peers = map[string]*Switch{}
	}
	s.peers[host] = p
}

// SetInbound sets how s routes calls from its peers.
func (s *Switch) SetInbound(in Inbound) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inbound = in
}

// runExtension runs the modelled extension dest on ch, if there is one.
// Called with s.mu held, after the transfer.
func (ch *Channel) runExtension(dest string) {
	ext := ch.s.extensions[dest]
	if ext == nil || !ch.alive {
		return
	}
	vars := make(map[string]string, len(ch.vars.m))
	for k, v := range ch.vars.m {
		vars[k] = v
	}
	actions := ext(vars)
	if len(actions) == 0 {
		ch.hangup("NO_ROUTE_DESTINATION", "send_bye")
		return
	}
	name, data, _ := strings.Cut(actions[0], " ")
	ch.ran = append(ch.ran, actions[0])
	switch name {
	case "bridge":
		ch.appName, ch.appData = "bridge", data
		ch.notify()
		go ch.s.bridgeOut(ch, data)
	case "hangup":
		cause := strings.TrimSpace(data)
		if cause == "" {
			cause = "NORMAL_CLEARING"
		}
		ch.hangup(cause, "send_bye")
	default:
		ch.hangup("NO_ROUTE_DESTINATION", "send_bye")
	}
}

// parseDial reads "{k=v,...}sofia/<profile>/<user>@<host>".
func parseDial(dial string) (vars map[string]string, user, host string, err error) {
	vars = map[string]string{}
	if strings.HasPrefix(dial, "{") {
		end := strings.IndexByte(dial, '}')
		if end < 0 {
			return nil, "", "", fmt.Errorf("unterminated {")
		}
		for _, kv := range strings.Split(dial[1:end], ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				vars[k] = v
			}
		}
		dial = dial[end+1:]
	}
	parts := strings.SplitN(dial, "/", 3)
	if len(parts) != 3 || parts[0] != "sofia" {
		return nil, "", "", fmt.Errorf("not a sofia dial string: %q", dial)
	}
	user, host, ok := strings.Cut(parts[2], "@")
	if !ok {
		return nil, "", "", fmt.Errorf("no host in %q", dial)
	}
	return vars, user, host, nil
}

// bridgeOut places ch's bridge to a peer switch. It runs on its own
// goroutine: the peer's call dials the code under test.
func (s *Switch) bridgeOut(ch *Channel, dial string) {
	fail := func(cause string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		ch.hangup(cause, "send_bye")
	}
	vars, user, host, err := parseDial(dial)
	if err != nil {
		fail("INVALID_NUMBER_FORMAT")
		return
	}
	s.mu.Lock()
	peer := s.peers[host]
	cidName, cidNum := ch.cidName, ch.cidNum
	s.mu.Unlock()
	if peer == nil {
		fail("NO_ROUTE_DESTINATION")
		return
	}
	spec := CallSpec{CallerName: cidName, CallerNumber: cidNum, Destination: user, Vars: map[string]string{}}
	for k, v := range vars {
		if strings.HasPrefix(k, "sip_h_X-") {
			spec.Vars[k] = v // an X- header arrives as the same variable
		}
	}
	peer.mu.Lock()
	in := peer.inbound
	peer.mu.Unlock()
	if in == nil {
		fail("NO_ROUTE_DESTINATION")
		return
	}
	spec, ok := in(spec)
	if !ok {
		fail("NO_ROUTE_DESTINATION")
		return
	}
	far, err := peer.Call(spec)
	if far == nil {
		fail("NORMAL_TEMPORARY_FAILURE")
		return
	}
	// One call across the two switches: link the legs, then propagate a
	// hangup that came first.
	peer.mu.Lock()
	farAlive := far.alive && far.hangupCause == ""
	farAnswered := far.answered
	peer.mu.Unlock()
	s.mu.Lock()
	nearAlive := ch.alive && ch.hangupCause == ""
	if nearAlive && farAlive {
		ch.trunk = far
		if farAnswered && !ch.answered {
			ch.markAnswered() // the bridge answers the caller when the far end does
		}
		ch.notify()
	}
	s.mu.Unlock()
	peer.mu.Lock()
	if farAlive && nearAlive {
		if far.alive && far.hangupCause == "" {
			far.trunk = ch
			far.notify()
		} else {
			farAlive = false // hung up meanwhile: end the near leg below
		}
	}
	peer.mu.Unlock()
	switch {
	case !nearAlive:
		far.Hangup("NORMAL_CLEARING")
	case !farAlive:
		// A refused first socket (err) is not the end of the far call:
		// its dialplan goes on to the next socket action (the standby of
		// a pair), and a far call that ends later hangs the near leg up
		// through the trunk.
		cause := far.State().HangupCause
		if cause == "" {
			cause = "NORMAL_TEMPORARY_FAILURE"
		}
		fail(cause)
	}
}

// hangupTrunk hangs up the channel ch is bridged to on a peer switch.
// Called with ch's switch's lock held.
func (ch *Channel) hangupTrunk() {
	far := ch.trunk
	if far == nil {
		return
	}
	ch.trunk = nil
	go func() {
		far.s.mu.Lock()
		defer far.s.mu.Unlock()
		if far.trunk == ch {
			far.trunk = nil
		}
		far.hangup("NORMAL_CLEARING", "recv_bye")
	}()
}

// registeredEndpoint is the phone registered on s as user, read without
// s's lock (a peer asks while holding its own).
func (s *Switch) registeredEndpoint(user string) (Endpoint, bool) {
	v, ok := s.registered.Load(user)
	if !ok {
		return Endpoint{}, false
	}
	return v.(Endpoint), true
}
