package esl

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
)

// LampSource is where Presence reads the lamps it answers probes with and
// republishes after a reconnect. parking.Service implements it.
type LampSource interface {
	// Lamp is the current lamp of a slot (slot > 0) or of a lot (slot 0)
	// of domain ("" for a lot without one).
	Lamp(domain, lot string, slot int) (parking.Lamp, error)
	// EveryLamp is the current lamp of every slot and lot.
	EveryLamp() []parking.Lamp
}

// PresenceStats count what Presence did.
type PresenceStats struct {
	// Published: PRESENCE_IN events FreeSWITCH accepted, probe answers
	// included.
	Published uint64
	// Answered: probes answered (accepted by FreeSWITCH).
	Answered uint64
	// Failed: events that could not be sent or that FreeSWITCH refused,
	// and probes dropped because too many were waiting.
	Failed uint64
}

// Presence lights phones' BLF keys for parkd's slots and lots
// (docs/freeswitch.md#presence): it implements parking.Lamps by queueing
// every change, and Run sends the changes to FreeSWITCH as `sendevent
// PRESENCE_IN` on the Client's inbound connection, answers every
// PRESENCE_PROBE for one of its keys with the key's current state, and
// republishes every lamp after each (re)connect, since a restarted switch
// has forgotten them.
//
// The queue keeps the latest lamp per key, in the order keys first
// changed: it never grows beyond the number of keys, and a key's final
// state is always the one sent.
type Presence struct {
	// Logger: a debug line per batch published and per probe answered.
	Logger zerolog.Logger
	// BatchSize is how many events go in one write (one round trip).
	// Default 16: small batches keep a change from waiting long behind
	// a republication (BENCHMARKS.md#blf-presence).
	BatchSize int
	// MaxProbes bounds the probes waiting for an answer; more are dropped
	// (and counted Failed). Default 4096.
	MaxProbes int
	// RetryAfter is how long Run waits before republishing everything
	// after a send failed on a connection that stayed up. Default 1s.
	RetryAfter time.Duration

	c       *Client
	src     LampSource
	domains []string
	wake    chan struct{}

	mu        sync.Mutex
	keysErr   error
	byLot     map[lampTarget]LampKey // by domain and lot (slot 0)
	users     map[string]keyUser     // userKey of the subscription user → key
	pending   map[lampTarget]parking.Lamp
	order     []lampTarget
	probes    []probe
	off       []keyUser // keys removed by SetKeys, to turn off once
	republish bool
	domConn   *Conn  // the connection domain was asked on
	domain    string // the switch's domain, when domains is empty

	// Run's own: what is left of a republication, and the keys whose
	// newer changes were sent meanwhile.
	snap   []parking.Lamp
	struck map[lampTarget]bool

	count                       atomic.Uint64 // event_count
	published, answered, failed atomic.Uint64
}

// keyUser is one key: its prefix, its id (slot number or lot key) and what
// it shows.
type keyUser struct {
	prefix, id string
	t          lampTarget
}

// probe is a PRESENCE_PROBE waiting for its answer.
type probe struct {
	key            keyUser
	domain, callID string
}

var _ parking.Lamps = (*Presence)(nil)

// NewPresence returns a Presence that publishes on c's connection the lamps
// of keys, read from src, for every domain in domains (none: the switch's
// own domain, asked with `global_getvar domain` on each connection). Call it
// before c.Run: the Client then also subscribes to PRESENCE_PROBE and tells
// the Presence of every (re)connect. Keys must pass ValidateLampKeys and
// domains ValidDomain, or Run returns the error.
func NewPresence(c *Client, src LampSource, keys LampKeys, domains []string) *Presence {
	p := &Presence{
		Logger: zerolog.Nop(), BatchSize: 16, MaxProbes: 4096, RetryAfter: time.Second,
		c: c, src: src, domains: append([]string(nil), domains...),
		wake: make(chan struct{}, 1), pending: map[lampTarget]parking.Lamp{},
	}
	for _, d := range domains {
		if !ValidDomain(d) {
			p.keysErr = fmt.Errorf("%w: domain %q", ErrBadLampKeys, clip(d))
		}
	}
	if err := p.setKeys(keys); err != nil && p.keysErr == nil {
		p.keysErr = err
	}
	c.setPresence(p)
	return p
}

