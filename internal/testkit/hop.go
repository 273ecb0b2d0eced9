package testkit

import (
	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

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
		if !parking.ValidHopToken(tok) {
			return []string{"hangup CALL_REJECTED"}
		}
		return []string{"bridge {sip_h_X-Parkd-Token=" + tok + "}sofia/internal/" + esl.HopExtension + "@" + toSIP}
	})
	to.SetInbound(func(spec fstest.CallSpec) (fstest.CallSpec, bool) {
		if spec.Destination != esl.HopExtension || !parking.ValidHopToken(spec.Vars[esl.VarHopToken]) {
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
