package daemon

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/passhash"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/web"
)

// Secrets of the people and tokens of the actions tests.
const (
	deskPass  = "desk-password-1"
	alicePass = "alice-password-1"
	bobPass   = "bob-password-1"
	crmToken  = "crm-token-0123456789abcdef"
)

// actionsEnv is parkd on the simulator with the board's API served by
// httptest over the real Service and store: desk (supervisor, phone 1000),
// alice (agent of lot main, phone 2001), bob (agent of lot vip) and the
// token crm (agent, all lots, no phone).
type actionsEnv struct {
	*harness
	srv *httptest.Server
}

func newActionsEnv(t *testing.T) *actionsEnv {
	t.Helper()
	h := startHarness(t, lot("main", "201-220", nil), lot("vip", "701-705", func(l *conf.Lot) {
		l.ParkCode, l.RetrieveCode = "*80", "*81"
	}))
	hash := func(s string) string {
		v, err := passhash.Hash(s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	s, err := web.New(web.Config{
		Logger: zerolog.New(zerolog.NewTestWriter(t)),
		Users: []web.User{
			{Name: "desk", Hash: hash(deskPass), Role: web.RoleSupervisor, Extension: "1000"},
			{Name: "alice", Hash: hash(alicePass), Role: web.RoleAgent, Extension: "2001", Lots: []string{"main"}},
			{Name: "bob", Hash: hash(bobPass), Role: web.RoleAgent, Extension: "2009", Lots: []string{"vip"}},
		},
		Tokens:  []web.Token{{Name: "crm", Hash: hash(crmToken), Role: web.RoleAgent}},
		Slots:   h.m.Service,
		Store:   h.m.DB,
		Actions: h.m.Service,
		Notes:   h.m.DB,
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return &actionsEnv{harness: h, srv: srv}
}

// client acts as one person (a session with its CSRF token) or a token.
type client struct {
	e     *actionsEnv
	http  *http.Client
	csrf  string
	token string
}

func (e *actionsEnv) login(name, password string) *client {
	e.t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{e: e, http: &http.Client{Jar: jar}}
	resp, err := c.http.PostForm(e.srv.URL+"/login", url.Values{"name": {name}, "password": {password}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		e.t.Fatalf("login %s: %s", name, resp.Status)
	}
	var me struct {
		CSRF string `json:"csrf"`
	}
	if status := c.do(http.MethodGet, "/api/me", "", &me); status != 200 || me.CSRF == "" {
		e.t.Fatalf("/api/me: %d %+v", status, me)
	}
	c.csrf = me.CSRF
	return c
}

func (e *actionsEnv) bearer(tok string) *client {
	return &client{e: e, http: http.DefaultClient, token: tok}
}

// do sends body (JSON, or "" for none) and decodes the answer into out.
func (c *client) do(method, path, body string, out any) int {
	c.e.t.Helper()
	req, err := http.NewRequest(method, c.e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		c.e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.csrf != "" {
		req.Header.Set("X-CSRF-Token", c.csrf)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if out != nil {
		if err := json.Unmarshal(buf.Bytes(), out); err != nil {
			c.e.t.Fatalf("%s %s: %d %q: %v", method, path, resp.StatusCode, buf.String(), err)
		}
	}
	return resp.StatusCode
}

// post sends an action and returns its status and JSON answer.
func (c *client) post(call, action, body string) (int, map[string]any) {
	c.e.t.Helper()
	var out map[string]any
	status := c.do(http.MethodPost, "/api/calls/"+call+"/"+action, body, &out)
	return status, out
}

// expect checks an action's status, and that an error names want.
func (c *client) expect(call, action, body string, status int, want string) map[string]any {
	c.e.t.Helper()
	got, out := c.post(call, action, body)
	if got != status {
		c.e.t.Fatalf("POST %s %s: %d %v, want %d", action, body, got, out, status)
	}
	if want != "" {
		if msg, _ := out["error"].(string); !strings.Contains(msg, want) {
			c.e.t.Fatalf("POST %s %s: error %q, want it to name %q", action, body, msg, want)
		}
	}
	return out
}

// Ensure a pickup rings the user's own phone (no distinctive ring), bridges
// it to the caller and records who asked; a busy phone leaves the call
// parked with a 409 naming the cause; a token must name an extension.
func TestAPI_Pickup(t *testing.T) {
	e := newActionsEnv(t)
	e.sim.Register("2001", fstest.Endpoint{AnswerAfter: 50 * time.Millisecond})
	e.sim.Register("2002", fstest.Endpoint{Busy: true})
	jane := e.park("202", caller("Jane Roe", "+15550100"))
	al := e.park("203", caller("Al", "+15550111"))
	alice := e.login("alice", alicePass)
	crm := e.bearer(crmToken)

	crm.expect(al.UUID(), "pickup", "", 400, "extension")
	crm.expect(al.UUID(), "pickup", `{"extension":"2002;hupall"}`, 400, "extension")
	crm.expect(al.UUID(), "pickup", `{"extension":"user/2002@evil"}`, 400, "extension")
	crm.expect(al.UUID(), "pickup", `{"extension":2002}`, 400, "extension")
	crm.expect(al.UUID(), "pickup", `{"extension":"2002"}`, 409, "USER_BUSY")
	if got := e.history(al.UUID()); !slices.Equal(got, []parking.Event{parking.EventParked}) {
		t.Fatalf("al after a busy pickup: %v", got)
	}
	e.waitFor(al, "al still parked", parked)

	out := alice.expect(jane.UUID(), "pickup", "", 200, "")
	if out["extension"] != "2001" || out["retriever"] != "web:alice" || out["slot"] != float64(202) || out["lot"] != "main" {
		t.Fatalf("pickup answer %v", out)
	}
	inv := e.sim.Invites()
	last := inv[len(inv)-1]
	if last.User != "2001" || last.AlertInfo != "" || last.CallerIDName != "Park 202 - Jane Roe" {
		t.Fatalf("pickup invite %+v", last)
	}
	e.waitFor(jane, "jane bridged to alice's phone", bridgedTo(e.sim.Channel(last.UUID)))
	if r := e.lastRow(jane.UUID()); r.Event != parking.EventRetrieved || r.Retriever != "web:alice" {
		t.Fatalf("retrieved row %+v", r)
	}
	alice.expect(jane.UUID(), "pickup", "", 404, "no such parked call")
}

// Ensure a note is attached to the call, with CleanNote's rules.
func TestAPI_Note(t *testing.T) {
	e := newActionsEnv(t)
	jane := e.park("202")
	alice := e.login("alice", alicePass)
	out := alice.expect(jane.UUID(), "note", `{"text":"  wants billing  "}`, 200, "")
	if out["text"] != "wants billing" || out["call"] != jane.UUID() || out["slot"] != float64(202) {
		t.Fatalf("note answer %v", out)
	}
	alice.expect(jane.UUID(), "note", `{"text":""}`, 400, "empty")
	alice.expect(jane.UUID(), "note", `{"text":"a\nb"}`, 400, "control")
	alice.expect(jane.UUID(), "note", `{"text":"`+strings.Repeat("x", 501)+`"}`, 400, "500")
	alice.expect(jane.UUID(), "note", `{"txt":"x"}`, 400, "bad JSON")
	notes, err := e.m.DB.Notes(t.Context(), storeFilter(jane.UUID()))
	if err != nil || len(notes) != 1 || notes[0].Text != "wants billing" {
		t.Fatalf("notes %+v, %v", notes, err)
	}
}

// Ensure a move takes the call to a free slot, writes the new slot on the
// channel, and refuses taken, bad and unseen slots.
func TestAPI_Move(t *testing.T) {
	e := newActionsEnv(t)
	jane := e.park("202")
	e.park("204")
	alice := e.login("alice", alicePass)
	desk := e.login("desk", deskPass)

	out := alice.expect(jane.UUID(), "move", `{"slot":205}`, 200, "")
	if out["slot"] != float64(205) || out["lot"] != "main" || out["event"] != "moved" || out["by"] != "web:alice" {
		t.Fatalf("move answer %v", out)
	}
	e.waitFor(jane, "parkd_slot rewritten", func(s fstest.ChannelState) bool {
		return s.Vars["parkd_slot"] == "205" && s.Vars["parkd_lot"] == "main"
	})
	if r := e.lastRow(jane.UUID()); r.Event != parking.EventMoved || r.Slot != 205 || r.Retriever != "web:alice" || r.Reason != "from main/202" {
		t.Fatalf("moved row %+v", r)
	}
	alice.expect(jane.UUID(), "move", `{"slot":204}`, 409, "another call")
	alice.expect(jane.UUID(), "move", `{"slot":999}`, 400, "slot")
	alice.expect(jane.UUID(), "move", `{}`, 400, "slot")
	alice.expect(jane.UUID(), "move", `{"slot":701,"lot":"vip"}`, 400, "unknown lot")
	alice.expect(jane.UUID(), "move", `{"slot":701,"lot":"nope"}`, 400, "unknown lot")
	out = desk.expect(jane.UUID(), "move", `{"slot":701,"lot":"vip"}`, 200, "")
	if out["lot"] != "vip" || out["slot"] != float64(701) {
		t.Fatalf("move to vip %v", out)
	}
	// Now in a lot alice does not see: to her the call does not exist.
	alice.expect(jane.UUID(), "move", `{"slot":206}`, 404, "no such parked call")
	// A restart finds it in its new slot.
	e.stop()
	e.boot()
	if occ := e.m.Service.Occupants(); len(occ) != 2 || !slices.ContainsFunc(occ, func(o parking.Occupant) bool {
		return o.Call == parking.CallID(jane.UUID()) && o.Lot == "vip" && o.Slot == 701
	}) {
		t.Fatalf("after a restart: %+v", occ)
	}
}

// Ensure extend pushes the next recall back and refuses out-of-range values.
func TestAPI_Extend(t *testing.T) {
	e := newActionsEnv(t)
	jane := e.park("202")
	before, err := e.m.Service.Occupant(parking.CallID(jane.UUID()))
	if err != nil {
		t.Fatal(err)
	}
	crm := e.bearer(crmToken)
	out := crm.expect(jane.UUID(), "extend", `{"seconds":120}`, 200, "")
	want := before.Deadline.Add(2 * time.Minute).UTC().Format(time.RFC3339)
	if out["next_recall"] != want || out["event"] != "extended" || out["by"] != "web:token:crm" {
		t.Fatalf("extend answer %v, want next_recall %s", out, want)
	}
	for _, bad := range []string{`{"seconds":0}`, `{"seconds":3601}`, `{"seconds":-5}`, `{}`, `{"seconds":"60"}`} {
		crm.expect(jane.UUID(), "extend", bad, 400, "")
	}
	if got := e.history(jane.UUID()); !slices.Equal(got, []parking.Event{parking.EventParked, parking.EventExtended}) {
		t.Fatalf("history %v", got)
	}
}

// Ensure only supervisors hang up, the call ends with one hungup row and
// no abandoned row, and a switch that is gone answers 503.
func TestAPI_Hangup(t *testing.T) {
	e := newActionsEnv(t)
	jane := e.park("202")
	al := e.park("203")
	alice := e.login("alice", alicePass)
	desk := e.login("desk", deskPass)

	alice.expect(jane.UUID(), "hangup", "", 403, "supervisors")
	e.bearer(crmToken).expect(jane.UUID(), "hangup", "", 403, "supervisors")
	out := desk.expect(jane.UUID(), "hangup", "", 200, "")
	if out["event"] != "hungup" || out["by"] != "web:desk" || out["slot"] != float64(202) {
		t.Fatalf("hangup answer %v", out)
	}
	e.waitFor(jane, "jane hung up", hungUp)
	// The CHANNEL_HANGUP that follows adds nothing: a later row would
	// come after al's, which the switch reports after jane's.
	e.waitHistory(jane.UUID(), parking.EventParked, parking.EventHungup)
	if r := e.lastRow(jane.UUID()); r.Retriever != "web:desk" {
		t.Fatalf("hungup row %+v", r)
	}
	desk.expect(jane.UUID(), "hangup", "", 404, "no such parked call")

	e.sim.Close()
	e.eventually("parkd sees the switch gone", func() bool {
		select {
		case <-e.m.Client.Connected():
			return false
		default:
			return true
		}
	})
	desk.expect(al.UUID(), "hangup", "", 503, "not connected")
	if _, err := e.m.Service.Occupant(parking.CallID(al.UUID())); err != nil {
		t.Fatalf("al after a failed hangup: %v", err)
	}
}

// Ensure the actions' access rules: authentication, CSRF for sessions,
// lots an agent cannot see answered 404, unknown calls 404, POST only.
func TestAPI_ActionsAccess(t *testing.T) {
	e := newActionsEnv(t)
	jane := e.park("202")
	bob := e.login("bob", bobPass)
	for _, action := range []string{"pickup", "note", "move", "extend"} {
		bob.expect(jane.UUID(), action, `{}`, 404, "no such parked call")
	}
	bob.expect(jane.UUID(), "hangup", "", 403, "") // the role is checked first: agents never hang up

	nobody := &client{e: e, http: http.DefaultClient}
	nobody.expect(jane.UUID(), "extend", `{"seconds":60}`, 401, "")

	alice := e.login("alice", alicePass)
	alice.csrf = ""
	alice.expect(jane.UUID(), "extend", `{"seconds":60}`, 403, "CSRF")
	alice.csrf = "wrong"
	alice.expect(jane.UUID(), "note", `{"text":"x"}`, 403, "CSRF")

	desk := e.login("desk", deskPass)
	for _, call := range []string{"00000000-0000-0000-0000-000000000000", "x%0Ay", strings.Repeat("a", 65)} {
		desk.expect(call, "extend", `{"seconds":60}`, 404, "no such parked call")
	}
	if status := desk.do(http.MethodGet, "/api/calls/"+jane.UUID()+"/extend", "", nil); status != 405 {
		t.Fatalf("GET an action: %d", status)
	}
	if got := e.history(jane.UUID()); !slices.Equal(got, []parking.Event{parking.EventParked}) {
		t.Fatalf("refused actions wrote %v", got)
	}
}
