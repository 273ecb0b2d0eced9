package esl

import (
	"testing"

	"github.com/parkd/parkd/parking"
)

// The PRESENCE_PROBE of transcripts/presence.txt, byte for byte.
const transcriptProbe = `Event-Name: PRESENCE_PROBE
Core-UUID: 9c58746d-a839-49af-a085-695882b6e9be
FreeSWITCH-Hostname: vm
FreeSWITCH-Switchname: vm
FreeSWITCH-IPv4: 192.0.2.2
FreeSWITCH-IPv6: 2001%3Adb8%3A%3A2
Event-Date-Local: 2026-11-22%2002%3A26%3A37
Event-Date-GMT: Sun,%2022%20Nov%202026%2002%3A26%3A37%20GMT
Event-Date-Timestamp: 1795314397395527
Event-Calling-File: sofia_presence.c
Event-Calling-Function: sofia_presence_handle_sip_i_subscribe
Event-Calling-Line-Number: 4356
Event-Sequence: 505
proto: park
login: internal
sip_profile: internal
from: 1001%40127.0.0.1
to: park%2B701%40127.0.0.1
proto-specific-event-name: dialog
expires: 60
event_type: presence
alt_event_type: dialog
expires: 60
sub-call-id: 1-8901%40127.0.0.1

`

// Ensure the real switch's probe is recognised: its URL-encoded `to` is
// the key, and its sub-call-id is echoed as call-id.
func TestPresence_ParsesTranscriptProbe(t *testing.T) {
	ev, err := ParseEvent([]byte(transcriptProbe))
	if err != nil {
		t.Fatal(err)
	}
	c := NewClient("127.0.0.1:1", "x")
	p := NewPresence(c, nil, LampKeys{{Lot: "a", First: 701, Last: 701, Prefix: "park+"}}, nil)
	p.onProbe(ev)
	if len(p.probes) != 1 {
		t.Fatalf("%d probes queued, want 1", len(p.probes))
	}
	pr := p.probes[0]
	if pr.key.prefix != "park+" || pr.key.id != "701" || pr.domain != "127.0.0.1" || pr.callID != "1-8901@127.0.0.1" {
		t.Fatalf("probe %+v", pr)
	}
	e, ok := newPresenceIn(pr.key.prefix, pr.key.id, pr.domain, parking.Lamp{Lot: "a", Slot: 701}, pr.callID, 1)
	if !ok {
		t.Fatal("answer refused")
	}
	want := "sendevent PRESENCE_IN\r\nproto: park\r\nlogin: park+701@127.0.0.1\r\nfrom: park+701@127.0.0.1\r\n" +
		"status: Available\r\nforce-status: Available\r\nrpid: unknown\r\nevent_type: presence\r\nalt_event_type: dialog\r\nevent_count: 1\r\n" +
		"unique-id: 701\r\nchannel-state: CS_HANGUP\r\nanswer-state: terminated\r\npresence-call-direction: inbound\r\n" +
		"call-id: 1-8901@127.0.0.1"
	if got := e.BuildMessage(); got != want {
		t.Fatalf("answer\n%s\nwant\n%s", got, want)
	}
}
