// Package web is parkd's HTTP room: the reception board's server and the
// JSON API, beside esl and store as one more adapter around the park
// service. It reads parked calls from the service and history and reports
// from the store through the narrow interfaces below, and never talks to
// FreeSWITCH or SQLite itself.
//
// It serves health endpoints, log in and out with a session cookie
// (CSRF-protected), API tokens, roles, the read-only API (/api/slots,
// /api/history, /api/report, /api/lots), the actions on a parked call
// (/api/calls/{call}/pickup, note, move, extend, hangup), Park my call
// (/api/park), the live events (/api/events, Server-Sent Events from a
// Hub), /metrics when given a handler, the board (/, with its script and
// styles under /static/) and the supervisors' report page (/report).
package web

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/internal/passhash"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Roles a user or a token has.
const (
	RoleAgent      = "agent"      // sees the slots, history and notes of their lots
	RoleSupervisor = "supervisor" // sees everything, and the reports
)

// User may log in to the board.
type User struct {
	Name      string
	Hash      string // passhash: argon2id or bcrypt
	Role      string
	Extension string   // their phone, for later actions
	Lots      []string // lots they see; empty: all
	Domains   []string // the domains whose lots they see, whatever their role; empty: all
}

// Token is an API token, given as "Authorization: Bearer <token>".
type Token struct {
	Name string
	Hash string // passhash of the token
	Role string
}

// Slots is where /api/slots reads the parked calls. parking.Service
// implements it.
type Slots interface {
	// ParkedCalls is every parked call, each with whether a recall rings
	// the parker for it now.
	ParkedCalls() []parking.ParkedCall
}

// Store is the part of the store the API reads. store.DB implements it.
type Store interface {
	// History fails with an error wrapping store.ErrInvalid for a bad filter.
	History(ctx context.Context, f store.HistoryFilter) ([]store.HistoryRow, error)
	Notes(ctx context.Context, f store.HistoryFilter) ([]store.Note, error)
	Report(ctx context.Context, q store.ReportQuery) (store.Report, error)
}

// Config is what New needs. Slots, Store and at least one user or token
// are required.
type Config struct {
	Logger zerolog.Logger
	Users  []User
	Tokens []Token
	Slots  Slots
	Store  Store
	// Ready reports why the daemon is not ready, or nil; nil Ready: always ready.
	Ready func() error
	// Now is the clock for sessions and rate limits; nil: time.Now.
	Now func() time.Time
	// Secure marks the session cookie Secure (set when serving TLS).
	Secure bool
	// Actions, if set, serves the actions on parked calls (pickup, move,
	// extend, hang up); Notes, if set, the notes. Nil: those answer 404.
	Actions Actions
	Notes   Notes
	// Parker parks a phone's current call (POST /api/park); nil: that
	// endpoint answers 503.
	Parker CallParker
	// Events feeds /api/events; nil: a Hub nobody feeds. Close it to end
	// the streams when shutting down.
	Events *Hub
	// NewTicker makes the live events' keepalive ticker; nil: time.NewTicker.
	NewTicker Ticker
	// Metrics, if set, is served at GET /metrics to any user or token
	// (Prometheus sends "Authorization: Bearer") but a user restricted to
	// domains: its figures are every tenant's; nil: no /metrics.
	Metrics http.Handler
	// Lots gives the configuration of every lot, read at each request so
	// that a reload shows at once; nil: the board knows no lot.
	Lots func() []LotView
	// Node names this parkd's FreeSWITCH node when lots are shared by
	// several; OtherNodes, if set, lists the calls the other nodes hold.
	// /api/slots then shows every call with its node, the other nodes'
	// marked remote: they are seen here and acted on from their own
	// node's board.
	Node       string
	OtherNodes func(ctx context.Context) ([]RemoteCall, error)
}

// RemoteCall is a call another node holds.
type RemoteCall struct {
	Node string
	parking.Occupant
}

// Session and rate-limit bounds.
const (
	SessionIdle     = 12 * time.Hour   // a session unused this long ends
	SessionMax      = 24 * time.Hour   // a session ends this long after login
	LoginFailures   = 5                // failures allowed per window, per name and per address
	LoginWindow     = 15 * time.Minute // the window failures are counted in
	sessionCookie   = "parkd_session"
	maxSessions     = 10000
	maxLimiterKeys  = 100000
	maxRequestBytes = 1 << 16
)

// Server serves the board and the API. It is an http.Handler.
type Server struct {
	log    zerolog.Logger
	users  map[string]User
	tokens []Token
	slots  Slots
	store  Store
	ready  func() error
	now    func() time.Time
	secure bool
	parker CallParker

	// actions and notes serve the actions on parked calls (actions.go).
	actions Actions
	notes   Notes
	events  *Hub
	tick    Ticker

	metrics http.Handler // nil: no /metrics
	lots    func() []LotView

	node       string
	otherNodes func(ctx context.Context) ([]RemoteCall, error)

	// dummy is a hash checked for unknown user names, so that a login's
	// time does not tell which names exist.
	dummy string

	sessions *sessions
	limiter  *limiter
	bearer   *bearerCache
	pages    *template.Template
	mux      *http.ServeMux
}

