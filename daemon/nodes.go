package daemon

import (
	"context"
	"fmt"
	"net"
	"regexp"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/web"
)

// Lots shared by several FreeSWITCH nodes ([[node]], [esl] node): this
// parkd serves one node, its own switch's only, and meets the other
// nodes' parkd in PostgreSQL. The store marks every row with the node and
// settles slot claims; a retrieve for a call parked on another node sends
// the retriever there with a token (parking/nodes.go, esl/hop.go).

// setupNode tells the store which node it writes for. Called before the
// store opens.
func (m *Main) setupNode() {
	if self, ok := m.Config.Self(); ok {
		m.DB.Node = self.Name
	}
}

// wireNodes gives the park service and the outbound server the shared
// store's view of the other nodes. Called once both exist.
func (m *Main) wireNodes() {
	self, ok := m.Config.Self()
	if !ok {
		return
	}
	m.Service.Node = self.Name
	m.Service.Claims = m.DB
	m.Service.Nodes = m.DB
	m.Client.Elsewhere = m.recallElsewhere
}

// recordUnrecordedParks writes the parked rows the node's last parkd
// claimed slots for but died before committing (store.RecordUnrecordedParks),
// before the calls are adopted. Called once the store is open.
func (m *Main) recordUnrecordedParks(ctx context.Context) error {
	if _, ok := m.Config.Self(); !ok {
		return nil
	}
	occ, err := m.DB.RecordUnrecordedParks(ctx)
	if err != nil {
		return err
	}
	if len(occ) > 0 {
		m.Logger.Warn().Int("calls", len(occ)).Msg("parked rows the node's last parkd did not commit before it stopped: written from the calls' slot claims")
	}
	return nil
}

// parkerRE is a parker's extension as it may stand in a dial string's user
// part.
var parkerRE = regexp.MustCompile(`^[A-Za-z0-9_.+*#][A-Za-z0-9_.+*#-]{0,63}$`)

// recallElsewhere is how a recall reaches a parker not registered on this
// node: through each other node's SIP address, in configuration order.
// That node's dialplan routes a call from the other nodes for a user's
// extension to the user's phone, as calls between nodes already do.
func (m *Main) recallElsewhere(o parking.Origination) []string {
	if !parkerRE.MatchString(o.Parker) {
		return nil
	}
	var out []string
	for _, n := range m.Config.Nodes {
		if n.Name != m.Config.ESL.Node {
			out = append(out, fmt.Sprintf("sofia/%s/%s@%s", n.Profile, o.Parker, n.SIP))
		}
	}
	return out
}

// The watch over the other nodes: every NodeBeatEvery this parkd writes
// its node's beat, and looks for nodes that hold parked calls and whose
// parkd has been silent for NodeLostAfter. Such a node is lost if its
// switch cannot be reached either: its calls went with it (their media ran
// through it), so they are recorded lost, with the node named, and their
// slots freed. A node whose switch still answers keeps its calls: its
// parkd alone is down, and re-adopts them when it comes back.
const (
	DefaultNodeBeatEvery = time.Second
	DefaultNodeLostAfter = 10 * time.Second
	// nodeProbeTimeout bounds the connection attempt to a silent node's
	// event socket.
	nodeProbeTimeout = 2 * time.Second
)

// watchNodes runs the watch until ctx ends, when this parkd serves a node.
func (m *Main) watchNodes(ctx context.Context) {
	self, ok := m.Config.Self()
	if !ok {
		return
	}
	every, after := m.NodeBeatEvery, m.NodeLostAfter
	if every <= 0 {
		every = DefaultNodeBeatEvery
	}
	if after <= 0 {
		after = DefaultNodeLostAfter
	}
	log := m.Logger.With().Str("component", "nodes").Str("node", self.Name).Logger()
	check := func() {
		now := time.Now()
		if err := m.DB.Beat(ctx, now); err != nil {
			log.Warn().Err(err).Msg("could not record this node's beat")
		}
		silent, err := m.DB.SilentNodes(ctx, now.Add(-after))
		if err != nil {
			log.Warn().Err(err).Msg("could not look for silent nodes")
			return
		}
		for _, name := range silent {
			n, ok := m.Config.NodeNamed(name)
			if !ok {
				continue // not a configured node: not this parkd's to judge
			}
			perr := probeSwitch(ctx, n.ESL)
			if perr == nil {
				log.Debug().Str("silent", name).Msg("a node's parkd is silent but its switch answers: its calls stay")
				continue
			}
			reason := fmt.Sprintf("node %s lost: its parkd silent for over %s and its switch unreachable (%v); recorded by node %s",
				name, after, perr, self.Name)
			occ, err := m.DB.LoseNode(ctx, name, reason, now)
			if err != nil {
				log.Error().Err(err).Str("lost", name).Msg("could not record a lost node's calls")
				continue
			}
			if len(occ) > 0 {
				log.Warn().Str("lost", name).Int("calls", len(occ)).Msg("node lost: its parked calls recorded lost, their slots freed")
			}
			if m.nodeLamps != nil {
				// The lost node's parkd cannot darken its slots: say it for it.
				m.nodeLamps.freed(ctx, m.DB, name, occ)
			}
		}
	}
	m.wg.Go(func() {
		check()
		everyTick(ctx, every, check)
	})
	if m.nodeLamps != nil {
		m.wg.Go(func() { m.nodeLamps.run(ctx, m.DB) })
	}
}

// probeSwitch reports whether FreeSWITCH's event socket at addr accepts a
// connection: its greeting is enough to know the switch runs.
func probeSwitch(ctx context.Context, addr string) error {
	d := net.Dialer{Timeout: nodeProbeTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// otherNodesCalls lists the calls the other nodes hold, for the board.
func (m *Main) otherNodesCalls(ctx context.Context) ([]web.RemoteCall, error) {
	calls, err := m.DB.RemoteParkedCalls(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]web.RemoteCall, len(calls))
	for i, c := range calls {
		out[i] = web.RemoteCall{Node: c.Node, Occupant: c.Occupant}
	}
	return out, nil
}
