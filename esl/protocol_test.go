package esl_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/parking"
)

// Ensure a malformed frame in the reply to an api command on a call's
// socket (a negative Content-Length) is a protocol violation, not the
// caller leaving: the connection is dropped, a warning names the peer's
// address, the slot is freed, and nothing says the caller left.
func TestServer_ProtocolViolationInAPIReply(t *testing.T) {
	r := startDeadlineRig(t)
	nc, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	peer := nc.LocalAddr().String()
	rd := esl.NewReader(nc)
	expect := func(prefix string) {
		t.Helper()
		cmd, err := rd.ReadCommand()
		if err != nil || !strings.HasPrefix(cmd.Line, prefix) {
			t.Fatalf("parkd sent %q (%v), want %s...", cmd.Line, err, prefix)
		}
	}
	send := func(s string) {
		t.Helper()
		if _, err := io.WriteString(nc, s); err != nil {
			t.Fatal(err)
		}
	}
	const ok = "Content-Type: command/reply\nReply-Text: +OK\n\n"

	expect("connect")
	call := esl.NewUUID()
	send("Content-Type: command/reply\nReply-Text: +OK\nUnique-ID: " + call + "\nAnswer-State: answered\n" +
		"Caller-Caller-ID-Number: 5550100\nvariable_parkd_action: park\nvariable_parkd_lot: main\nvariable_parkd_slot: 201\n" +
		// Blind-transferred: a call that dials the park code itself hears
		// its slot first (SelfPark), and this test expects the hold next.
		"variable_sip_h_Referred-By: <sip:1000@127.0.0.1>\n\n")
	for _, c := range []string{"myevents", "linger", "filter", "filter", "filter", "filter"} {
		expect(c)
		send(ok)
	}
	expect("api uuid_setvar_multi " + call)
	send("Content-Type: api/response\nContent-Length: -5\n\n")

	res := r.parkOutcome(t)
	if !errors.Is(res.err, esl.ErrProtocol) || errors.Is(res.err, parking.ErrCallGone) {
		t.Fatalf("Park: %v, want a protocol violation, not the call gone", res.err)
	}
	if _, err := io.Copy(io.Discard, nc); err != nil {
		t.Fatalf("connection not closed by parkd: %v", err)
	}
	if got := r.park.Occupants(); len(got) != 0 {
		t.Fatalf("slot still held: %+v", got)
	}
	r.log.waitLog(t, 1, `"level":"warn"`, "protocol violation", `"peer":"`+peer+`"`, "Content-Length")
	if n := r.log.count("caller left"); n != 0 {
		t.Fatalf("a protocol violation logged as the caller leaving:\n%s", r.log.String())
	}
}

// Ensure a malformed frame on the inbound connection is logged at warn as a
// protocol violation with FreeSWITCH's address.
func TestClient_ProtocolViolationLogged(t *testing.T) {
	fs := startFakeFreeSWITCH(t, func(nc net.Conn, r *esl.Reader, n int) {
		if authenticate(nc, r) {
			io.WriteString(nc, "Content-Type: api/response\nContent-Length: -1\n\n")
			drain(r)
		}
	})
	log := &logBuffer{}
	c := esl.NewClient(fs.ln.Addr().String(), "ClueCon")
	c.Calls = &recordingCalls{}
	c.Logger = zerolog.New(log)
	c.MinBackoff, c.MaxBackoff = time.Hour, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	log.waitLog(t, 1, `"level":"warn"`, "protocol violation", `"peer":"`+fs.ln.Addr().String()+`"`, "Content-Length")
}

// Ensure FreeSWITCH's words for a channel that does not exist, and only
// those, match parking.ErrCallGone, through any wrapping.
func TestNewAPIError_ChannelGone(t *testing.T) {
	for reply, gone := range map[string]bool{
		"-ERR No such channel!\n":      true,
		"-ERR Invalid uuid":            true,
		"-ERR invalid session id [x]":  true,
		"-ERR no reply\n":              false,
		"-ERR USER_BUSY":               false,
		"-ERR Cannot find calls":       false,
		"-ERR command not found":       false,
		"-USAGE: <uuid> <var>":         false,
		"-ERR Operation Failed\n":      false,
		"-ERR invalid syntax":          false,
		"-ERR not controlling session": false,
	} {
		err := fmt.Errorf("kill: %w", esl.NewAPIError("uuid_kill", reply))
		if got := errors.Is(err, parking.ErrCallGone); got != gone {
			t.Errorf("%q: errors.Is(ErrCallGone)=%v, want %v", reply, got, gone)
		}
		var apiErr *esl.APIError
		if !errors.As(err, &apiErr) || apiErr.Reply != strings.TrimSpace(reply) || apiErr.Command != "uuid_kill" {
			t.Errorf("%q: errors.As: %+v", reply, apiErr)
		}
		if errors.Is(err, esl.ErrProtocol) {
			t.Errorf("%q: a -ERR reply taken for a protocol violation", reply)
		}
	}
}
