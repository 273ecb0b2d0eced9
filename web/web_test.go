package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

func decode(t *testing.T, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, body %s", ct, w.Body)
	}
	if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
		t.Fatalf("decode %s: %v", w.Body, err)
	}
}

// errorOf is the "error" of a JSON error answer.
func errorOf(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var e struct{ Error string }
	decode(t, w, &e)
	if e.Error == "" {
		t.Fatalf("no error in %s", w.Body)
	}
	return e.Error
}

// Ensure /healthz and /readyz answer without auth and without details.
func TestHealthReady(t *testing.T) {
	e := newEnv(t, nil)
	if w := e.get("/healthz", "", nil); w.Code != 200 || w.Body.String() != "ok\n" {
		t.Fatalf("healthz %d %q", w.Code, w.Body)
	}
	if w := e.get("/readyz", "", nil); w.Code != 200 || w.Body.String() != "ready\n" {
		t.Fatalf("readyz %d %q", w.Code, w.Body)
	}
	e.ready = errors.New("database file replaced at /var/lib/parkd/parkd.db")
	if w := e.get("/readyz", "", nil); w.Code != 503 || w.Body.String() != "not ready\n" {
		t.Fatalf("readyz not ready: %d %q", w.Code, w.Body)
	}
	if w := e.do(httptest.NewRequest(http.MethodPost, "/healthz", nil)); w.Code != 405 || w.Header().Get("Allow") != "GET" {
		t.Fatalf("POST healthz: %d", w.Code)
	}
}

// Ensure every API endpoint answers each kind of caller with the right
// status: 401 without or with bad credentials, 403 for an agent's report
// or a lot they may not see, 200 otherwise.
func TestAuthMatrix(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.login("alice", alicePass)
	bob, _ := e.login("bob", bobPass)
	type cred struct {
		token  string
		cookie *http.Cookie
	}
	creds := map[string]cred{
		"none": {}, "bad token": {token: "nope"}, "agent token": {token: agentTok}, "super token": {token: superTok},
		"agent session": {cookie: alice}, "super session": {cookie: bob},
		"stale cookie": {cookie: &http.Cookie{Name: sessionCookie, Value: "deadbeef"}},
	}
	tests := []struct {
		path string
		want map[string]int
	}{
		{"/api/me", map[string]int{"agent token": 200, "super token": 200, "agent session": 200, "super session": 200}},
		{"/api/slots", map[string]int{"agent token": 200, "super token": 200, "agent session": 200, "super session": 200}},
		{"/api/history", map[string]int{"agent token": 200, "super token": 200, "agent session": 200, "super session": 200}},
		{"/api/history?lot=sales", map[string]int{"agent token": 200, "super token": 200, "agent session": 403, "super session": 200}},
		{"/api/report", map[string]int{"agent token": 403, "super token": 200, "agent session": 403, "super session": 200}},
		{"/api/history?limit=-1", map[string]int{"agent token": 400, "super token": 400, "agent session": 400, "super session": 400}},
		{"/api/report?by=moon", map[string]int{"agent token": 403, "super token": 400, "agent session": 403, "super session": 400}},
	}
	for _, tt := range tests {
		e.clock.Advance(LoginWindow) // one bad token per path: no lockout
		for name, c := range creds {
			want, ok := tt.want[name]
			if !ok {
				want = 401
			}
			w := e.get(tt.path, c.token, c.cookie)
			if w.Code != want {
				t.Errorf("%s as %s: %d, want %d: %s", tt.path, name, w.Code, want, w.Body)
				continue
			}
			if want != 200 {
				errorOf(t, w)
			}
			if want == 401 && w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s as %s: 401 without WWW-Authenticate", tt.path, name)
			}
		}
	}
	for _, m := range []string{http.MethodPost, http.MethodDelete, http.MethodPut} {
		req := httptest.NewRequest(m, "/api/slots", nil)
		req.Header.Set("Authorization", "Bearer "+superTok)
		if w := e.do(req); w.Code != 405 {
			t.Errorf("%s /api/slots: %d, want 405", m, w.Code)
		} else {
			errorOf(t, w)
		}
	}
	for _, p := range []string{"/api/nothing", "/nothing", "/api/slots/202"} {
		if w := e.get(p, superTok, nil); w.Code != 404 {
			t.Errorf("%s: %d, want 404", p, w.Code)
		} else {
			errorOf(t, w)
		}
	}
}