// SetKeys replaces the keys (a configuration reload). A key no longer
// configured is turned off: terminated is published for it once. Then every
// lamp is republished. Keys that fail ValidateLampKeys are refused and the
// old ones kept.
func (p *Presence) SetKeys(keys LampKeys) error {
	if err := p.setKeys(keys); err != nil {
		return err
	}
	p.poke()
	return nil
}

func (p *Presence) setKeys(keys LampKeys) error {
	users, err := indexLampKeys(keys)
	if err != nil {
		return err
	}
	byLot := make(map[lampTarget]LampKey, len(keys))
	ku := make(map[string]keyUser, len(users))
	for _, k := range keys {
		d := strings.ToLower(k.Domain)
		byLot[lampTarget{domain: d, lot: k.Lot}] = k
		for s := k.First; s <= k.Last; s++ {
			id := strconv.Itoa(s)
			ku[userKey(k.Prefix+id, d)] = keyUser{k.Prefix, id, lampTarget{d, k.Lot, s}}
		}
		if k.LotKey != "" {
			ku[userKey(k.Prefix+k.LotKey, d)] = keyUser{k.Prefix, k.LotKey, lampTarget{d, k.Lot, 0}}
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for u, old := range p.users {
		if _, ok := ku[u]; !ok {
			p.off = append(p.off, old)
		}
	}
	p.byLot, p.users = byLot, ku
	for t := range p.pending {
		if _, ok := p.keyOf(t); !ok {
			delete(p.pending, t)
		}
	}
	p.order = p.order[:0:0]
	for t := range p.pending {
		p.order = append(p.order, t)
	}
	if p.users != nil {
		p.republish = true
	}
	return nil
}

// keyOf returns the key that shows t, if one is configured. Called with
// p.mu held.
func (p *Presence) keyOf(t lampTarget) (keyUser, bool) {
	k, ok := p.byLot[lampTarget{domain: t.domain, lot: t.lot}]
	switch {
	case !ok:
		return keyUser{}, false
	case t.slot == 0 && k.LotKey != "":
		return keyUser{k.Prefix, k.LotKey, t}, true
	case t.slot >= k.First && t.slot <= k.Last:
		return keyUser{k.Prefix, strconv.Itoa(t.slot), t}, true
	}
	return keyUser{}, false
}

// Light implements parking.Lamps: it queues l, replacing any older change
// of the same key still waiting, and returns at once. A lamp without a
// configured key is ignored.
func (p *Presence) Light(l parking.Lamp) {
	t := lampTarget{strings.ToLower(l.Domain), l.Lot, l.Slot}
	p.mu.Lock()
	if _, ok := p.keyOf(t); !ok {
		p.mu.Unlock()
		return
	}
	if _, ok := p.pending[t]; !ok {
		p.order = append(p.order, t)
	}
	p.pending[t] = l
	p.mu.Unlock()
	p.poke()
}

// Stats returns the counts so far.
func (p *Presence) Stats() PresenceStats {
	return PresenceStats{Published: p.published.Load(), Answered: p.answered.Load(), Failed: p.failed.Load()}
}

func (p *Presence) poke() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// connected is the Client's hook after each (re)connect: FreeSWITCH may
// have restarted and forgotten every lamp.
func (p *Presence) connected() {
	p.mu.Lock()
	p.republish = true
	p.mu.Unlock()
	p.poke()
}

// onProbe is the Client's hook for PRESENCE_PROBE events: a probe whose
// `to` is one of the keys is queued for an answer: a key of a lot of the
// probe's domain, else of a lot without a domain.
func (p *Presence) onProbe(ev Event) {
	user, domain, ok := strings.Cut(ev.Get("to"), "@")
	if !ok || !ValidDomain(domain) {
		return
	}
	p.mu.Lock()
	k, ok := p.users[userKey(user, domain)]
	if !ok {
		k, ok = p.users[userKey(user, "")]
	}
	if !ok {
		p.mu.Unlock()
		return
	}
	if len(p.probes) >= p.MaxProbes {
		p.mu.Unlock()
		p.failed.Add(1)
		return
	}
	p.probes = append(p.probes, probe{key: k, domain: domain, callID: ev.Get("sub-call-id")})
	p.mu.Unlock()
	p.poke()
}

// Run sends queued changes, probe answers and republications until ctx
// ends. It returns at once an error wrapping ErrBadLampKeys when the keys
// or domains given to NewPresence are not valid.
func (p *Presence) Run(ctx context.Context) error {
	p.mu.Lock()
	err := p.keysErr
	p.mu.Unlock()
	if err != nil {
		return fmt.Errorf("esl: presence: %w", err)
	}
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.wake:
		case <-retry:
			retry = nil
			p.connected()
			continue
		}
		if err := p.flush(ctx); err != nil && ctx.Err() == nil {
			p.Logger.Warn().Err(err).Msg("cannot publish BLF presence")
			retry = time.After(p.RetryAfter)
		}
	}
}

