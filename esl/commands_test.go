package esl

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/percipia/eslgo/command"

	"github.com/parkd/parkd/parking"
)

const (
	uuidA = "0c9f5a1e-8a7b-4c1d-9e2f-3a4b5c6d7e8f"
	uuidB = "ac7d6a85-64db-4fa8-82fa-c3d8e935bb8d"
)

// Ensure the builders produce the exact commands docs/freeswitch.md describes.
func TestBuilders(t *testing.T) {
	must := func(c command.API, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c.BuildMessage()
	}
	for _, tc := range []struct{ got, want string }{
		{must(transferInline(uuidA, "local_stream://moh")), "api uuid_transfer " + uuidA + " endless_playback:local_stream://moh inline"},
		{must(bridge(uuidA, uuidB)), "api uuid_bridge " + uuidA + " " + uuidB},
		{must(setVars(uuidA, [][2]string{{"parkd_lot", "main"}, {"parkd_parked_at", "2026-11-22T03:16:00.000Z"}, {"parkd_parker", "Bob Lee=1000"}})),
			"api uuid_setvar_multi " + uuidA + " parkd_lot=main;parkd_parked_at=2026-11-22T03:16:00.000Z;parkd_parker=Bob Lee=1000"},
		{must(transferTo(uuidA, "1000", "default")), "api uuid_transfer " + uuidA + " 1000 XML default"},
		{must(kill(uuidA, "NORMAL_CLEARING")), "api uuid_kill " + uuidA + " NORMAL_CLEARING"},
	} {
		if tc.got != tc.want {
			t.Errorf("got  %q\nwant %q", tc.got, tc.want)
		}
	}
	ex, err := execute(uuidA, "answer", "", uuidB)
	if err != nil {
		t.Fatal(err)
	}
	msg := ex.BuildMessage()
	for _, want := range []string{"sendmsg " + uuidA + "\r\n", "Call-Command: execute", "Execute-App-Name: answer", "Event-Uuid: " + uuidB, "event-lock: true"} {
		if !strings.Contains(msg, want) {
			t.Errorf("sendmsg %q lacks %q", msg, want)
		}
	}
}

// Ensure every builder refuses the injection payloads of
// docs/freeswitch.md#newlines-split-commands and other unsafe values.
func TestBuilders_RefuseUnsafe(t *testing.T) {
	bad := []string{
		"hello\n\napi uuid_kill " + uuidA, "hello\r\n\r\napi uuid_kill x", "hello\nX-Extra: 1",
		"X',park_timeout=1,ignore='", "a b", "{x}", "a,b", "", strings.Repeat("9", 300),
		"x;parkd_slot=1", " x", "x ", `x\;y`,
	}
	for _, v := range bad {
		for name, err := range map[string]error{
			"transferInline uuid":  second(transferInline(v, "local_stream://moh")),
			"transferInline music": second(transferInline(uuidA, v)),
			"transferTo ext":       second(transferTo(uuidA, v, "default")),
			"transferTo context":   second(transferTo(uuidA, "1000", v)),
			"bridge a":             second(bridge(v, uuidB)),
			"setVars value":        second(setVars(uuidA, [][2]string{{"parkd_lot", "main"}, {"parkd_parker", v}})),
			"setVars name":         second(setVars(uuidA, [][2]string{{v, "x"}})),
			"kill":                 second(kill(v, "NORMAL_CLEARING")),
		} {
			if name == "setVars value" && v == "a b" {
				continue // a variable's value may hold spaces
			}
			if !errors.Is(err, ErrUnsafeValue) {
				t.Errorf("%s accepted %q", name, v)
			}
		}
	}
	for _, n := range []int{0, 33} {
		if _, err := setVars(uuidA, make([][2]string, n)); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("setVars with %d variables: %v", n, err)
		}
	}
	if _, err := bridge(uuidA, uuidA); err == nil {
		t.Error("bridging a call to itself accepted")
	}
}

func second[T any](_ T, err error) error { return err }

