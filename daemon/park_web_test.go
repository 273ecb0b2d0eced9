package daemon

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/parkd/parkd/esl/fstest"
)

// postPark POSTs body to /api/park with the given headers and returns the
// status and decoded answer.
func postPark(t *testing.T, c *http.Client, base, body string, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/api/park", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	return resp.StatusCode, out
}

// Ensure POST /api/park on the daemon's listener parks the far party of a
// phone's call on the simulator (over real TCP, through the real
// parking.Service), ends the phone's leg, and answers each refusal with its
// status while the call stays as it was.
func TestE2E_HTTPParkMyCall(t *testing.T) {
	h := webHarness(t)
	base := "http://" + h.m.HTTPAddr()
	bearer := map[string]string{"Authorization": "Bearer " + webToken}

	jane, phone, err := h.sim.Talk(fstest.TalkSpec{FromUser: "5550100", FromName: "Jane Roe", ToUser: "1001"})
	if err != nil {
		t.Fatal(err)
	}
	status, out := postPark(t, http.DefaultClient, base, `{"extension": "1001", "slot": 202}`, bearer)
	if status != 200 || out["slot"] != float64(202) || out["lot"] != "main" || out["call"] != jane.UUID() || out["parker"] != "1001" {
		t.Fatalf("park: %d %v", status, out)
	}
	h.waitFor(jane, "the far party parked", parked)
	h.waitFor(phone, "the phone's leg ended", hungUp)
	if got := h.lastRow(jane.UUID()); got.Parker != "1001" || got.Slot != 202 {
		t.Errorf("history row %+v", got)
	}

	john, phone2, err := h.sim.Talk(fstest.TalkSpec{FromUser: "5550101", FromName: "John Doe", ToUser: "1002"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, body string
		hdr        map[string]string
		want       int
	}{
		{"slot taken", `{"extension": "1002", "slot": 202}`, bearer, 409},
		{"no call", `{"extension": "1009"}`, bearer, 404},
		{"token names no extension", `{}`, bearer, 400},
		{"bad extension", `{"extension": "10 02"}`, bearer, 400},
		{"bad slot", `{"extension": "1002", "slot": 999}`, bearer, 400},
		{"unknown field", `{"extension": "1002", "slots": 202}`, bearer, 400},
		{"no credentials", `{"extension": "1002"}`, nil, 401},
	} {
		if status, out := postPark(t, http.DefaultClient, base, tc.body, tc.hdr); status != tc.want {
			t.Errorf("%s: %d %v, want %d", tc.name, status, out, tc.want)
		}
	}
	for _, ch := range []*fstest.Channel{john, phone2} {
		if s := ch.State(); !s.Alive || s.BridgedTo == "" {
			t.Errorf("after the refusals the call is not as it was: %s", s)
		}
	}

	// A logged-in user parks her own extension's call (desk is 1000); the
	// CSRF token is required.
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	resp, err := browser.PostForm(base+"/login", url.Values{"name": {"desk"}, "password": {webPass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mine, _, err := h.sim.Talk(fstest.TalkSpec{FromUser: "5550102", FromName: "Ann Lee", ToUser: "1000"})
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := postPark(t, browser, base, `{}`, nil); status != 403 {
		t.Errorf("session without CSRF: %d, want 403", status)
	}
	mr, err := browser.Get(base + "/api/me")
	if err != nil {
		t.Fatal(err)
	}
	var me struct{ CSRF string }
	_ = json.NewDecoder(mr.Body).Decode(&me)
	mr.Body.Close()
	status, out = postPark(t, browser, base, `{}`, map[string]string{"X-CSRF-Token": me.CSRF})
	if status != 200 || out["call"] != mine.UUID() || out["parker"] != "1000" || out["slot"] != float64(201) {
		t.Fatalf("park my call: %d %v", status, out)
	}
	h.waitFor(mine, "her caller parked", parked)
}
