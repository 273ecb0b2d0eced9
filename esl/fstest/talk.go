package fstest

import (
	"fmt"

	"github.com/parkd/parkd/esl"
)

// TalkSpec is a call between two parties that the switch bridged, as the
// default dialplan's Local_Extension makes it: From dials To.
type TalkSpec struct {
	// FromUser and FromName are the caller: its inbound leg's presence_id
	// is FromUser@127.0.0.1 and its caller ID is FromName <FromUser>.
	FromUser, FromName string
	// ToUser is the phone that answered: its outbound leg's presence_id
	// is ToUser@127.0.0.1.
	ToUser string
}

// Talk places an answered call from spec.FromUser to spec.ToUser and
// bridges its two legs: from is the caller's inbound leg (running
// `bridge user/<to>@127.0.0.1`, hangup_after_bridge=true as
// Local_Extension sets it), to the answering phone's outbound leg. `show
// calls` lists the pair as one row, as the real switch does
// (docs/freeswitch.md#current-call).
func (s *Switch) Talk(spec TalkSpec) (from, to *Channel, err error) {
	if spec.FromUser == "" || spec.ToUser == "" {
		return nil, nil, fmt.Errorf("fstest: talk needs both users")
	}
	name := spec.FromName
	if name == "" {
		name = spec.FromUser
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, fmt.Errorf("fstest: switch closed")
	}
	from = s.newChannel(esl.NewUUID(), "inbound", spec.FromUser, name, spec.FromUser, spec.ToUser)
	to = s.newChannel(esl.NewUUID(), "outbound", spec.ToUser, name, spec.FromUser, spec.ToUser)
	for _, ch := range []*Channel{from, to} {
		ch.calleeName, ch.calleeNum = "Outbound Call", spec.ToUser
		ch.vars.set("dialed_user", spec.ToUser)
		ch.vars.set("dialed_extension", spec.ToUser)
		ch.vars.set("presence_id", ch.user+"@127.0.0.1")
		ch.vars.set("call_uuid", from.uuid)
		ch.setState("CS_ROUTING")
		ch.setState("CS_EXECUTE")
		ch.markAnswered()
	}
	from.vars.set("hangup_after_bridge", "true")
	s.bridge(from, to)
	from.appName, from.appData = "bridge", "user/"+spec.ToUser+"@127.0.0.1"
	from.vars.set("current_application", "bridge")
	from.vars.set("current_application_data", from.appData)
	to.appName, to.appData = "", ""
	return from, to, nil
}
