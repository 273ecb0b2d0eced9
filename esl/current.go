package esl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/parkd/parkd/parking"
)

var _ parking.Talks = (*Client)(nil)

// Talk implements parking.Talks: the call ext is talking on, read from
// `show calls as json` (docs/freeswitch.md#current-call). A phone's channel
// is the one whose presence_id is ext@domain, whether it placed the call
// (the inbound leg) or answered it (the outbound leg); dialed_user is no
// sign, since the caller's leg carries the callee's. Its far party is the
// other leg of the same row. Only an answered pair counts (ACTIVE or
// HELD), and a far party that carries parkd's marks (a parked call being
// retrieved, a recall leg) is left alone.
func (c *Client) Talk(ctx context.Context, ext string) (parking.Talk, error) {
	if !tokenRE.MatchString(ext) || strings.HasPrefix(ext, "-") {
		return parking.Talk{}, unsafe("extension", ext)
	}
	conn, err := c.current()
	if err != nil {
		return parking.Talk{}, fmt.Errorf("%w: %w", parking.ErrSwitchDown, err)
	}
	body, err := conn.API(ctx, "show", "calls as json")
	if err != nil {
		return parking.Talk{}, fmt.Errorf("show calls: %w", err)
	}
	pairs, err := parseCallPairs(body)
	if err != nil {
		return parking.Talk{}, err
	}
	var found []parking.Talk
	active := 0
	for _, p := range pairs {
		t, ok := p.talkOf(ext)
		if !ok {
			continue
		}
		marked, err := c.marked(ctx, conn, t.Far)
		if err != nil {
			return parking.Talk{}, err
		}
		if marked {
			continue
		}
		if p.activeFor(ext) {
			active++
			found = append([]parking.Talk{t}, found...) // an active call before a held one
		} else {
			found = append(found, t)
		}
	}
	switch {
	case len(found) == 0:
		return parking.Talk{}, fmt.Errorf("extension %s: %w", ext, parking.ErrNoCall)
	case len(found) > 1 && active != 1:
		return parking.Talk{}, fmt.Errorf("extension %s: %w", ext, parking.ErrAmbiguousCall)
	}
	return found[0], nil
}

// marked reports whether call carries parkd's park or recall marks: it is
// parkd's already (or gone meanwhile, which a park then finds out).
func (c *Client) marked(ctx context.Context, conn *Conn, call parking.CallID) (bool, error) {
	for _, name := range []string{VarRecallFor, VarSlot} {
		v, err := conn.API(ctx, "uuid_getvar", string(call)+" "+name)
		var apiErr *APIError
		if errors.As(err, &apiErr) {
			return false, nil // gone meanwhile: the park reports it
		}
		if err != nil {
			return false, fmt.Errorf("uuid_getvar %s %s: %w", call, name, err)
		}
		if v = strings.TrimSpace(v); v != "" && v != "_undef_" {
			return true, nil
		}
	}
	return false, nil
}

// callLeg of a `show calls` row: one side of a call.
type callSide struct {
	UUID, Direction, Presence, CallState string
	CIDName, CIDNum                      string
	CalleeName, CalleeNum                string
}

// callPair is a bridged row of `show calls`: the originator and its partner.
type callPair struct{ A, B callSide }

