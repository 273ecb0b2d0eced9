package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

// Ensure /metrics is served to any role, by token or by session, and to
// nobody else; and that without a Metrics handler there is no /metrics.
func TestMetrics_Auth(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "parkd_parked_calls 0")
	})
	e := newEnv(t, func(c *Config) { c.Metrics = h })
	for name, tok := range map[string]string{"agent token": agentTok, "supervisor token": superTok} {
		if w := e.get("/metrics", tok, nil); w.Code != 200 || w.Body.String() != "parkd_parked_calls 0\n" {
			t.Errorf("%s: %d %q", name, w.Code, w.Body)
		}
	}
	c, _ := e.login("alice", alicePass)
	if w := e.get("/metrics", "", c); w.Code != 200 {
		t.Errorf("agent session: %d", w.Code)
	}
	if w := e.get("/metrics", "", nil); w.Code != 401 || w.Header().Get("WWW-Authenticate") == "" {
		t.Errorf("no credentials: %d, WWW-Authenticate %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if w := e.get("/metrics", "not-a-token", nil); w.Code != 401 {
		t.Errorf("wrong token: %d", w.Code)
	}
	if w := e.do(httptest.NewRequest(http.MethodPost, "/metrics", nil)); w.Code != 405 {
		t.Errorf("POST: %d", w.Code)
	}

	off := newEnv(t, nil)
	if w := off.get("/metrics", superTok, nil); w.Code != 404 {
		t.Errorf("no Metrics handler: %d, want 404", w.Code)
	}
}
