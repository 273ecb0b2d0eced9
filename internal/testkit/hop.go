package testkit

import (
	"regexp"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
)

// hopTokenRE is the token the fsconf dialplan lets through ($1 of its
// conditions).
var hopTokenRE = regexp.MustCompile(`^[0-9a-f]{32}$`)

// WireHop wires from's simulated dialplan to the node called toName, on
// switch to at SIP address toSIP, as parkd fsconf writes it for nodes:
// parkd_hop_<toName> bridges to toSIP with the token in X-Parkd-Token, and
// a hop arriving at to runs one socket action per address of sockets (the
// node's parkd, or its pair's, in order), then the error tone. The socket
// addresses are read at each call.
func WireHop(from, to *fstest.Switch, toName, toSIP string, sockets func() []string) {
	from.Peer(toSIP, to)
	from.AddExtension(esl.HopExtensionPrefix+toName, func(vars map[string]string) []string {
		tok := vars[esl.VarHopOut]
		if !hopTokenRE.MatchString(tok) {
			return []string{"hangup CALL_REJECTED"}
		}
		return []string{"bridge {sip_h_X-Parkd-Token=" + tok + "}sofia/internal/" + esl.HopExtension + "@" + toSIP}
	})
	to.SetInbound(func(spec fstest.CallSpec) (fstest.CallSpec, bool) {
		if spec.Destination != esl.HopExtension || !hopTokenRE.MatchString(spec.Vars[esl.VarHopToken]) {
			return spec, false
		}
		addrs := sockets()
		spec.SocketAddr = addrs[0]
		spec.Vars["parkd_action"] = esl.ActionHop
		spec.BeforeSocket = []string{"answer"}
		spec.AfterSocket = []string{}
		for _, s := range addrs[1:] {
			spec.AfterSocket = append(spec.AfterSocket, "socket "+s+" async full")
		}
		spec.AfterSocket = append(spec.AfterSocket, "playback "+esl.ErrorTone, "hangup NORMAL_TEMPORARY_FAILURE")
		return spec, true
	})
}
