package esl_test

import (
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
)

// Ensure a blind-transfer park costs two round trips on its socket: parkd
// writes the socket's setup right behind connect, before the connect reply
// (FreeSWITCH carries a socket's commands out in order), and the park's
// variables with the transfer to the music, before the variables' reply.
// The peer here answers nothing until it has read each batch: had parkd
// waited for a reply in between, it would never send the rest.
func TestServer_ParkInTwoRoundTrips(t *testing.T) {
	r := startDeadlineRig(t)
	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	rd := esl.NewReader(nc)
	expect := func(prefix string) {
		t.Helper()
		_ = nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		cmd, err := rd.ReadCommand()
		if err != nil || !strings.HasPrefix(cmd.Line, prefix) {
			t.Fatalf("parkd sent %q (%v), want %s... before any reply", cmd.Line, err, prefix)
		}
	}
	send := func(s string) {
		t.Helper()
		if _, err := io.WriteString(nc, s); err != nil {
			t.Fatal(err)
		}
	}
	const ok = "Content-Type: command/reply\nReply-Text: +OK\n\n"
	const apiOK = "Content-Type: api/response\nContent-Length: 4\n\n+OK\n"

	for _, c := range []string{"connect", "myevents", "linger", "filter", "filter", "filter", "filter"} {
		expect(c)
	}
	call := esl.NewUUID()
	send("Content-Type: command/reply\nReply-Text: +OK\nUnique-ID: " + call + "\nAnswer-State: answered\n" +
		"Caller-Caller-ID-Number: 5550100\nvariable_parkd_action: park\nvariable_parkd_lot: main\nvariable_parkd_slot: 201\n" +
		"variable_sip_h_Referred-By: <sip:1000@127.0.0.1>\n\n")
	for range 6 {
		send(ok)
	}
	expect("api uuid_setvar_multi " + call)
	expect("api uuid_transfer " + call + " endless_playback:local_stream://moh inline")
	send(apiOK + apiOK)
	if res := r.parkOutcome(t); res.err != nil || res.occ.Slot != 201 {
		t.Fatalf("Park: %+v", res)
	}
	expect("exit")
}
