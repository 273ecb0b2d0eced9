package esl

import (
	"errors"
	"strings"
	"testing"

	"github.com/parkd/parkd/parking"
)

const hopToken = "0123456789abcdef0123456789abcdef"

// Ensure a hop is the token set on the channel, then the transfer to the
// node's hop extension in the channel's context, and that a token or node
// that is not exactly what parkd makes is refused.
func TestHopCommands(t *testing.T) {
	set, transfer, err := hopCommands(uuidA, "b", hopToken, "default")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := set.BuildMessage(), "api uuid_setvar_multi "+uuidA+" parkd_hop_token="+hopToken; got != want {
		t.Errorf("set: %q, want %q", got, want)
	}
	if got, want := transfer.BuildMessage(), "api uuid_transfer "+uuidA+" parkd_hop_b XML default"; got != want {
		t.Errorf("transfer: %q, want %q", got, want)
	}
	for _, bad := range [][3]string{
		{uuidA, "b", hopToken + "0"},
		{uuidA, "b", strings.ToUpper(hopToken)},
		{uuidA, "b", hopToken[:31] + "\n"},
		{uuidA, "B", hopToken},
		{uuidA, "b c", hopToken},
		{uuidA, "-both", hopToken},
		{"x", "b", hopToken},
	} {
		if _, _, err := hopCommands(bad[0], bad[1], bad[2], "default"); !errors.Is(err, ErrUnsafeValue) {
			t.Errorf("hopCommands(%q): %v, want ErrUnsafeValue", bad, err)
		}
	}
}

// Ensure a hop request carries its token only when it is 32 hex digits.
func TestParseRequest_Hop(t *testing.T) {
	h := Headers{{"Unique-ID", uuidA}, {"variable_parkd_action", "hop"}, {"variable_sip_h_X-Parkd-Token", hopToken}}
	req, err := ParseRequest(h)
	if err != nil || req.Action != ActionHop || req.Token != hopToken {
		t.Fatalf("%+v, %v", req, err)
	}
	for _, bad := range []string{"", "_undef_", hopToken + "\nx", "g123456789abcdef0123456789abcdef"} {
		h[2].Value = bad
		if req, err := ParseRequest(h); !errors.Is(err, ErrBadRequest) || req.Token != "" {
			t.Errorf("token %q: %+v, %v", bad, req, err)
		}
	}
}

// FuzzHop: whatever the hop builders accept is one line with no quote,
// brace or separator beyond the one variable, and a parsed token is
// always 32 hex digits.
func FuzzHop(f *testing.F) {
	f.Add(uuidA, "b", hopToken, "default")
	f.Add(uuidA, "b\n\napi x", hopToken+";x=y", "-bleg")
	f.Fuzz(func(t *testing.T, uuid, node, token, context string) {
		if set, transfer, err := hopCommands(uuid, node, token, context); err == nil {
			for _, c := range []string{set.BuildMessage(), transfer.BuildMessage()} {
				if strings.ContainsAny(c, "\r\n'\"{}\x00;,") {
					t.Fatalf("unsafe command built: %q", c)
				}
			}
			if len(strings.Fields(transfer.Arguments)) != 4 {
				t.Fatalf("transfer with %d arguments: %q", len(strings.Fields(transfer.Arguments)), transfer.Arguments)
			}
		}
		req, err := ParseRequest(Headers{{"Unique-ID", uuidA}, {"variable_parkd_action", "hop"}, {"variable_sip_h_X-Parkd-Token", token}})
		if err == nil && !parking.ValidHopToken(req.Token) {
			t.Fatalf("token %q accepted", req.Token)
		}
	})
}
