package web

import (
	"net/http"

	"github.com/parkd/parkd/internal/passhash"
)

// login serves the form (GET) and checks it (POST).
//
// The login form carries no CSRF token: there is no session to bind one
// to yet. It is protected by the Origin / Sec-Fetch-Site check (a browser
// posting from another site is refused) and by the session cookie being
// SameSite=Strict, so a forged login cannot be used from another site.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.page(w, http.StatusOK, "login.html", loginPage{})
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, POST")
		writeError(w, http.StatusMethodNotAllowed, "method not allowed")
		return
	}
	if msg := s.crossSite(r); msg != "" {
		writeError(w, http.StatusForbidden, msg)
		return
	}
	name, password := r.PostFormValue("name"), r.PostFormValue("password")
	addr := clientAddr(r)
	keys := []string{"name:" + name, "addr:" + addr}
	if wait, no := s.limiter.blocked(keys...); no {
		retryAfter(w, wait)
		s.log.Warn().Str("user", name).Str("addr", addr).Msg("login refused: too many failures")
		writeError(w, http.StatusTooManyRequests, "too many failed logins; try again later")
		return
	}
	u, known := s.users[name]
	hash := u.Hash
	if !known {
		hash = s.dummy // the same work as for a real name
	}
	ok, err := passhash.Check(hash, password)
	if !known || err != nil || !ok {
		s.limiter.fail(keys...)
		ev := s.log.Warn().Str("user", name).Str("addr", addr)
		if known && err != nil {
			ev = ev.Str("problem", "the user's password_hash is malformed")
		}
		ev.Msg("login failed")
		s.page(w, http.StatusUnauthorized, "login.html", loginPage{Failed: true, Name: name})
		return
	}
	s.limiter.reset("name:" + name)
	id, _ := s.sessions.start(name)
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int(SessionMax.Seconds()),
	})
	s.log.Info().Str("user", name).Str("addr", addr).Msg("logged in")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

type loginPage struct {
	Failed bool
	Name   string
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		s.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteStrictMode, MaxAge: -1})
	s.log.Info().Str("user", who(r).Name).Msg("logged out")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// index is the reception board: a page the script static/board.js fills
// from /api/lots and /api/slots and keeps live with /api/events. The
// page gives it the CSRF token and the user's extension in meta tags.
func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	p, status, _ := s.authenticate(w, r)
	if status != 0 || p.Token {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.page(w, http.StatusOK, "index.html", indexPage{Name: p.Name, Role: p.Role, Lots: p.Lots, CSRF: p.session.csrf,
		Extension: s.users[p.Name].Extension, Supervisor: p.Role == RoleSupervisor})
}

type indexPage struct {
	Name, Role, CSRF string
	Extension        string // the user's phone; the board may remember another one
	Supervisor       bool
	Lots             []string
}

// me tells a client who it is, and a session its CSRF token.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	out := struct {
		Name    string   `json:"name"`
		Role    string   `json:"role"`
		Lots    []string `json:"lots"`
		Domains []string `json:"domains,omitempty"`
		CSRF    string   `json:"csrf,omitempty"`
	}{Name: p.Name, Role: p.Role, Lots: p.Lots, Domains: p.Domains}
	if out.Lots == nil {
		out.Lots = []string{}
	}
	if p.session != nil {
		out.CSRF = p.session.csrf
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) page(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := s.pages.ExecuteTemplate(w, name, data); err != nil {
		s.log.Error().Err(err).Str("page", name).Msg("render page")
	}
}
