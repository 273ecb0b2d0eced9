package fsconf

import (
	"fmt"
	"regexp"

	"github.com/parkd/parkd/esl"
)

// Node is a FreeSWITCH node of a site whose nodes share the lots, as the
// dialplan of one node sees it.
type Node struct {
	Name    string // conf's node name
	SIP     string // host or host:port the other nodes send retrievers to
	Profile string // the sofia profile they send them through
}

var (
	// nodeNameRE: conf gives node names the rule of lot names.
	nodeNameRE = lotNameRE
	// sipHostRE is conf's rule for a node's sip: a host name or address,
	// optionally with a port; nothing a dial string would read as more.
	sipHostRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9.-]{0,252}(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?$`)
	profileRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
)

// nodeView is one other node in the template's data.
type nodeView struct {
	Name        string // attribute-escaped
	CommentName string
	Extension   string // esl.HopExtensionPrefix + name
	Dial        string // the bridge's data, attribute-escaped
}

// hopViews are the template's data for p's nodes: every node but Self.
func (p Params) hopViews() []nodeView {
	var out []nodeView
	for _, n := range p.Nodes {
		if n.Name == p.Self {
			continue
		}
		// $1 is the token the condition matched on ${parkd_hop_token}:
		// 32 hex digits, nothing else reaches the dial string.
		dial := fmt.Sprintf("{sip_h_X-Parkd-Token=$1}sofia/%s/%s@%s", n.Profile, esl.HopExtension, n.SIP)
		out = append(out, nodeView{
			Name: attr(n.Name), CommentName: comment(n.Name), Extension: attr(esl.HopExtensionPrefix + n.Name), Dial: attr(dial),
		})
	}
	return out
}

// validateNodes checks p's nodes as conf does.
func (p Params) validateNodes() []error {
	if len(p.Nodes) == 0 {
		if p.Self != "" {
			return []error{fmt.Errorf("self %q: no nodes", p.Self)}
		}
		return nil
	}
	var errs []error
	found := false
	for i, n := range p.Nodes {
		if !nodeNameRE.MatchString(n.Name) {
			errs = append(errs, fmt.Errorf("node[%d]: name %q: must be 1 to 32 characters from a-z, 0-9, _ and -", i, n.Name))
		}
		if !sipHostRE.MatchString(n.SIP) {
			errs = append(errs, fmt.Errorf("node[%d]: sip %q: must be a host or host:port", i, n.SIP))
		}
		if !profileRE.MatchString(n.Profile) {
			errs = append(errs, fmt.Errorf("node[%d]: profile %q: must be a sofia profile name", i, n.Profile))
		}
		found = found || n.Name == p.Self
	}
	if !found {
		errs = append(errs, fmt.Errorf("self %q: not one of the nodes", p.Self))
	}
	return errs
}
