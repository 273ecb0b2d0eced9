package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parkd/parkd/internal/passhash"
)

// principal is who a request acts as: a logged-in user or an API token.
type principal struct {
	Name    string
	Role    string
	Lots    []string // empty: all
	Domains []string // the lots' domains they see, whatever their role; empty: all
	Token   bool     // came with a Bearer token
	session *session // nil for a token
}

// sees reports whether p may see lot of domain ("" for a lot without
// one). A user restricted to domains never sees another's lots, not even
// as a supervisor; lots restrict agents only.
func (p principal) sees(domain, lot string) bool {
	return p.seesDomain(domain) && (p.Role == RoleSupervisor || len(p.Lots) == 0 || slices.Contains(p.Lots, lot))
}

// seesDomain reports whether p may see the lots of domain.
func (p principal) seesDomain(domain string) bool {
	return len(p.Domains) == 0 || slices.Contains(p.Domains, domain)
}

// domains is the domains a request of p reads: the one asked for with
// ?domain= (present, even empty: the lots without a domain), limited to
// those p may see. nil means every domain. ok is false when p may not see
// the domain asked for.
func (p principal) domains(q url.Values) (ds []string, ok bool) {
	if q.Has("domain") {
		d := q.Get("domain")
		if !p.seesDomain(d) {
			return nil, false
		}
		return []string{d}, true
	}
	if len(p.Domains) > 0 {
		return p.Domains, true
	}
	return nil, true
}

type ctxKey struct{}

func who(r *http.Request) principal { return r.Context().Value(ctxKey{}).(principal) }

// bearerCache remembers tokens that checked good, by their SHA-256, so a
// busy integration does not pay an argon2 hash per request.
type bearerCache struct {
	mu sync.Mutex
	ok map[[32]byte]int // index into Server.tokens
}

// authed admits a request with a valid Bearer token or session, and holds
// a session's state-changing requests to the CSRF rules.
func (s *Server) authed(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, status, msg := s.authenticate(w, r)
		if status != 0 {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="parkd"`)
			}
			writeError(w, status, msg)
			return
		}
		if !p.Token && stateChanging(r.Method) {
			if msg := s.crossSite(r); msg != "" {
				writeError(w, http.StatusForbidden, msg)
				return
			}
			tok := r.Header.Get("X-CSRF-Token")
			if tok == "" {
				tok = r.PostFormValue("csrf")
			}
			if subtle.ConstantTimeCompare([]byte(tok), []byte(p.session.csrf)) != 1 {
				writeError(w, http.StatusForbidden, "missing or wrong CSRF token")
				return
			}
		}
		h(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, p)))
	}
}

// authenticate finds who r acts as; status is non-zero when nobody.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (p principal, status int, msg string) {
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, _ := strings.Cut(a, " ")
		if !strings.EqualFold(scheme, "Bearer") || tok == "" {
			return p, http.StatusUnauthorized, "authorization: want Bearer <token>"
		}
		if t, ok := s.cachedToken(tok); ok {
			return principal{Name: "token:" + t.Name, Role: t.Role, Token: true}, 0, ""
		}
		// An address guessing tokens is held back before it costs an
		// argon2 run per configured token; tokens known good pass above.
		addr := "addr:" + clientAddr(r)
		if wait, no := s.limiter.blocked(addr); no {
			retryAfter(w, wait)
			return p, http.StatusTooManyRequests, "too many failed attempts; try again later"
		}
		t, ok := s.checkToken(tok)
		if !ok {
			s.limiter.fail(addr)
			s.log.Warn().Str("addr", clientAddr(r)).Msg("API request with an unknown token")
			return p, http.StatusUnauthorized, "invalid token"
		}
		return principal{Name: "token:" + t.Name, Role: t.Role, Token: true}, 0, ""
	}
	if c, err := r.Cookie(sessionCookie); err == nil {
		if sess := s.sessions.get(c.Value); sess != nil {
			if u, ok := s.users[sess.user]; ok {
				return principal{Name: u.Name, Role: u.Role, Lots: u.Lots, Domains: u.Domains, session: sess}, 0, ""
			}
		}
		return p, http.StatusUnauthorized, "session expired; log in again"
	}
	return p, http.StatusUnauthorized, "log in or give a Bearer token"
}

// cachedToken finds tok among the tokens that checked good before.
func (s *Server) cachedToken(tok string) (Token, bool) {
	sum := sha256.Sum256([]byte(tok))
	s.bearer.mu.Lock()
	i, ok := s.bearer.ok[sum]
	s.bearer.mu.Unlock()
	if ok {
		return s.tokens[i], true
	}
	return Token{}, false
}

// checkToken finds the configured token tok matches.
func (s *Server) checkToken(tok string) (Token, bool) {
	sum := sha256.Sum256([]byte(tok))
	for i, t := range s.tokens {
		if good, err := passhash.Check(t.Hash, tok); err == nil && good {
			s.bearer.mu.Lock()
			if len(s.bearer.ok) < len(s.tokens)*16 {
				s.bearer.ok[sum] = i
			}
			s.bearer.mu.Unlock()
			return t, true
		}
	}
	return Token{}, false
}

func stateChanging(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

// crossSite returns why r looks sent by another site, or "". A browser
// sends Origin and Sec-Fetch-Site on such requests; a client that sends
// neither (curl) is left to the CSRF token and SameSite.
func (s *Server) crossSite(r *http.Request) string {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return "cross-site request refused"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host {
			return "cross-origin request refused"
		}
	}
	return ""
}

// clientAddr is the peer's IP. parkd does not trust X-Forwarded-For: a
// proxy in front of it counts as one address.
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func retryAfter(w http.ResponseWriter, d time.Duration) {
	secs := int((d + time.Second - 1) / time.Second)
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
}