// Ensure a login sets a strict, HttpOnly session cookie, / shows who is
// logged in with the CSRF token, and wrong or unknown names fail alike.
func TestLogin(t *testing.T) {
	e := newEnv(t, nil)
	if w := e.get("/login", "", nil); w.Code != 200 || !strings.Contains(w.Body.String(), `name="password"`) {
		t.Fatalf("login form: %d %s", w.Code, w.Body)
	}
	if w := e.get("/", "", nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Fatalf("/ logged out: %d %v", w.Code, w.Header())
	}
	w := e.do(loginReq("alice", alicePass))
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/" {
		t.Fatalf("login: %d %v", w.Code, w.Header())
	}
	c := w.Result().Cookies()[0]
	if c.Name != sessionCookie || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure || len(c.Value) != 64 {
		t.Fatalf("cookie %+v", c)
	}
	page := e.get("/", "", c)
	if page.Code != 200 || !strings.Contains(page.Body.String(), "alice") || !strings.Contains(page.Body.String(), `name="csrf-token"`) {
		t.Fatalf("/: %d %s", page.Code, page.Body)
	}
	for _, bad := range [][2]string{{"alice", "wrong"}, {"mallory", alicePass}, {"alice", ""}, {"", ""}} {
		w := e.do(loginReq(bad[0], bad[1]))
		if w.Code != http.StatusUnauthorized || len(w.Result().Cookies()) != 0 {
			t.Errorf("login %q: %d, cookies %v", bad[0], w.Code, w.Result().Cookies())
		}
	}
	if !strings.Contains(e.logs.String(), `"user":"mallory"`) || !strings.Contains(e.logs.String(), `"addr":"198.51.100.7"`) {
		t.Errorf("failed login not logged with name and address: %s", e.logs)
	}

	sec := newEnv(t, func(c *Config) { c.Secure = true })
	w = sec.do(loginReq("bob", bobPass))
	if c := w.Result().Cookies()[0]; !c.Secure {
		t.Fatal("cookie not Secure under TLS")
	}
}

// Ensure a session ends after SessionIdle unused and SessionMax after
// login however busy, and logout ends it.
func TestSessionExpiry(t *testing.T) {
	e := newEnv(t, nil)
	c, _ := e.login("alice", alicePass)
	e.clock.Advance(SessionIdle - time.Minute)
	if w := e.get("/api/slots", "", c); w.Code != 200 {
		t.Fatalf("before idle expiry: %d", w.Code)
	}
	e.clock.Advance(SessionIdle - time.Minute) // used a moment ago: still alive
	if w := e.get("/api/slots", "", c); w.Code != 200 {
		t.Fatalf("used within the idle time: %d", w.Code)
	}
	e.clock.Advance(SessionMax - 2*(SessionIdle-time.Minute)) // at SessionMax after login
	if w := e.get("/api/slots", "", c); w.Code != 401 {
		t.Fatalf("after SessionMax: %d", w.Code)
	}

	c2, _ := e.login("alice", alicePass)
	e.clock.Advance(SessionIdle)
	if w := e.get("/api/slots", "", c2); w.Code != 401 {
		t.Fatalf("after SessionIdle unused: %d", w.Code)
	}
}

