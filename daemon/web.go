package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/parkd/parkd/web"
)

// startEvents makes the hub of the board's live events (/api/events) when
// [http] is on, fed by the store's commits and notes. It runs before the
// store opens, which is when OnCommit and OnNote must be registered, and
// before startLamps, which adds the hub to the lamps.
func (m *Main) startEvents() {
	if !m.Config.HTTP.Enabled() {
		return
	}
	m.events = web.NewHub(m.Logger.With().Str("component", "http").Logger(), 0)
	m.DB.OnCommit(m.events.Publish)
	m.DB.OnNote(m.events.Note)
}

// startWeb listens on http.listen and builds the board's server; serveWeb
// then serves it. Listening first makes serve refuse to start when the
// address cannot be taken.
func (m *Main) startWeb() error {
	c := m.Config.HTTP
	if !c.Enabled() {
		return nil
	}
	cfg := web.Config{
		Logger: m.Logger.With().Str("component", "http").Logger(),
		Slots:  m.Service,
		Store:  m.DB,
		Ready:  m.Ready,
		Secure: c.TLSCert != "" && c.TLSKey != "",
		Parker: m.Service,
		Events: m.events,
		Lots:   m.lotViews,
	}
	cfg.Actions, cfg.Notes = m.Service, m.DB
	if self, ok := m.Config.Self(); ok {
		cfg.Node, cfg.OtherNodes = self.Name, m.otherNodesCalls // nodes.go
	}
	cfg.Metrics = m.Metrics.Handler()
	for _, u := range c.Users {
		cfg.Users = append(cfg.Users, web.User{Name: u.Name, Hash: u.PasswordHash, Role: u.Role, Extension: u.Extension, Lots: u.Lots, Domains: u.Domains})
	}
	for _, t := range c.Tokens {
		cfg.Tokens = append(cfg.Tokens, web.Token{Name: t.Name, Hash: t.Hash, Role: t.Role})
	}
	h, err := web.New(cfg)
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	m.web = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	// Shutdown waits for the live event streams to end: ending them is
	// the hub's.
	m.web.RegisterOnShutdown(m.events.Close)
	if cfg.Secure {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return fmt.Errorf("http.tls_cert, http.tls_key: %w", err)
		}
		m.web.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("http.listen: listen for the board and the API: %w", err)
	}
	m.webLn = ln
	return nil
}

// lotViews is what the board shows of the lots, as configured now: a
// reload (which holds reloadMu while it changes m.Config.Lots) shows at once.
func (m *Main) lotViews() []web.LotView {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	out := make([]web.LotView, 0, len(m.Config.Lots))
	for _, l := range m.Config.Lots {
		out = append(out, web.LotView{Name: l.Name, Domain: l.Domain, First: l.First, Last: l.Last, ParkCode: l.ParkCode,
			RetrieveCode: l.RetrieveCode, Timeout: l.Timeout, WarnAfter: l.Warn()})
	}
	return out
}

// serveWeb serves the board until Close; a no-op when HTTP is off.
func (m *Main) serveWeb() {
	if m.web == nil {
		return
	}
	// Logged before Serve starts: Serve sets up the TLS config it reads.
	useTLS := m.web.TLSConfig != nil
	m.Logger.Info().Str("listen", m.webLn.Addr().String()).Bool("tls", useTLS).Msg("HTTP API listening")
	m.wg.Go(func() {
		var err error
		if useTLS {
			err = m.web.ServeTLS(m.webLn, "", "") // the certificate is in TLSConfig
		} else {
			err = m.web.Serve(m.webLn)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			m.Logger.Error().Err(err).Msg("HTTP listener stopped")
		}
	})
}

// HTTPAddr is the address the HTTP server took; "" when it is off.
func (m *Main) HTTPAddr() string {
	if m.webLn == nil {
		return ""
	}
	return m.webLn.Addr().String()
}