// New checks cfg and builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Slots == nil || cfg.Store == nil {
		return nil, errors.New("web: slots and store are required")
	}
	if len(cfg.Users) == 0 && len(cfg.Tokens) == 0 {
		return nil, errors.New("web: no user and no token: nobody could use the API")
	}
	s := &Server{
		log: cfg.Logger, users: make(map[string]User, len(cfg.Users)), tokens: cfg.Tokens,
		slots: cfg.Slots, store: cfg.Store, ready: cfg.Ready, now: cfg.Now, secure: cfg.Secure,
		parker:  cfg.Parker,
		metrics: cfg.Metrics,
		lots:    cfg.Lots,

		node:       cfg.Node,
		otherNodes: cfg.OtherNodes,
	}
	s.actions, s.notes = cfg.Actions, cfg.Notes
	if s.now == nil {
		s.now = time.Now
	}
	if s.ready == nil {
		s.ready = func() error { return nil }
	}
	if s.events = cfg.Events; s.events == nil {
		s.events = NewHub(cfg.Logger, 0)
	}
	if s.tick = cfg.NewTicker; s.tick == nil {
		s.tick = realTicker
	}
	s.events.useTicker(s.tick)
	for _, u := range cfg.Users {
		if err := checkRole(u.Role); err != nil {
			return nil, fmt.Errorf("web: user %q: %w", u.Name, err)
		}
		if _, dup := s.users[u.Name]; dup || u.Name == "" {
			return nil, fmt.Errorf("web: user name %q empty or repeated", u.Name)
		}
		s.users[u.Name] = u
	}
	for _, t := range cfg.Tokens {
		if err := checkRole(t.Role); err != nil {
			return nil, fmt.Errorf("web: token %q: %w", t.Name, err)
		}
	}
	var err error
	if s.dummy, err = passhash.Hash(randomHex(16)); err != nil {
		return nil, fmt.Errorf("web: %w", err)
	}
	if s.pages, err = template.ParseFS(templates, "templates/*.html"); err != nil {
		return nil, fmt.Errorf("web: templates: %w", err)
	}
	s.sessions = newSessions(s.now)
	s.limiter = newLimiter(s.now)
	s.bearer = &bearerCache{ok: map[[32]byte]int{}}
	s.routes()
	return s, nil
}

func checkRole(r string) error {
	if r != RoleAgent && r != RoleSupervisor {
		return fmt.Errorf("role %q: want %s or %s", r, RoleAgent, RoleSupervisor)
	}
	return nil
}

// routes registers the endpoints. Methods are checked in the handlers so
// that a wrong one gets the JSON error, not the mux's plain text.
func (s *Server) routes() {
	m := http.NewServeMux()
	m.HandleFunc("/healthz", s.method(http.MethodGet, s.healthz))
	m.HandleFunc("/readyz", s.method(http.MethodGet, s.readyz))
	m.HandleFunc("/login", s.login)
	m.HandleFunc("/logout", s.method(http.MethodPost, s.authed(s.logout)))
	m.HandleFunc("/{$}", s.method(http.MethodGet, s.index))
	m.HandleFunc("/api/me", s.method(http.MethodGet, s.authed(s.me)))
	m.HandleFunc("/api/slots", s.method(http.MethodGet, s.authed(s.apiSlots)))
	m.HandleFunc("/api/history", s.method(http.MethodGet, s.authed(s.apiHistory)))
	m.HandleFunc("/api/report", s.method(http.MethodGet, s.authed(s.apiReport)))
	m.HandleFunc("/api/calls/{call}/pickup", s.method(http.MethodPost, s.authed(s.apiPickup)))
	m.HandleFunc("/api/calls/{call}/note", s.method(http.MethodPost, s.authed(s.apiNote)))
	m.HandleFunc("/api/calls/{call}/move", s.method(http.MethodPost, s.authed(s.apiMove)))
	m.HandleFunc("/api/calls/{call}/extend", s.method(http.MethodPost, s.authed(s.apiExtend)))
	m.HandleFunc("/api/calls/{call}/hangup", s.method(http.MethodPost, s.authed(s.apiHangup)))
	m.HandleFunc("/api/park", s.method(http.MethodPost, s.authed(s.apiPark)))
	m.HandleFunc("/api/events", s.method(http.MethodGet, s.authed(s.apiEvents)))
	if s.metrics != nil {
		// Any role: the figures are counts, no caller or call, and a
		// scraper's token should need no more than an agent's rights.
		m.HandleFunc("/metrics", s.method(http.MethodGet, s.authed(func(w http.ResponseWriter, r *http.Request) {
			if len(who(r).Domains) > 0 {
				writeError(w, http.StatusForbidden, "the metrics count every domain's calls")
				return
			}
			s.metrics.ServeHTTP(w, r)
		})))
	}
	m.HandleFunc("/api/lots", s.method(http.MethodGet, s.authed(s.apiLots)))
	m.HandleFunc("/report", s.method(http.MethodGet, s.reportPage))
	m.HandleFunc("/static/", s.method(http.MethodGet, staticFiles().ServeHTTP))
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not found")
	})
	s.mux = m
}

// ServeHTTP sets the security headers and serves r.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	r.Body = http.MaxBytesReader(w, r.Body, maxRequestBytes)
	s.mux.ServeHTTP(w, r)
}

// method answers 405 to any other method than want (and HEAD for GET).
func (s *Server) method(want string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != want && !(want == http.MethodGet && r.Method == http.MethodHead) {
			w.Header().Set("Allow", want)
			writeError(w, http.StatusMethodNotAllowed, "method not allowed")
			return
		}
		h(w, r)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, "ok")
}

// readyz gives no detail: why parkd is not ready is in its log.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if s.ready() != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		fmt.Fprintln(w, "not ready")
		return
	}
	fmt.Fprintln(w, "ready")
}