// presenceItem is one event to send; probe marks a probe answer.
type presenceItem struct {
	ev    presenceIn
	probe bool
}

// flush sends the off keys, the queued changes and probe answers, then the
// next chunk of a republication: a change never waits for more than one
// chunk of a republication of thousands of keys. Without a connection it
// drops the queue: the next connection republishes every lamp anyway. A
// send that fails on a connection that stays up returns an error, and Run
// republishes everything a little later.
//
// Order: the snapshot (EveryLamp) is taken before the queue, so a queued
// change is never older than the snapshot's lamp for its key; it is sent
// first and the key is struck from what is left of the snapshot.
func (p *Presence) flush(ctx context.Context) error {
	conn, err := p.c.current()
	p.mu.Lock()
	republish := p.republish
	p.republish = false
	p.mu.Unlock()
	if err != nil {
		p.drop()
		return nil
	}
	domains, err := p.domainsFor(ctx, conn)
	if err != nil {
		p.drop()
		if conn.Err() != nil {
			return nil
		}
		return err
	}
	if republish {
		p.snap, p.struck = p.src.EveryLamp(), map[lampTarget]bool{}
	}
	p.mu.Lock()
	off, probes, lamps := p.off, p.probes, make([]parking.Lamp, 0, len(p.order))
	for _, t := range p.order {
		lamps = append(lamps, p.pending[t])
	}
	p.off, p.probes, p.order = nil, nil, p.order[:0]
	clear(p.pending)
	var items []presenceItem
	add := func(k keyUser, l parking.Lamp, domains []string, callID string, isProbe bool) {
		for _, d := range domains {
			if ev, ok := newPresenceIn(k.prefix, k.id, d, l, callID, p.count.Add(1)); ok {
				items = append(items, presenceItem{ev, isProbe})
			}
		}
	}
	// A domain's lot's keys are in its domain only.
	in := func(t lampTarget) []string {
		if t.domain != "" {
			return []string{t.domain}
		}
		return domains
	}
	for _, k := range off {
		add(k, parking.Lamp{Lot: k.t.lot, Domain: k.t.domain, Slot: k.t.slot}, in(k.t), "", false)
	}
	for _, l := range lamps {
		t := lampTarget{strings.ToLower(l.Domain), l.Lot, l.Slot}
		if k, ok := p.keyOf(t); ok {
			add(k, l, in(t), "", false)
			if p.struck != nil {
				p.struck[t] = true
			}
		}
	}
	chunk := max(p.BatchSize/len(domains), 1)
	for len(p.snap) > 0 && chunk > 0 {
		l := p.snap[0]
		p.snap = p.snap[1:]
		t := lampTarget{strings.ToLower(l.Domain), l.Lot, l.Slot}
		if k, ok := p.keyOf(t); ok && !p.struck[t] {
			add(k, l, in(t), "", false)
			chunk--
		}
	}
	if len(p.snap) == 0 {
		p.snap, p.struck = nil, nil
	}
	more := p.snap != nil
	p.mu.Unlock()
	for _, pr := range probes {
		l, err := p.src.Lamp(pr.key.t.domain, pr.key.t.lot, pr.key.t.slot)
		if err != nil {
			// A lot or slot the Service does not know (yet): dark.
			l = parking.Lamp{Lot: pr.key.t.lot, Domain: pr.key.t.domain, Slot: pr.key.t.slot}
		}
		add(pr.key, l, []string{pr.domain}, pr.callID, true)
	}
	if more {
		p.poke() // the rest of the republication, after what comes meanwhile
	}
	return p.send(ctx, conn, items)
}

