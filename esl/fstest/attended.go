package fstest

import (
	"fmt"
	"strings"

	"github.com/parkd/parkd/esl"
)

// Attended transfer into a parked consult call, as the real switch does it
// (../shared/freeswitch/FACTS.md E10). Reception (B) talks to the caller
// (A) in a bridged call, puts A on hold and dials the park code: the
// consult call, parked by parkd like any call. B's phone then sends, inside
// call A, REFER with Refer-To: <sip:*70@host?Replaces=<consult Call-ID>;
// to-tag=..;from-tag=..> and a Referred-By. FreeSWITCH then
//  1. hangs the consult channel up with cause ATTENDED_TRANSFER;
//  2. unbridges A from reception's leg and sends A's existing channel (same
//     UUID) through the dialplan to the consult call's destination, so the
//     park extension runs again and `socket` connects to parkd anew, with
//     Referred-By and the Refer-To (Replaces) on the channel;
//  3. ends reception's leg of call A (NORMAL_CLEARING).
//
// The hangup came first on the lab's switch, a few tens of milliseconds
// before the new connect, but nothing orders them:
// AttendedTransfer.ConsultHangupLast sends it after the connect.

// BridgedCall creates a call from callerNumber (A, inbound, answered)
// bridged to the phone of user (an answered outbound leg), as when
// reception has answered a call. It returns A and reception's leg.
func (s *Switch) BridgedCall(callerName, callerNumber, user string) (caller, callee *Channel, err error) {
	if !tokenLike(callerNumber) || !tokenLike(user) {
		return nil, nil, fmt.Errorf("fstest: bridged call: caller %q and user %q must be plain extensions", callerNumber, user)
	}
	if callerName == "" {
		callerName = callerNumber
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, fmt.Errorf("fstest: switch closed")
	}
	a := s.newChannel(esl.NewUUID(), "inbound", callerNumber, callerName, callerNumber, user)
	a.setState("CS_ROUTING")
	a.setState("CS_EXECUTE")
	b := s.newChannel(esl.NewUUID(), "outbound", user, "Outbound Call", user, user)
	b.setState("CS_ROUTING")
	b.setState("CS_CONSUME_MEDIA")
	b.markAnswered()
	a.markAnswered()
	a.calleeName, a.calleeNum = "Outbound Call", user
	a.vars.set("last_sent_callee_id_number", user)
	a.vars.set("hangup_after_bridge", "true")
	s.bridge(a, b)
	return a, b, nil
}

// AttendedTransfer is how CompleteAttendedTransfer completes an attended
// transfer of a bridged caller into a parked consult call.
type AttendedTransfer struct {
	// SocketAddr is the outbound listener of the code under test: the park
	// extension's `socket`.
	SocketAddr string
	// Vars are the park extension's variables (parkd_action, parkd_lot,
	// parkd_slot), set on the caller's channel before `socket`.
	Vars map[string]string
	// Domain is the host of the Refer-To and Referred-By URIs. Default
	// 127.0.0.1.
	Domain string
	// ToTag and FromTag are the consult dialog's tags in the Replaces
	// header. Defaults: fixed values.
	ToTag, FromTag string
	// AfterSocket are the dialplan actions after `socket`, as for
	// CallSpec.AfterSocket.
	AfterSocket []string
	// ConsultHangupLast sends the consult call's hangup after the caller's
	// new connect to SocketAddr instead of before.
	ConsultHangupLast bool
}

// CompleteAttendedTransfer completes the attended transfer of caller,
// bridged to reception's leg by BridgedCall, into consult, reception's
// parked consult call: see the comment at the top of this file. The caller
// keeps its UUID and Call-ID; it reaches SocketAddr with the consult call's
// destination, Referred-By naming reception, and a Refer-To whose Replaces
// is the consult call's Call-ID. It returns once the caller's socket is
// connected (and, with ConsultHangupLast, the consult call hung up).
func (s *Switch) CompleteAttendedTransfer(caller, consult *Channel, x AttendedTransfer) error {
	domain := x.Domain
	if domain == "" {
		domain = "127.0.0.1"
	}
	toTag, fromTag := x.ToTag, x.FromTag
	if toTag == "" {
		toTag = "consult-to-tag"
	}
	if fromTag == "" {
		fromTag = "consult-from-tag"
	}

	s.mu.Lock()
	if s.closed || !caller.alive || !consult.alive {
		s.mu.Unlock()
		return fmt.Errorf("fstest: attended transfer: a channel is gone")
	}
	reception := caller.bridge
	if reception == nil {
		s.mu.Unlock()
		return fmt.Errorf("fstest: attended transfer: caller %s is not bridged", caller.uuid)
	}
	consultID, _ := consult.vars.get("sip_call_id")
	dest := consult.dest

	if !x.ConsultHangupLast {
		consult.hangup("ATTENDED_TRANSFER", "recv_bye")
	}

	// Unbridge the caller (CHANNEL_UNBRIDGE on the bridge's first leg),
	// then end reception's leg without sending the caller on.
	if caller.bridgeA {
		caller.unbridgeEvent()
	} else {
		reception.unbridgeEvent()
	}
	caller.bridge, reception.bridge = nil, nil
	caller.bridgeA, reception.bridgeA = false, false
	reception.hangup("NORMAL_CLEARING", "recv_bye")

	// The caller's channel goes through the dialplan to the consult call's
	// destination. The Replaces value is escaped inside the URI's headers,
	// as desk phones send it; the event encoding leaves %XX as it is.
	caller.unwind("_none_")
	caller.dest = dest
	caller.ran, caller.plan = nil, append([]string(nil), x.AfterSocket...)
	caller.calleeName, caller.calleeNum, caller.rdnis = "Outbound Call", reception.user, reception.user
	referTo := fmt.Sprintf("<sip:%s@%s?Replaces=%s%%3Bto-tag%%3D%s%%3Bfrom-tag%%3D%s>",
		dest, domain, escapeReplaces(consultID), toTag, fromTag)
	caller.vars.set("sip_h_Referred-By", fmt.Sprintf("<sip:%s@%s>", reception.user, domain))
	caller.vars.set("sip_refer_to", referTo)
	caller.vars.set("transfer_history", fmt.Sprintf("%d:%s:bl_xfer:%s/default/XML", caller.created.Unix(), esl.NewUUID(), dest))
	caller.vars.set("DP_MATCH", "ARRAY::"+dest)
	caller.setVars(x.Vars)
	caller.setState("CS_ROUTING")
	caller.setState("CS_EXECUTE")
	sa := caller.startSocket(x.SocketAddr)
	s.mu.Unlock()

	err := s.dialSocket(caller, sa, x.SocketAddr)
	if x.ConsultHangupLast {
		s.mu.Lock()
		consult.hangup("ATTENDED_TRANSFER", "recv_bye")
		s.mu.Unlock()
	}
	return err
}

// escapeReplaces escapes a Call-ID for the Replaces header inside a SIP
// URI: '@' (and anything not plain) as %XX, the way desk phones send it.
func escapeReplaces(id string) string {
	var b strings.Builder
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		fmt.Fprintf(&b, "%%%02X", c)
	}
	return b.String()
}

// tokenLike reports whether s is a plain extension: what BridgedCall puts
// into channel names and SIP URIs.
func tokenLike(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.+*#-") == ""
}
