package web

import (
	"embed"
	"io/fs"
	"net/http"
	"slices"
	"time"
)

// static holds the board's script and style sheets, embedded in the
// binary. The Content-Security-Policy forbids inline scripts and styles,
// so every one of them is a file here.
//
//go:embed static
var static embed.FS

// LotView is what the board shows of a lot's configuration.
type LotView struct {
	Name         string
	Domain       string // "" for a lot without one
	First, Last  int    // the slot range
	ParkCode     string
	RetrieveCode string
	Timeout      time.Duration // a call is recalled after waiting this long: its waiting time turns red
	WarnAfter    time.Duration // its waiting time turns amber after this long
}

// lotJSON is one lot in /api/lots.
type lotJSON struct {
	Name             string `json:"name"`
	Domain           string `json:"domain,omitempty"`
	First            int    `json:"first"`
	Last             int    `json:"last"`
	ParkCode         string `json:"park_code"`
	RetrieveCode     string `json:"retrieve_code"`
	TimeoutSeconds   int64  `json:"timeout_seconds"`
	WarnAfterSeconds int64  `json:"warn_after_seconds"`
}

// visibleLots is the configuration of the lots p may see, of domains (nil:
// every domain), in the order of the configuration file.
func (s *Server) visibleLots(p principal, domains []string) []lotJSON {
	out := []lotJSON{}
	if s.lots == nil {
		return out
	}
	for _, l := range s.lots() {
		if !p.sees(l.Domain, l.Name) || (domains != nil && !slices.Contains(domains, l.Domain)) {
			continue
		}
		out = append(out, lotJSON{
			Name: l.Name, Domain: l.Domain, First: l.First, Last: l.Last, ParkCode: l.ParkCode, RetrieveCode: l.RetrieveCode,
			TimeoutSeconds: int64(l.Timeout / time.Second), WarnAfterSeconds: int64(l.WarnAfter / time.Second),
		})
	}
	return out
}

// apiLots lists the lots the caller may see, for the board to draw their
// slots and colour waiting times.
func (s *Server) apiLots(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	domains, ok := p.domains(r.URL.Query())
	if !ok {
		writeError(w, http.StatusForbidden, "you may not see that domain")
		return
	}
	writeJSON(w, http.StatusOK, s.visibleLots(p, domains))
}

// staticFiles serves the embedded script and style sheets. They hold no
// secret, so the login page may use them before anyone logs in.
func staticFiles() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	return http.StripPrefix("/static/", http.FileServerFS(sub))
}
