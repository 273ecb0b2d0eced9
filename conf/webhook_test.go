package conf_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/parking"
)

const testSecret = "0123456789abcdef-very-secret"

// Ensure [[webhook]] tables are decoded with their defaults and in file
// order, and that String never prints the secret or the URL's query.
func TestWebhook_Decode(t *testing.T) {
	c, err := conf.Parse([]byte(fmt.Sprintf(`
[[webhook]]
url = "https://crm.example.com/hooks/parkd?token=abc"
secret = %q

[[webhook]]
name = "audit"
url = "http://10.0.0.5:9000/in"
secret = %q
events = ["parked", "retrieved"]
timeout = "3s"
max_age = "2h"
`, testSecret, testSecret)), "parkd.toml")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(c.Webhooks), 2; got != want {
		t.Fatalf("webhooks=%d, want %d", got, want)
	}
	a, b := c.Webhooks[0], c.Webhooks[1]
	if a.Timeout != conf.DefaultWebhookTimeout || a.MaxAge != conf.DefaultWebhookMaxAge || len(a.Events) != 0 {
		t.Fatalf("first webhook %v, want the defaults", a)
	}
	if a.ID() != "https://crm.example.com/hooks/parkd?…" {
		t.Fatalf("ID=%q, want the URL", a.ID())
	}
	if !a.Wants(parking.EventLost) || b.Wants(parking.EventLost) || !b.Wants(parking.EventParked) {
		t.Fatal("Wants does not follow events")
	}
	if b.ID() != "audit" || b.Timeout != 3*time.Second || b.MaxAge != 2*time.Hour || !slices.Equal(b.Events, []string{"parked", "retrieved"}) {
		t.Fatalf("second webhook %v", b)
	}
	for _, s := range []string{a.String(), fmt.Sprintf("%#v", b), fmt.Sprintf("%v", c.Webhooks)} {
		if strings.Contains(s, testSecret) || strings.Contains(s, "token=abc") {
			t.Fatalf("String leaks a secret: %s", s)
		}
	}
}

// Ensure every bad [[webhook]] value is refused with its key, the secret
// never quoted, and a URL that points at parkd's own listeners refused
// with that reason.
func TestWebhook_Validate(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		key, want  string
	}{
		{"NoURL", `secret = "` + testSecret + `"`, "webhook[0].url", "must be set"},
		{"Scheme", `url = "ftp://example.com/x"`, "webhook[0].url", "scheme must be http or https"},
		{"FileScheme", `url = "file:///etc/passwd"`, "webhook[0].url", "scheme must be http or https"},
		{"UserInfo", `url = "https://bob:hunter2@example.com/x"`, "webhook[0].url", "must not carry user info"},
		{"NoHost", `url = "http:///x"`, "webhook[0].url", "missing host"},
		{"BadPort", `url = "http://example.com:99999/x"`, "webhook[0].url", "port must be"},
		{"SelfHTTP", `url = "http://127.0.0.1:8085/api"`, "webhook[0].url", "points at parkd itself (http.listen 127.0.0.1:8085)"},
		{"SelfLocalhost", `url = "http://localhost:8085/"`, "webhook[0].url", "points at parkd itself"},
		{"SelfIPv6Loopback", `url = "http://[::1]:8084/"`, "webhook[0].url", "points at parkd itself (esl.listen 127.0.0.1:8084)"},
		{"SelfESL", `url = "http://127.0.0.2:8084/"`, "webhook[0].url", "points at parkd itself (esl.listen"},
		{"NoSecret", `url = "https://example.com/x"`, "webhook[0].secret", "must be set"},
		{"ShortSecret", `url = "https://example.com/x"
secret = "shorty"`, "webhook[0].secret", "too short"},
		{"UnknownEvent", `url = "https://example.com/x"
events = ["parked", "teleported"]`, "webhook[0].events[1]", `"teleported": unknown event (known: parked, retrieved`},
		{"Timeout", `url = "https://example.com/x"
timeout = "0s"`, "webhook[0].timeout", "must be at least 1s"},
		{"MaxAge", `url = "https://example.com/x"
max_age = "1000h"`, "webhook[0].max_age", "must be at most 720h"},
		{"UnknownKey", `url = "https://example.com/x"
sekret = "x"`, "webhook[0].sekret", "unknown key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			body := tc.body
			if !strings.Contains(body, "secret =") && tc.key != "webhook[0].secret" {
				body += "\nsecret = \"" + testSecret + "\""
			}
			_, err := conf.Parse([]byte("[[webhook]]\n"+body+"\n"), "parkd.toml")
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.key+": ") || !strings.Contains(msg, tc.want) {
				t.Fatalf("err=%q, want %s: ...%s", msg, tc.key, tc.want)
			}
			for _, leak := range []string{testSecret, "hunter2", "shorty"} {
				if strings.Contains(msg, leak) {
					t.Fatalf("err=%q leaks %q", msg, leak)
				}
			}
		})
	}
}

// Ensure a webhook to parkd's listener on every interface is refused when
// it names a loopback address, and one to another port is not.
func TestWebhook_SelfAllInterfaces(t *testing.T) {
	base := fmt.Sprintf("[http]\nlisten = \"0.0.0.0:9443\"\n[[webhook]]\nsecret = %q\n", testSecret)
	if _, err := conf.Parse([]byte(base+`url = "https://localhost:9443/x"`), "p.toml"); err == nil || !strings.Contains(err.Error(), "points at parkd itself") {
		t.Fatalf("err=%v, want it refused", err)
	}
	if _, err := conf.Parse([]byte(base+`url = "https://localhost:9444/x"`), "p.toml"); err != nil {
		t.Fatalf("another port: %v", err)
	}
}

// Ensure two webhooks may not share a name, nor a URL without names.
func TestWebhook_Duplicate(t *testing.T) {
	hook := func(extra string) string {
		return fmt.Sprintf("[[webhook]]\nurl = \"https://example.com/x\"\nsecret = %q\n%s\n", testSecret, extra)
	}
	if _, err := conf.Parse([]byte(hook("")+hook("")), "p.toml"); err == nil || !strings.Contains(err.Error(), "webhook[1].name: duplicate webhook url") {
		t.Fatalf("err=%v, want a duplicate", err)
	}
	if _, err := conf.Parse([]byte(hook(`name = "a"`)+hook(`name = "b"`)), "p.toml"); err != nil {
		t.Fatalf("named: %v", err)
	}
}

// Ensure a syntax error on a secret's line does not print the line.
func TestWebhook_SyntaxSecretHidden(t *testing.T) {
	_, err := conf.Parse([]byte("[[webhook]]\nurl = \"https://example.com/x\"\nsecret = \"abcdefghijklmnopqrs\" x\n"), "p.toml")
	if err == nil || strings.Contains(err.Error(), "abcdefghijklmnopqrs") || !strings.Contains(err.Error(), "details hidden") {
		t.Fatalf("err=%v", err)
	}
}

// Ensure a change to the webhooks needs a restart.
func TestWebhook_NeedsRestart(t *testing.T) {
	a := conf.Default()
	b := conf.Default()
	b.Webhooks = []conf.Webhook{{URL: "https://example.com/x", Secret: testSecret}}
	if got := conf.NeedsRestart(a, b); !slices.Equal(got, []string{"webhook"}) {
		t.Fatalf("NeedsRestart=%v, want [webhook]", got)
	}
}