func postLogout(c *http.Cookie, csrf string, hdr map[string]string) *http.Request {
	req := httptest.NewRequest(http.MethodPost, "/logout", nil)
	if c != nil {
		req.AddCookie(c)
	}
	if csrf != "" {
		req.Header.Set("X-CSRF-Token", csrf)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	return req
}

// Ensure a state-changing request on a session needs its own CSRF token
// and a same-origin browser, a token-authenticated one does not, and a
// cross-site login is refused.
func TestCSRF(t *testing.T) {
	e := newEnv(t, nil)
	c, csrf := e.login("alice", alicePass)
	_, other := e.login("bob", bobPass)
	if len(csrf) != 64 {
		t.Fatalf("csrf %q", csrf)
	}
	for name, req := range map[string]*http.Request{
		"missing":         postLogout(c, "", nil),
		"another session": postLogout(c, other, nil),
		"wrong":           postLogout(c, "x"+csrf[1:], nil),
		"cross origin":    postLogout(c, csrf, map[string]string{"Origin": "https://evil.example"}),
		"cross site":      postLogout(c, csrf, map[string]string{"Sec-Fetch-Site": "cross-site"}),
	} {
		if w := e.do(req); w.Code != 403 {
			t.Errorf("%s: %d, want 403", name, w.Code)
		} else {
			errorOf(t, w)
		}
	}
	if w := e.get("/api/me", "", c); w.Code != 200 {
		t.Fatal("a refused logout ended the session")
	}
	// The form field works as well as the header.
	form := httptest.NewRequest(http.MethodPost, "/logout", strings.NewReader(url.Values{"csrf": {csrf}}.Encode()))
	form.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	form.Header.Set("Origin", "http://example.com")
	form.Header.Set("Sec-Fetch-Site", "same-origin")
	form.AddCookie(c)
	if w := e.do(form); w.Code != http.StatusSeeOther {
		t.Fatalf("logout with the right token: %d %s", w.Code, w.Body)
	}
	if w := e.get("/api/me", "", c); w.Code != 401 {
		t.Fatalf("session alive after logout: %d", w.Code)
	}
	// Bearer tokens carry no ambient authority: no CSRF token needed.
	req := httptest.NewRequest(http.MethodPost, "/logout", nil)
	req.Header.Set("Authorization", "Bearer "+agentTok)
	if w := e.do(req); w.Code != http.StatusSeeOther {
		t.Fatalf("bearer POST: %d", w.Code)
	}
	login := loginReq("alice", alicePass)
	login.Header.Set("Origin", "https://evil.example")
	if w := e.do(login); w.Code != 403 || len(w.Result().Cookies()) != 0 {
		t.Fatalf("cross-origin login: %d", w.Code)
	}
}

// Ensure LoginFailures wrong passwords lock a name out for the rest of
// the window, even with the right password, per name and per address,
// and the lock lifts when the window has passed.
func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < LoginFailures; i++ {
		if w := e.do(loginReq("alice", "guess")); w.Code != 401 {
			t.Fatalf("failure %d: %d", i, w.Code)
		}
		e.clock.Advance(time.Second)
	}
	right := loginReq("alice", alicePass)
	right.RemoteAddr = "203.0.113.9:5555" // another address: the name is locked
	w := e.do(right)
	if w.Code != 429 || w.Header().Get("Retry-After") != "895" {
		t.Fatalf("locked name: %d Retry-After %q", w.Code, w.Header().Get("Retry-After"))
	}
	errorOf(t, w)
	if w := e.do(loginReq("bob", bobPass)); w.Code != 429 {
		t.Fatalf("locked address let bob in: %d", w.Code)
	}
	if !strings.Contains(e.logs.String(), "too many failures") {
		t.Error("lockout not logged")
	}
	e.clock.Advance(LoginWindow - time.Second) // the first failure leaves the window
	if w := e.do(loginReq("alice", alicePass)); w.Code != http.StatusSeeOther {
		t.Fatalf("after the window: %d", w.Code)
	}
	// Bad tokens count against the address too; a token that checked good
	// before still passes (an integration sharing the address).
	if w := e.get("/api/slots", superTok, nil); w.Code != 200 {
		t.Fatal(w.Code)
	}
	for i := 0; i < LoginFailures; i++ {
		req := httptest.NewRequest(http.MethodGet, "/api/slots", nil)
		req.RemoteAddr = "192.0.2.77:1"
		req.Header.Set("Authorization", "Bearer wrong")
		e.do(req)
	}
	req := httptest.NewRequest(http.MethodGet, "/api/slots", nil)
	req.RemoteAddr = "192.0.2.77:1"
	req.Header.Set("Authorization", "Bearer "+agentTok)
	if w := e.do(req); w.Code != 429 {
		t.Fatalf("address guessing tokens: %d", w.Code)
	}
	req = httptest.NewRequest(http.MethodGet, "/api/slots", nil)
	req.RemoteAddr = "192.0.2.77:1"
	req.Header.Set("Authorization", "Bearer "+superTok)
	if w := e.do(req); w.Code != 200 {
		t.Fatalf("known token from a locked address: %d", w.Code)
	}
}

// Ensure tokens work for every request (the second from the cache) and
// other Authorization schemes are refused.
func TestBearer(t *testing.T) {
	e := newEnv(t, nil)
	for i := 0; i < 2; i++ {
		var me struct{ Name, Role string }
		decode(t, e.get("/api/me", superTok, nil), &me)
		if me.Name != "token:wallboard" || me.Role != RoleSupervisor {
			t.Fatalf("me=%+v", me)
		}
	}
	if len(e.srv.bearer.ok) != 1 {
		t.Fatalf("cache %d entries", len(e.srv.bearer.ok))
	}
	req := httptest.NewRequest(http.MethodGet, "/api/slots", nil)
	req.Header.Set("Authorization", "Basic YWxpY2U6eA==")
	if w := e.do(req); w.Code != 401 {
		t.Fatalf("basic auth: %d", w.Code)
	}
	if w := e.get("/", superTok, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("/ with a token: %d (the page is for people)", w.Code)
	}
}

