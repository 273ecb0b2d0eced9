package fstest

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/parkd/parkd/esl"
)

// PresenceIn is one PRESENCE_IN event a client sent with `sendevent`, as
// the switch received it (docs/freeswitch.md#presence).
type PresenceIn struct {
	From        string // the key: "park+701@127.0.0.1"
	Status      string
	AnswerState string // confirmed, early or terminated
	UniqueID    string
	CallID      string // set on a probe's answer
	Headers     esl.Headers
	At          time.Time // when the switch read it
	N           int       // its rank among every PRESENCE_IN received, from 1
}

// presenceState is what the switch knows of presence. Guarded by Switch.mu;
// a restart forgets it, as FreeSWITCH does.
type presenceState struct {
	latest  map[string]PresenceIn   // by lowered `from`
	history map[string][]PresenceIn // by lowered `from`, the last maxHistory
	n       int
	probes  int
	change  chan struct{} // closed and replaced on every PRESENCE_IN
}

// changed returns the channel closed at the next PRESENCE_IN. Called with
// s.mu held.
func (p *presenceState) changed() chan struct{} {
	if p.change == nil {
		p.change = make(chan struct{})
	}
	return p.change
}

// recordPresence files a PRESENCE_IN a client sent. Called with s.mu held.
func (s *Switch) recordPresence(h esl.Headers) {
	p := &s.pres
	if p.latest == nil {
		p.latest = map[string]PresenceIn{}
	}
	p.n++
	in := PresenceIn{
		From: h.Get("from"), Status: h.Get("status"), AnswerState: h.Get("answer-state"),
		UniqueID: h.Get("unique-id"), CallID: h.Get("call-id"),
		Headers: append(esl.Headers(nil), h...), At: time.Now(), N: p.n,
	}
	k := strings.ToLower(in.From)
	p.latest[k] = in
	if p.history == nil {
		p.history = map[string][]PresenceIn{}
	}
	hist := append(p.history[k], in)
	if len(hist) > 2*maxHistory { // trimmed now and then, not at every event
		hist = append(hist[:0:0], hist[len(hist)-maxHistory:]...)
	}
	p.history[k] = hist
	close(p.changed())
	p.change = make(chan struct{})
}

// Presence returns the latest PRESENCE_IN received for key (its `from`,
// such as "park+701@127.0.0.1"; case does not matter).
func (s *Switch) Presence(key string) (PresenceIn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	in, ok := s.pres.latest[strings.ToLower(key)]
	return in, ok
}

// maxHistory is how many PRESENCE_IN per key PresenceHistory keeps.
const maxHistory = 256

// PresenceHistory returns the PRESENCE_IN events received for key, oldest
// first (the last 256).
func (s *Switch) PresenceHistory(key string) []PresenceIn {
	s.mu.Lock()
	defer s.mu.Unlock()
	hist := s.pres.history[strings.ToLower(key)]
	return append([]PresenceIn(nil), hist[max(len(hist)-maxHistory, 0):]...)
}

// PresenceCount returns how many PRESENCE_IN events were received since
// the switch started or restarted.
func (s *Switch) PresenceCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pres.n
}

// WaitPresence waits until the latest PRESENCE_IN for key satisfies ok, and
// returns it, or ctx's error with the latest one seen.
func (s *Switch) WaitPresence(ctx context.Context, key string, ok func(PresenceIn) bool) (PresenceIn, error) {
	for {
		s.mu.Lock()
		in, found := s.pres.latest[strings.ToLower(key)]
		ch := s.pres.changed()
		s.mu.Unlock()
		if found && ok(in) {
			return in, nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return in, ctx.Err()
		case <-s.done:
			return in, context.Canceled
		}
	}
}

// Subscribe is a phone subscribing (Event: dialog) to user@domain, such as
// "park+701" at "127.0.0.1": the switch emits the PRESENCE_PROBE of the
// transcript (from subscriber 1001) to the inbound connections that listen
// for it. It returns the probe's sub-call-id, which an answer addressed to
// this subscription carries as call-id.
func (s *Switch) Subscribe(user, domain string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pres.probes++
	callID := strconv.Itoa(s.pres.probes) + "-fstest@" + domain
	s.dispatch(s.newEvent("PRESENCE_PROBE", "sofia_presence.c", "sofia_presence_handle_sip_i_subscribe", 4356,
		hdr("proto", "park"),
		hdr("login", "internal"),
		hdr("sip_profile", "internal"),
		hdr("from", "1001@"+domain),
		hdr("to", user+"@"+domain),
		hdr("proto-specific-event-name", "dialog"),
		hdr("expires", "60"),
		hdr("event_type", "presence"),
		hdr("alt_event_type", "dialog"),
		hdr("expires", "60"),
		hdr("sub-call-id", callID),
	))
	return callID
}

// presenceAPI answers `module_exists` and `global_getvar`. Called with s.mu
// held.
func (s *Switch) presenceAPI(cmd, args string) (string, bool) {
	switch cmd {
	case "module_exists":
		switch strings.TrimSpace(args) {
		case "mod_valet_parking":
			return strconv.FormatBool(s.opts.Valet), true
		case "mod_event_socket", "mod_sofia", "mod_commands", "mod_dptools":
			return "true", true
		}
		return "false", true
	case "global_getvar":
		if strings.TrimSpace(args) == "domain" {
			return s.opts.Domain, true
		}
		return "-ERR no reply\n", true
	}
	return "", false
}
