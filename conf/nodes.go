package conf

import (
	"fmt"
	"regexp"
)

// Node is one FreeSWITCH node of a site whose nodes share the lots
// ([[node]]). Each node has its own parkd, connected to that node's event
// socket only: a call's media runs through the node it is on, so the parkd
// beside it is the one that can park, bridge and recall it, and no one
// process has to reach every switch. All of them use one PostgreSQL
// database, which settles slot claims and hands retrievers across nodes.
type Node struct {
	// Name names the node in the history, on the board and in the
	// dialplan (the extension parkd_hop_<name>).
	Name string `toml:"name"`
	// ESL is the node's inbound event socket, host:port: its own parkd's
	// [esl] freeswitch.
	ESL string `toml:"esl"`
	// SIP is where the other nodes send a retriever for a call parked
	// on this node: host or host:port of the node's SIP profile (or of a
	// proxy routing to it).
	SIP string `toml:"sip"`
	// Profile is the sofia profile the other nodes place that call
	// through. Default "internal".
	Profile string `toml:"profile"`
}

// DefaultNodeProfile is a node's Profile when it sets none.
const DefaultNodeProfile = "internal"

// nodeNameRE is what a node name may be (the rule of a lot name): it
// becomes part of a dialplan extension and a PostgreSQL setting.
var nodeNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// sipHostRE is a SIP host or host:port as it may stand in a dial string.
var sipHostRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$`)

// profileRE is a sofia profile name.
var profileRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)

// Self returns the node this parkd serves, if [esl] node names one.
func (c *Config) Self() (Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == c.ESL.Node && n.Name != "" {
			return n, true
		}
	}
	return Node{}, false
}

// NodeNamed returns the node called name.
func (c *Config) NodeNamed(name string) (Node, bool) {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n, true
		}
	}
	return Node{}, false
}

// validateNodes records the problems of [[node]] and [esl] node.
func (c *Config) validateNodes(p *problems) {
	if len(c.Nodes) == 0 {
		if c.ESL.Node != "" {
			p.addf("esl.node", "%s: names a node, but no [[node]] is configured", quote(c.ESL.Node))
		}
		return
	}
	if c.Store.Driver != "postgres" {
		p.addf("node", `nodes share their lots through PostgreSQL: set [store] driver = "postgres"`)
	}
	seen := map[string]bool{}
	for i := range c.Nodes {
		n := &c.Nodes[i]
		key := fmt.Sprintf("node[%d]", i)
		if n.Profile == "" {
			n.Profile = DefaultNodeProfile
		}
		if p.match(key+".name", n.Name, nodeNameRE, "must be 1 to 32 characters from a-z, 0-9, _ and -, starting with a letter or digit") {
			if seen[n.Name] {
				p.addf(key+".name", "%s: two nodes have this name", quote(n.Name))
			}
			seen[n.Name] = true
		}
		p.hostPort(key+".esl", n.ESL)
		p.match(key+".sip", n.SIP, sipHostRE, "must be the node's SIP host or host:port, e.g. 10.0.0.11:5060")
		p.match(key+".profile", n.Profile, profileRE, "must be a sofia profile name, e.g. internal")
	}
	self, ok := c.Self()
	switch {
	case c.ESL.Node == "":
		p.addf("esl.node", "must name the [[node]] this parkd serves (one of the %d configured)", len(c.Nodes))
	case !ok:
		p.addf("esl.node", "%s: no [[node]] has this name", quote(c.ESL.Node))
	case self.ESL != c.ESL.FreeSWITCH:
		p.addf("esl.freeswitch", "%s: must be node %s's esl (%s): a parkd serves its own node's switch", quote(c.ESL.FreeSWITCH), quote(self.Name), quote(self.ESL))
	}
}
