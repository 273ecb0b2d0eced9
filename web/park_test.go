package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/parkd/parkd/parking"
)

// fakeParker records ParkCall requests and answers err, or a park into
// the slot asked for (201 by default).
type fakeParker struct {
	mu   sync.Mutex
	reqs []parking.CallPark
	err  error
}

func (f *fakeParker) ParkCall(_ context.Context, req parking.CallPark) (parking.Occupant, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reqs = append(f.reqs, req)
	if f.err != nil {
		return parking.Occupant{}, f.err
	}
	lot, slot := req.Lot, req.Slot
	if lot == "" {
		lot = "main"
	}
	if slot == 0 {
		slot = 201
	}
	return parking.Occupant{Lot: lot, Slot: slot, Call: "far-1", Parker: req.Extension}, nil
}

// Ensure POST /api/park defaults, checks and maps every refusal to its
// status, for tokens and sessions, and asks the parker exactly what the
// request says.
func TestAPIPark(t *testing.T) {
	for _, tc := range []struct {
		name    string
		user    string // session user; "" uses token
		token   string
		body    string
		err     error
		want    int
		wantReq *parking.CallPark
		wantMsg string
	}{
		{name: "token names the extension", token: agentTok, body: `{"extension":"1001","slot":202}`, want: 200,
			wantReq: &parking.CallPark{Extension: "1001", Slot: 202}},
		{name: "token names no extension", token: agentTok, body: `{}`, want: 400},
		{name: "session: own extension", user: "alice", body: `{}`, want: 200,
			wantReq: &parking.CallPark{Extension: "2001", Lot: "main"}},
		{name: "session: agent's other lot", user: "alice", body: `{"lot":"sales"}`, want: 403},
		{name: "session: no extension of her own", user: "carol", body: `{}`, want: 400},
		{name: "supervisor any lot", user: "bob", body: `{"extension":"1001","lot":"sales","slot":301}`, want: 200,
			wantReq: &parking.CallPark{Extension: "1001", Lot: "sales", Slot: 301}},
		{name: "bad extension", token: agentTok, body: `{"extension":"1001\n"}`, want: 400},
		{name: "negative slot", token: agentTok, body: `{"extension":"1001","slot":-1}`, want: 400},
		{name: "not JSON", token: agentTok, body: `extension=1001`, want: 400},
		{name: "no call", token: agentTok, body: `{"extension":"1001"}`, err: parking.ErrNoCall, want: 404, wantMsg: "extension 1001 has no call"},
		{name: "slot taken", token: agentTok, body: `{"extension":"1001","slot":202}`, err: parking.ErrSlotTaken, want: 409},
		{name: "lot full", token: agentTok, body: `{"extension":"1001"}`, err: parking.ErrLotFull, want: 409},
		{name: "call moved on", token: agentTok, body: `{"extension":"1001"}`, err: fmt.Errorf("park: %w", parking.ErrCallGone), want: 409},
		{name: "already parked", token: agentTok, body: `{"extension":"1001"}`, err: parking.ErrAlreadyParked, want: 409},
		{name: "several calls", token: agentTok, body: `{"extension":"1001"}`, err: parking.ErrAmbiguousCall, want: 409},
		{name: "unknown lot", token: agentTok, body: `{"extension":"1001","lot":"x"}`, err: parking.ErrUnknownLot, want: 400},
		{name: "bad slot", token: agentTok, body: `{"extension":"1001","slot":9}`, err: parking.ErrBadSlot, want: 400},
		{name: "switch down", token: agentTok, body: `{"extension":"1001"}`, err: parking.ErrSwitchDown, want: 503},
		{name: "shutting down", token: agentTok, body: `{"extension":"1001"}`, err: parking.ErrClosed, want: 503},
		{name: "unexpected", token: agentTok, body: `{"extension":"1001"}`, err: fmt.Errorf("disk on fire"), want: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fp := &fakeParker{err: tc.err}
			e := newEnv(t, func(c *Config) { c.Parker = fp })
			req := httptest.NewRequest(http.MethodPost, "/api/park", strings.NewReader(tc.body))
			if tc.user != "" {
				pass := map[string]string{"alice": alicePass, "bob": bobPass, "carol": carolPass}[tc.user]
				c, csrf := e.login(tc.user, pass)
				req.AddCookie(c)
				req.Header.Set("X-CSRF-Token", csrf)
			} else {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			w := e.do(req)
			if w.Code != tc.want {
				t.Fatalf("status %d %s, want %d", w.Code, w.Body, tc.want)
			}
			if tc.wantMsg != "" && !strings.Contains(w.Body.String(), tc.wantMsg) {
				t.Errorf("body %s, want %q", w.Body, tc.wantMsg)
			}
			if tc.wantReq != nil {
				if len(fp.reqs) != 1 || fp.reqs[0] != *tc.wantReq {
					t.Errorf("asked %+v, want %+v", fp.reqs, *tc.wantReq)
				}
				var out parkReply
				decode(t, w, &out)
				if out.Call != "far-1" || out.Parker != tc.wantReq.Extension || out.Slot == 0 || out.Lot == "" {
					t.Errorf("answer %+v", out)
				}
			}
			if tc.want == 400 || tc.want == 403 {
				if tc.err == nil && len(fp.reqs) != 0 {
					t.Errorf("a refused request reached the parker: %+v", fp.reqs)
				}
			}
		})
	}
}

// Ensure the endpoint needs a POST, credentials and, for a session, the
// CSRF token; and answers 503 when no parker is configured.
func TestAPIPark_Guards(t *testing.T) {
	fp := &fakeParker{}
	e := newEnv(t, func(c *Config) { c.Parker = fp })
	if w := e.get("/api/park", agentTok, nil); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", w.Code)
	}
	req := httptest.NewRequest(http.MethodPost, "/api/park", strings.NewReader(`{"extension":"1001"}`))
	if w := e.do(req); w.Code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d, want 401", w.Code)
	}
	c, _ := e.login("alice", alicePass)
	req = httptest.NewRequest(http.MethodPost, "/api/park", strings.NewReader(`{}`))
	req.AddCookie(c)
	if w := e.do(req); w.Code != http.StatusForbidden {
		t.Errorf("session without CSRF: %d, want 403", w.Code)
	}
	if len(fp.reqs) != 0 {
		t.Errorf("guarded requests reached the parker: %+v", fp.reqs)
	}

	e = newEnv(t, nil)
	req = httptest.NewRequest(http.MethodPost, "/api/park", strings.NewReader(`{"extension":"1001"}`))
	req.Header.Set("Authorization", "Bearer "+agentTok)
	if w := e.do(req); w.Code != http.StatusServiceUnavailable {
		t.Errorf("no parker: %d, want 503", w.Code)
	}
}