// drop forgets the queue, for when there is no connection to send it on.
func (p *Presence) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.failed.Add(uint64(len(p.order) + len(p.probes)))
	p.probes, p.order = nil, p.order[:0]
	clear(p.pending)
	p.snap, p.struck = nil, nil
}

// send writes items in batches of BatchSize, one round trip each.
func (p *Presence) send(ctx context.Context, conn *Conn, items []presenceItem) error {
	size := max(p.BatchSize, 1)
	for len(items) > 0 {
		n := min(size, len(items))
		batch := items[:n]
		items = items[n:]
		cmds := make([]command.Command, n)
		for i, it := range batch {
			cmds[i] = it.ev
		}
		replies, err := conn.SendAll(ctx, cmds...)
		if err != nil {
			p.failed.Add(uint64(n + len(items)))
			return fmt.Errorf("sendevent PRESENCE_IN: %w", err)
		}
		ok := 0
		for i, r := range replies {
			if !strings.HasPrefix(r.Headers.Get("Reply-Text"), "+OK") {
				p.failed.Add(1)
				continue
			}
			ok++
			p.published.Add(1)
			if batch[i].probe {
				p.answered.Add(1)
				p.Logger.Debug().Str("key", batch[i].ev.user+"@"+batch[i].ev.domain).
					Str("state", batch[i].ev.state.String()).Msg("BLF probe answered")
			}
		}
		p.Logger.Debug().Int("events", n).Int("accepted", ok).Msg("BLF presence published")
		if ok < n {
			return fmt.Errorf("sendevent PRESENCE_IN: %w: FreeSWITCH refused %d of %d", errRefused, n-ok, n)
		}
	}
	return nil
}

var errRefused = errors.New("refused")

// domainsFor returns the domains to publish in: the configured ones, or the
// switch's own, asked once per connection.
func (p *Presence) domainsFor(ctx context.Context, conn *Conn) ([]string, error) {
	if len(p.domains) > 0 {
		return p.domains, nil
	}
	p.mu.Lock()
	if p.domConn == conn {
		d := p.domain
		p.mu.Unlock()
		return []string{d}, nil
	}
	p.mu.Unlock()
	body, err := conn.API(ctx, "global_getvar", "domain")
	if err != nil {
		return nil, fmt.Errorf("global_getvar domain: %w", err)
	}
	d := strings.TrimSpace(body)
	if !ValidDomain(d) {
		return nil, fmt.Errorf("global_getvar domain: %w: %q", ErrUnsafeValue, clip(d))
	}
	p.mu.Lock()
	p.domConn, p.domain = conn, d
	p.mu.Unlock()
	return []string{d}, nil
}