// parseCallPairs reads the bridged pairs of `show calls as json`
// (docs/freeswitch.md#show-calls-pairs-bridged-legs); an unbridged channel
// (no b_uuid) is no call between two parties and is left out, as are rows
// whose UUIDs are not FreeSWITCH's.
func parseCallPairs(body string) ([]callPair, error) {
	var v struct {
		Rows []map[string]string `json:"rows"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil {
		return nil, fmt.Errorf("show calls: unreadable reply %q: %w", clip(body), err)
	}
	var out []callPair
	for _, r := range v.Rows {
		side := func(p string) callSide {
			return callSide{
				UUID: r[p+"uuid"], Direction: r[p+"direction"], Presence: r[p+"presence_id"], CallState: r[p+"callstate"],
				CIDName: r[p+"cid_name"], CIDNum: r[p+"cid_num"], CalleeName: r[p+"callee_name"], CalleeNum: r[p+"callee_num"],
			}
		}
		p := callPair{A: side(""), B: side("b_")}
		if !ValidUUID(p.A.UUID) || !ValidUUID(p.B.UUID) || p.A.UUID == p.B.UUID {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// answered reports whether a side is in an answered call.
func (s callSide) answered() bool { return s.CallState == "ACTIVE" || s.CallState == "HELD" }

// user is the user part of the side's presence_id, and its domain.
func (s callSide) user() (user, domain string) {
	user, domain, _ = strings.Cut(s.Presence, "@")
	return user, domain
}

// party is who the side is, as the other side's phone shows it: an
// inbound leg's caller ID; an outbound leg is the callee its originator
// dialled (its own caller ID is the originator's, sent on).
func (s callSide) party() parking.Caller {
	if s.Direction == "outbound" {
		name := s.CalleeName
		if name == "Outbound Call" { // FreeSWITCH's placeholder, not a name
			name = ""
		}
		return parking.Caller{Name: cleanText(name), Number: cleanText(s.CalleeNum)}
	}
	return parking.Caller{Name: cleanText(s.CIDName), Number: cleanText(s.CIDNum)}
}

// talkOf returns ext's side of the pair and its far party, if ext is on it
// and both sides are answered.
func (p callPair) talkOf(ext string) (parking.Talk, bool) {
	for _, s := range [][2]callSide{{p.A, p.B}, {p.B, p.A}} {
		own, far := s[0], s[1]
		user, domain := own.user()
		if user != ext || !own.answered() || !far.answered() {
			continue
		}
		if uf, _ := far.user(); uf == ext {
			return parking.Talk{}, false // a phone calling itself: nothing to park
		}
		if !domainRE.MatchString(domain) {
			domain = ""
		}
		return parking.Talk{Own: parking.CallID(own.UUID), Far: parking.CallID(far.UUID), Caller: far.party(), Domain: domain}, true
	}
	return parking.Talk{}, false
}

// activeFor reports whether ext's side of the pair is ACTIVE (not HELD).
func (p callPair) activeFor(ext string) bool {
	if u, _ := p.A.user(); u == ext {
		return p.A.CallState == "ACTIVE"
	}
	return p.B.CallState == "ACTIVE"
}

// Remote implements parking.Talks: a Leg for call over the inbound
// connection.
func (c *Client) Remote(call parking.CallID) parking.Leg {
	return &remoteLeg{c: c, uuid: string(call)}
}

// remoteLeg is a call parkd moves into the park over the inbound
// connection: the far party of a phone's call, which no socket application
// delivered. It is parked in place, with the same marks and the same
// inline endless_playback as a socket-delivered call (see callLeg.Hold), so
// the survey finds it after a restart like any other parked call.
type remoteLeg struct {
	c    *Client
	uuid string
}

// Call implements parking.Leg.
func (l *remoteLeg) Call() parking.CallID { return parking.CallID(l.uuid) }

// Answer implements parking.Leg: the call is answered (Talk only finds
// answered calls); it only checks the channel still exists.
func (l *remoteLeg) Answer(ctx context.Context) error {
	if !ValidUUID(l.uuid) {
		return unsafe("uuid", l.uuid)
	}
	reply, err := l.c.API(ctx, apiCommand("uuid_exists", l.uuid))
	if err != nil {
		return fmt.Errorf("answer: %w", l.gone(err))
	}
	if strings.TrimSpace(reply) != "true" {
		return fmt.Errorf("answer %s: %w", l.uuid, parking.ErrCallGone)
	}
	return nil
}

// Announce implements parking.Leg: nothing. The far party was talking to
// the phone, which learns the slot from the API's answer; playing it to
// the caller would mean an application run on a channel parkd holds no
// socket to, for little use.
func (l *remoteLeg) Announce(context.Context, int) error { return nil }

// Hold implements parking.Leg: the marks, then the inline music, on the
// inbound connection.
func (l *remoteLeg) Hold(ctx context.Context, h parking.Hold) error {
	set, move, err := holdCommands(l.uuid, l.c.Instance, h)
	if err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	if err := l.c.control(ctx, set); err != nil {
		return fmt.Errorf("hold: set the park variables: %w", l.gone(err))
	}
	if err := l.c.control(ctx, move); err != nil {
		return fmt.Errorf("hold: start music: %w", l.gone(err))
	}
	return nil
}

// Bridge implements parking.Leg; a remote leg is never a retriever.
func (l *remoteLeg) Bridge(context.Context, parking.CallID) error {
	return errors.New("bridge: a call parked from outside is not a retriever")
}

// Refuse implements parking.Leg: nothing. The call was not moved yet; it
// stays as it was, talking.
func (l *remoteLeg) Refuse(context.Context, string) error { return nil }

// gone maps an error of a command on the inbound connection: the
// connection down is ErrSwitchDown, FreeSWITCH's "no such channel"
// already matches ErrCallGone.
func (l *remoteLeg) gone(err error) error {
	if errors.Is(err, ErrNotConnected) {
		return fmt.Errorf("%w: %w", parking.ErrSwitchDown, err)
	}
	return err
}
