package web

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/internal/passhash"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Secrets of the test users and tokens. Their hashes are made once per
// test binary: each costs an argon2 run.
const (
	alicePass = "alice-correct-horse" // agent of lot main
	bobPass   = "bob-battery-staple"  // supervisor
	carolPass = "carol-all-lots"      // agent of every lot
	agentTok  = "tok-agent-0123456789abcdef"
	superTok  = "tok-super-0123456789abcdef"
)

var (
	hashOnce sync.Once
	hashes   map[string]string
)

func testHashes(t *testing.T) map[string]string {
	t.Helper()
	hashOnce.Do(func() {
		hashes = map[string]string{}
		for _, s := range []string{alicePass, bobPass, carolPass, agentTok, superTok} {
			h, err := passhash.Hash(s)
			if err != nil {
				panic(err)
			}
			hashes[s] = h
		}
	})
	return hashes
}

// clock is a fake clock tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fakeSlots struct {
	occ     []parking.Occupant
	ringing map[int]bool // slots whose recall rings
}

func (f *fakeSlots) ParkedCalls() []parking.ParkedCall {
	out := make([]parking.ParkedCall, len(f.occ))
	for i, o := range f.occ {
		out[i] = parking.ParkedCall{Occupant: o, Recalling: f.ringing[o.Slot]}
	}
	return out
}

// fakeStore answers from fixed rows and remembers the filters it was asked.
type fakeStore struct {
	mu      sync.Mutex
	rows    []store.HistoryRow
	notes   []store.Note
	filters []store.HistoryFilter // History's
	nfs     []store.HistoryFilter // Notes'
	queries []store.ReportQuery
	err     error
}

func (f *fakeStore) History(_ context.Context, hf store.HistoryFilter) ([]store.HistoryRow, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.filters = append(f.filters, hf)
	var out []store.HistoryRow
	for _, r := range f.rows {
		if (hf.Lot == "" || r.Lot == hf.Lot) && (hf.Event == "" || r.Event == hf.Event) {
			out = append(out, r)
		}
	}
	return out, f.err
}

func (f *fakeStore) Notes(_ context.Context, hf store.HistoryFilter) ([]store.Note, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.nfs = append(f.nfs, hf)
	var out []store.Note
	for _, n := range f.notes {
		if hf.Lot == "" || n.Lot == hf.Lot {
			out = append(out, n)
		}
	}
	return out, f.err
}

func (f *fakeStore) Report(_ context.Context, q store.ReportQuery) (store.Report, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	return store.Report{Query: q, Groups: []store.ReportRow{{Group: "main", Parked: 3, Retrieved: 2, Abandoned: 1, WaitMedian: 1500 * time.Millisecond}},
		Total: store.ReportRow{Parked: 3, Retrieved: 2, Abandoned: 1}}, f.err
}

// env is a Server with fakes around it, and everything it wrote.
type env struct {
	t      *testing.T
	srv    *Server
	clock  *clock
	slots  *fakeSlots
	store  *fakeStore
	logs   *syncBuffer
	bodies bytes.Buffer
	ready  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

var t0 = time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)

func newEnv(t *testing.T, edit func(*Config)) *env {
	t.Helper()
	h := testHashes(t)
	e := &env{t: t, clock: &clock{t: t0}, logs: &syncBuffer{}, store: &fakeStore{}}
	e.slots = &fakeSlots{occ: []parking.Occupant{
		{Lot: "main", Slot: 202, Call: "call-main", Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}, Parker: "1000",
			ParkedAt: t0.Add(-90 * time.Second), Deadline: t0.Add(30 * time.Second), Attempts: 1},
		{Lot: "sales", Slot: 301, Call: "call-sales", Caller: parking.Caller{Name: "John Doe", Number: "5550111"}, Parker: "1001",
			ParkedAt: t0.Add(-10 * time.Second), Deadline: t0.Add(110 * time.Second)},
	}}
	e.store.rows = []store.HistoryRow{
		{ID: 1, At: t0.Add(-time.Hour), Event: parking.EventParked, Lot: "main", Slot: 202, Call: "old-main"},
		{ID: 2, At: t0.Add(-50 * time.Minute), Event: parking.EventParked, Lot: "sales", Slot: 301, Call: "old-sales"},
	}
	e.store.notes = []store.Note{{ID: 1, At: t0.Add(-time.Minute), Call: "call-main", Lot: "main", Slot: 202, Text: "wants Dr. Smith"}}
	cfg := Config{
		Logger: zerolog.New(e.logs),
		Users: []User{
			{Name: "alice", Hash: h[alicePass], Role: RoleAgent, Extension: "2001", Lots: []string{"main"}},
			{Name: "bob", Hash: h[bobPass], Role: RoleSupervisor},
			{Name: "carol", Hash: h[carolPass], Role: RoleAgent},
		},
		Tokens: []Token{{Name: "crm", Hash: h[agentTok], Role: RoleAgent}, {Name: "wallboard", Hash: h[superTok], Role: RoleSupervisor}},
		Slots:  e.slots, Store: e.store, Now: e.clock.Now,
		Ready: func() error { return e.ready },
	}
	if edit != nil {
		edit(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	t.Cleanup(e.checkNoSecrets)
	return e
}

// checkNoSecrets fails if any response body or log line holds a password,
// a token or a hash.
func (e *env) checkNoSecrets() {
	out := e.bodies.String() + e.logs.String()
	for secret, hash := range testHashes(e.t) {
		for _, s := range []string{secret, hash, strings.Split(hash, "$")[len(strings.Split(hash, "$"))-1]} {
			if strings.Contains(out, s) {
				e.t.Errorf("a response or the log reveals %q", s)
			}
		}
	}
}

// do serves req and records the body for checkNoSecrets.
func (e *env) do(req *http.Request) *httptest.ResponseRecorder {
	e.t.Helper()
	if req.RemoteAddr == "" || req.RemoteAddr == "192.0.2.1:1234" {
		req.RemoteAddr = "198.51.100.7:40000"
	}
	w := httptest.NewRecorder()
	e.srv.ServeHTTP(w, req)
	e.bodies.Write(w.Body.Bytes())
	for k, v := range map[string]string{
		"Content-Security-Policy": "default-src 'self'", "X-Content-Type-Options": "nosniff",
		"Referrer-Policy": "same-origin", "X-Frame-Options": "DENY",
	} {
		if got := w.Header().Get(k); !strings.HasPrefix(got, v) {
			e.t.Errorf("%s %s: header %s=%q, want %q", req.Method, req.URL, k, got, v)
		}
	}
	return w
}

// get is a GET with a bearer token ("" none) or a session cookie.
func (e *env) get(path, token string, cookie *http.Cookie) *httptest.ResponseRecorder {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	return e.do(req)
}

// loginReq is a POST /login with the form.
func loginReq(name, password string) *http.Request {
	form := url.Values{"name": {name}, "password": {password}}
	req := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// login logs name in and returns the session cookie and its CSRF token.
func (e *env) login(name, password string) (*http.Cookie, string) {
	e.t.Helper()
	w := e.do(loginReq(name, password))
	if w.Code != http.StatusSeeOther {
		e.t.Fatalf("login %s: status %d: %s", name, w.Code, w.Body)
	}
	var c *http.Cookie
	for _, ck := range w.Result().Cookies() {
		if ck.Name == sessionCookie {
			c = ck
		}
	}
	if c == nil {
		e.t.Fatal("login set no session cookie")
	}
	me := e.get("/api/me", "", c)
	var out struct{ CSRF string }
	decode(e.t, me, &out)
	return c, out.CSRF
}