type slotOut struct {
	Lot, Call, CallerName, CallerNumber, Parker, ParkedAt, State, NextRecall string
	Slot, RecallAttempts                                                     int
	WaitingSeconds                                                           int64
	Notes                                                                    []struct{ At, Text string }
}

func (s *slotOut) UnmarshalJSON(b []byte) error {
	var raw struct {
		Lot            string `json:"lot"`
		Slot           int    `json:"slot"`
		Call           string `json:"call"`
		CallerName     string `json:"caller_name"`
		CallerNumber   string `json:"caller_number"`
		Parker         string `json:"parker"`
		ParkedAt       string `json:"parked_at"`
		WaitingSeconds int64  `json:"waiting_seconds"`
		State          string `json:"state"`
		NextRecall     string `json:"next_recall"`
		RecallAttempts int    `json:"recall_attempts"`
		Notes          []struct{ At, Text string }
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*s = slotOut{raw.Lot, raw.Call, raw.CallerName, raw.CallerNumber, raw.Parker, raw.ParkedAt, raw.State, raw.NextRecall,
		raw.Slot, raw.RecallAttempts, raw.WaitingSeconds, raw.Notes}
	return nil
}

// Ensure /api/slots shows every field of a parked call with its notes,
// and an agent only the calls of their lots.
func TestSlots(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.login("alice", alicePass)
	carol, _ := e.login("carol", carolPass)
	var got []slotOut
	decode(t, e.get("/api/slots", "", alice), &got)
	if len(got) != 1 {
		t.Fatalf("alice sees %+v", got)
	}
	want := slotOut{Lot: "main", Slot: 202, Call: "call-main", CallerName: "Jane Roe", CallerNumber: "+15550100", Parker: "1000",
		ParkedAt: "2026-12-05T08:58:30Z", WaitingSeconds: 90, State: "parked", NextRecall: "2026-12-05T09:00:30Z", RecallAttempts: 1,
		Notes: []struct{ At, Text string }{{"2026-12-05T08:59:00Z", "wants Dr. Smith"}}}
	if g := got[0]; g.Lot != want.Lot || g.Slot != want.Slot || g.Call != want.Call || g.CallerName != want.CallerName ||
		g.CallerNumber != want.CallerNumber || g.Parker != want.Parker || g.ParkedAt != want.ParkedAt ||
		g.WaitingSeconds != want.WaitingSeconds || g.State != want.State || g.NextRecall != want.NextRecall ||
		g.RecallAttempts != want.RecallAttempts || len(g.Notes) != 1 || g.Notes[0] != want.Notes[0] {
		t.Fatalf("slot\n got %+v\nwant %+v", g, want)
	}
	for who, c := range map[string]*http.Cookie{"carol (all lots)": carol} {
		decode(t, e.get("/api/slots", "", c), &got)
		if len(got) != 2 || got[1].Lot != "sales" || len(got[1].Notes) != 0 {
			t.Fatalf("%s sees %+v", who, got)
		}
	}
	decode(t, e.get("/api/slots", superTok, nil), &got)
	if len(got) != 2 {
		t.Fatalf("supervisor sees %d calls", len(got))
	}
	e.slots.ringing = map[int]bool{301: true}
	decode(t, e.get("/api/slots", superTok, nil), &got)
	if got[0].State != "parked" || got[1].State != "recalling" {
		t.Fatalf("a ringing recall's call shows %q (the other %q), want recalling", got[1].State, got[0].State)
	}
	e.slots.occ = nil
	if w := e.get("/api/slots", superTok, nil); strings.TrimSpace(w.Body.String()) != "[]" {
		t.Fatalf("no calls: %s", w.Body)
	}
}

// Ensure /api/history passes parkd history's filters to the store,
// merges the notes, keeps an agent to their lots, and refuses bad input.
func TestHistory(t *testing.T) {
	e := newEnv(t, nil)
	alice, _ := e.login("alice", alicePass)
	var rows []map[string]any
	decode(t, e.get("/api/history", "", alice), &rows)
	if len(rows) != 2 || rows[0]["call"] != "old-main" || rows[1]["event"] != "note" || rows[1]["note"] != "wants Dr. Smith" {
		t.Fatalf("alice's history %v", rows)
	}
	if f := e.store.filters[len(e.store.filters)-1]; f.Lot != "main" || !f.Newest {
		t.Fatalf("agent's filter %+v", f)
	}
	q := "/api/history?lot=main&slot=202&call=c1&parker=1000&caller=jane&since=2026-12-05T08:00:00Z&until=30m&event=parked&limit=5"
	if w := e.get(q, superTok, nil); w.Code != 200 {
		t.Fatalf("%s: %d %s", q, w.Code, w.Body)
	}
	f := e.store.filters[len(e.store.filters)-1]
	want := store.HistoryFilter{Lot: "main", Slot: 202, Call: "c1", Parker: "1000", Caller: "jane", Event: parking.EventParked,
		Since: time.Date(2026, 12, 5, 8, 0, 0, 0, time.UTC), Until: t0.Add(-30 * time.Minute), Limit: 5, Newest: true}
	if !f.Since.Equal(want.Since) || !f.Until.Equal(want.Until) {
		t.Fatalf("times %v %v", f.Since, f.Until)
	}
	f.Since, f.Until, want.Since, want.Until = time.Time{}, time.Time{}, time.Time{}, time.Time{}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("filter\n got %+v\nwant %+v", f, want)
	}
	n := len(e.store.filters)
	decode(t, e.get("/api/history?event=note", superTok, nil), &rows)
	if len(rows) != 1 || rows[0]["event"] != "note" || len(e.store.filters) != n {
		t.Fatalf("notes only: %v", rows)
	}
	decode(t, e.get("/api/history?limit=1", superTok, nil), &rows)
	if len(rows) != 1 || rows[0]["event"] != "note" {
		t.Fatalf("limit 1 keeps the most recent: %v", rows)
	}
	for _, bad := range []string{"slot=x", "limit=-2", "since=yesterday", "until=-5m", "event=exploded"} {
		if w := e.get("/api/history?"+bad, superTok, nil); w.Code != 400 {
			t.Errorf("%s: %d", bad, w.Code)
		} else {
			errorOf(t, w)
		}
	}
	e.store.err = errors.New("sqlite: disk I/O error at /secret/path")
	w := e.get("/api/history", superTok, nil)
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret") {
		t.Fatalf("store failure: %d %s", w.Code, w.Body)
	}
	e.store.err = store.ErrInvalid
	if w := e.get("/api/history", superTok, nil); w.Code != 400 {
		t.Fatalf("invalid filter: %d", w.Code)
	}
}