// FuzzBuilders: whatever a builder accepts is one line with no quote or
// brace, so it can only ever be the one command it was meant to be.
func FuzzBuilders(f *testing.F) {
	f.Add(uuidA, "local_stream://moh", "1000")
	f.Add("x\n\napi", "a,b", "{}")
	f.Fuzz(func(t *testing.T, uuid, media, value string) {
		check := func(c command.API, err error) {
			if err != nil {
				return
			}
			msg := c.BuildMessage()
			if strings.ContainsAny(msg, "\r\n'\"{}\x00") {
				t.Fatalf("unsafe command built: %q", msg)
			}
		}
		check(transferInline(uuid, media))
		check(transferTo(uuid, value, media))
		check(bridge(uuid, uuidB))
		check(setVars(uuid, [][2]string{{"parkd_parker", value}}))
		check(setVars(uuidA, [][2]string{{value, media}, {"parkd_lot", value}}))
		if c, err := setVars(uuidA, [][2]string{{"parkd_lot", "main"}, {"parkd_parker", value}}); err == nil {
			// Split as FreeSWITCH splits it: exactly the two variables.
			_, list, _ := strings.Cut(c.Arguments, " ")
			if parts := strings.Split(list, ";"); len(parts) != 2 || parts[1] != "parkd_parker="+value {
				t.Fatalf("uuid_setvar_multi list %q does not split back into its variables", list)
			}
		}
		check(kill(uuid, value))
		// The park marks, a lot's domain among them.
		if set, move, err := holdCommands(uuid, "pbx1", parking.Hold{Lot: "main", Domain: value, Slot: 202, Parker: value, Music: media}); err == nil {
			check(set, nil)
			check(move, nil)
			if _, list, _ := strings.Cut(set.Arguments, " "); value != "" && !strings.Contains(";"+list+";", ";"+VarDomain+"="+value+";") {
				t.Fatalf("parkd_domain=%q does not split back out of %q", value, list)
			}
		}
		check(markSlot(uuid, value, len(media)))
		check(transferDest(uuid, parking.Destination{Extension: value, Dialplan: media, Context: value}))
		if h, err := hangup(uuid, value); err == nil && strings.Count(h.BuildMessage(), "\r\n\r\n") > 0 {
			t.Fatalf("hangup with a blank line: %q", h.BuildMessage())
		}
		if ex, err := execute(uuid, value, media, uuidB); err == nil {
			if strings.Count(ex.BuildMessage(), "\r\n\r\n") > 0 {
				t.Fatalf("sendmsg with a blank line: %q", ex.BuildMessage())
			}
		}
	})
}

// Ensure transferTo, like transferDest, refuses an extension or context
// starting with '-': uuid_transfer reads a first argument of -bleg or
// -both as a flag, so a Referred-By user "-bleg" (the parker a refused
// call is sent back to) would transfer the caller's partner instead.
func TestTransferTo_RefusesFlagLikeParts(t *testing.T) {
	for _, v := range []string{"-bleg", "-both", "-1000"} {
		if _, err := transferTo(uuidA, v, "default"); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("transferTo accepted extension %q: %v", v, err)
		}
		if _, err := transferTo(uuidA, "1000", v); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("transferTo accepted context %q: %v", v, err)
		}
	}
}

// Ensure MarkSlot's command writes the lot and slot Survey reads, and
// refuses what could break it.
func TestMarkSlot(t *testing.T) {
	c, err := markSlot(uuidA, "main", 205)
	if err != nil || c.BuildMessage() != "api uuid_setvar_multi "+uuidA+" parkd_lot=main;parkd_slot=205" {
		t.Fatalf("markSlot: %q, %v", c.BuildMessage(), err)
	}
	for _, bad := range []struct {
		uuid, lot string
		slot      int
	}{
		{uuidA, "main;parkd_parker=x", 205}, {uuidA, "Main", 205}, {uuidA, "", 205},
		{uuidA, "main", 0}, {uuidA, "main", -1}, {"x\n\napi", "main", 1},
	} {
		if _, err := markSlot(bad.uuid, bad.lot, bad.slot); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("markSlot(%q, %q, %d): %v, want ErrUnsafeValue", bad.uuid, bad.lot, bad.slot, err)
		}
	}
}

// Ensure "not connected" matches parking.ErrSwitchDown, for the web API's
// 503, and keeps its own identity.
func TestErrNotConnected_IsSwitchDown(t *testing.T) {
	err := fmt.Errorf("kill x: %w", ErrNotConnected)
	if !errors.Is(err, parking.ErrSwitchDown) || !errors.Is(err, ErrNotConnected) || errors.Is(err, parking.ErrCallGone) {
		t.Fatalf("%v", err)
	}
	if err := NewClient("127.0.0.1:1", "x").MarkSlot(t.Context(), uuidA, "main", 201); !errors.Is(err, parking.ErrSwitchDown) {
		t.Fatalf("MarkSlot while not connected: %v, want ErrSwitchDown", err)
	}
}
