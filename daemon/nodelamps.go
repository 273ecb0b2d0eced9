package daemon

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// nodeLamps shows every node's calls on this node's busy lamps, when lots
// are shared by several nodes and [blf] is on. It stands between the
// Service and the Presence: this node's slot changes go to the Presence
// and, through PostgreSQL's NOTIFY, to the other nodes; the other nodes'
// changes, heard with LISTEN, go to the Presence too. A slot shows its
// call whichever node holds it; a lot's key counts every node's calls.
type nodeLamps struct {
	self  string
	local esl.LampSource // this node's lamps: the Service
	out   parking.Lamps  // the Presence
	log   zerolog.Logger

	send chan parking.Lamp // this node's slot changes, for NOTIFY

	mu     sync.Mutex
	remote map[lampAt]nodeLamp // the other nodes' lit slots
}

// lampAt is a slot of a lot of a domain.
type lampAt struct {
	domain, lot string
	slot        int
}

// nodeLamp is a lamp change as sent between nodes.
type nodeLamp struct {
	Node   string            `json:"node"`
	Domain string            `json:"domain"`
	Lot    string            `json:"lot"`
	Slot   int               `json:"slot"`
	State  parking.LampState `json:"state"`
	Name   string            `json:"name,omitempty"`
	Number string            `json:"number,omitempty"`
}

func newNodeLamps(self string, local esl.LampSource, log zerolog.Logger) *nodeLamps {
	return &nodeLamps{self: self, local: local, log: log, send: make(chan parking.Lamp, 8192), remote: map[lampAt]nodeLamp{}}
}

// Light implements parking.Lamps for this node's changes. It runs under
// the Service's lock: it queues and returns.
func (n *nodeLamps) Light(l parking.Lamp) {
	if l.Slot > 0 {
		select {
		case n.send <- l:
		default:
			n.log.Warn().Str("lot", l.Lot).Int("slot", l.Slot).Msg("lamp change not sent to the other nodes: queue full")
		}
	}
	n.mu.Lock()
	l = n.merged(l)
	n.mu.Unlock()
	n.out.Light(l)
}

// merged is l with the other nodes' calls: a slot idle here shows the
// call another node holds in it, a lot's key counts them. Called with
// n.mu held.
func (n *nodeLamps) merged(l parking.Lamp) parking.Lamp {
	if l.Slot > 0 {
		if l.State == parking.LampIdle {
			if r, ok := n.remote[lampAt{strings.ToLower(l.Domain), l.Lot, l.Slot}]; ok {
				l.State, l.Caller = r.State, parking.Caller{Name: r.Name, Number: r.Number}
			}
		}
		return l
	}
	for at := range n.remote {
		if at.domain == strings.ToLower(l.Domain) && at.lot == l.Lot {
			l.Parked++
		}
	}
	if l.Parked > 0 {
		l.State = parking.LampParked
	}
	return l
}

// Lamp implements esl.LampSource with every node's calls.
func (n *nodeLamps) Lamp(domain, lot string, slot int) (parking.Lamp, error) {
	l, err := n.local.Lamp(domain, lot, slot)
	if err != nil {
		return l, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.merged(l), nil
}

// EveryLamp implements esl.LampSource with every node's calls.
func (n *nodeLamps) EveryLamp() []parking.Lamp {
	ls := n.local.EveryLamp()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := range ls {
		ls[i] = n.merged(ls[i])
	}
	return ls
}

// heard takes another node's change.
func (n *nodeLamps) heard(r nodeLamp) {
	if r.Node == n.self || r.Slot <= 0 {
		return
	}
	at := lampAt{strings.ToLower(r.Domain), r.Lot, r.Slot}
	n.mu.Lock()
	if r.State == parking.LampIdle {
		if cur, ok := n.remote[at]; ok && cur.Node == r.Node {
			delete(n.remote, at)
		}
	} else {
		n.remote[at] = r
	}
	n.mu.Unlock()
	n.relight(at)
}

// freed sends, on behalf of the lost node, that its calls' slots are idle,
// so that every node (this one too, which hears its own NOTIFY) darkens
// them as if that node's parkd had.
func (n *nodeLamps) freed(ctx context.Context, db *store.DB, node string, calls []parking.Occupant) {
	for _, o := range calls {
		b, _ := json.Marshal(nodeLamp{Node: node, Domain: o.Domain, Lot: o.Lot, Slot: o.Slot, State: parking.LampIdle})
		if err := db.NotifyLamp(ctx, string(b)); err != nil && ctx.Err() == nil {
			n.log.Warn().Err(err).Str("lost", node).Msg("could not darken a lost node's slot on the other nodes")
		}
	}
}

// relight tells the Presence the slot's and its lot's lamps.
func (n *nodeLamps) relight(at lampAt) {
	for _, slot := range []int{at.slot, 0} {
		if l, err := n.Lamp(at.domain, at.lot, slot); err == nil {
			n.out.Light(l)
		}
	}
}

// reseed replaces the other nodes' lamps with their calls in the store,
// after (re)connecting: changes sent while this parkd was not listening
// are in the occupancy.
func (n *nodeLamps) reseed(calls []store.RemoteParked) {
	fresh := map[lampAt]nodeLamp{}
	for _, c := range calls {
		fresh[lampAt{strings.ToLower(c.Domain), c.Lot, c.Slot}] = nodeLamp{Node: c.Node, Domain: c.Domain, Lot: c.Lot, Slot: c.Slot,
			State: parking.LampParked, Name: c.Caller.Name, Number: c.Caller.Number}
	}
	n.mu.Lock()
	old := n.remote
	n.remote = fresh
	n.mu.Unlock()
	for at := range old {
		n.relight(at)
	}
	for at := range fresh {
		n.relight(at)
	}
}

// run sends this node's changes and listens for the others' until ctx
// ends, reconnecting after a failure.
func (n *nodeLamps) run(ctx context.Context, db *store.DB) {
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case l := <-n.send:
				b, _ := json.Marshal(nodeLamp{Node: n.self, Domain: l.Domain, Lot: l.Lot, Slot: l.Slot, State: l.State,
					Name: l.Caller.Name, Number: l.Caller.Number})
				if err := db.NotifyLamp(ctx, string(b)); err != nil && ctx.Err() == nil {
					n.log.Warn().Err(err).Msg("could not send a lamp change to the other nodes")
				}
			}
		}
	})
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		err := db.ListenLamps(ctx, func() {
			backoff = 50 * time.Millisecond
			calls, err := db.RemoteParkedCalls(ctx)
			if err != nil {
				n.log.Warn().Err(err).Msg("could not read the other nodes' calls for the lamps")
				return
			}
			n.reseed(calls)
		}, func(payload string) {
			var r nodeLamp
			if err := json.Unmarshal([]byte(payload), &r); err != nil {
				n.log.Warn().Err(err).Msg("unreadable lamp change from another node")
				return
			}
			n.heard(r)
		})
		if ctx.Err() != nil {
			break
		}
		n.log.Warn().Err(err).Msg("not listening for the other nodes' lamps; retrying")
		select {
		case <-ctx.Done():
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
	wg.Wait()
}