// Ensure /api/report passes parkd report's parameters and answers its
// JSON shape, for supervisors only.
func TestReport(t *testing.T) {
	e := newEnv(t, nil)
	bob, _ := e.login("bob", bobPass)
	var rep struct {
		From, To, TZ, By string
		Groups           []map[string]any
		Total            map[string]any
	}
	decode(t, e.get("/api/report", "", bob), &rep)
	q := e.store.queries[0]
	if !q.From.Equal(t0.Add(-24*time.Hour)) || !q.To.Equal(t0) || q.By != store.ByLot || q.Location != time.UTC {
		t.Fatalf("default query %+v", q)
	}
	if rep.By != "lot" || rep.TZ != "UTC" || len(rep.Groups) != 1 || rep.Groups[0]["group"] != "main" ||
		rep.Groups[0]["wait_median_ms"] != 1500.0 || rep.Total["parked"] != 3.0 || rep.Total["wait_median_ms"] != 0.0 {
		t.Fatalf("report %+v", rep)
	}
	decode(t, e.get("/api/report?from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z&by=hour&tz=Europe/Paris", superTok, nil), &rep)
	q = e.store.queries[1]
	if q.By != store.ByHour || q.Location.String() != "Europe/Paris" || q.From.Day() != 1 || q.To.Day() != 2 {
		t.Fatalf("query %+v", q)
	}
	for _, bad := range []string{"by=moon", "tz=Mars/Base", "tz=Local", "from=1h&to=2h", "from=x"} {
		if w := e.get("/api/report?"+bad, superTok, nil); w.Code != 400 {
			t.Errorf("%s: %d", bad, w.Code)
		}
	}
}

// Ensure New refuses what would leave the API unusable or wrong.
func TestNewRefuses(t *testing.T) {
	h := testHashes(t)
	for name, cfg := range map[string]Config{
		"nobody":    {Slots: &fakeSlots{}, Store: &fakeStore{}},
		"no slots":  {Store: &fakeStore{}, Tokens: []Token{{Name: "a", Hash: h[agentTok], Role: RoleAgent}}},
		"bad role":  {Slots: &fakeSlots{}, Store: &fakeStore{}, Tokens: []Token{{Name: "a", Hash: h[agentTok], Role: "admin"}}},
		"same name": {Slots: &fakeSlots{}, Store: &fakeStore{}, Users: []User{{Name: "a", Role: RoleAgent}, {Name: "a", Role: RoleAgent}}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}
