package fstest

import (
	"fmt"
	"time"

	"github.com/parkd/parkd/esl"
)

// bridge is uuid_bridge a b (docs/freeswitch.md#bridge-argument-order). The music stops on both legs, both
// leave what they ran, and CHANNEL_BRIDGE fires once with Unique-ID = a. If
// b is not answered the bridge fails shortly after: b is hung up
// DESTINATION_OUT_OF_ORDER and a ORIGINATOR_CANCEL
// (docs/freeswitch.md#unanswered-retriever-kills-both).
// Called with s.mu held.
func (s *Switch) bridge(a, b *Channel) {
	for _, leg := range []*Channel{a, b} {
		if leg.bridge != nil && leg.bridge != a && leg.bridge != b {
			leg.leaveBridge()
		}
		leg.bridge = nil
		leg.unwind("PLAYBACK ERROR")
		leg.dormant, leg.uuidParked, leg.extern = false, false, false
		leg.setState("CS_HIBERNATE")
		leg.setState("CS_RESET")
		leg.setState("CS_SOFT_EXECUTE")
	}
	if !b.answered {
		s.after(s.opts.BridgeFailDelay, func() {
			b.hangup("DESTINATION_OUT_OF_ORDER", "send_bye")
			a.hangup("ORIGINATOR_CANCEL", "send_bye")
		})
		return
	}
	now := time.Now()
	a.bridge, b.bridge = b, a
	a.bridgeA, b.bridgeA = true, false
	a.bridgedAt, b.bridgedAt = now, now
	for _, p := range [][2]*Channel{{a, b}, {b, a}} {
		leg, other := p[0], p[1]
		leg.vars.set("bridge_uuid", other.uuid)
		leg.vars.set("signal_bond", other.uuid)
		leg.vars.set("transfer_source", fmt.Sprintf("%d:%s:uuid_br:%s", now.Unix(), esl.NewUUID(), other.uuid))
		leg.vars.set("current_application_data", other.uuid)
		leg.vars.set("current_application", "uuid_bridge")
		leg.appName, leg.appData = "uuid_bridge", other.uuid
		leg.execEvent("CHANNEL_EXECUTE", &app{name: "uuid_bridge", data: other.uuid, uuid: esl.NewUUID()}, "")
	}
	a.event("CHANNEL_BRIDGE", evOpts{level: levelFull, pre: esl.Headers{
		hdr("Bridge-A-Unique-ID", a.uuid), hdr("Bridge-B-Unique-ID", b.uuid)}})
	b.setState("CS_CONSUME_MEDIA")
	b.setState("CS_EXCHANGE_MEDIA")
	a.notify()
	b.notify()
}
