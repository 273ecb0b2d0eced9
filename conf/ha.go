package conf

import (
	"net"
	"regexp"
	"strconv"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/internal/lease"
)

// Defaults of [ha]: the lease elector's.
const (
	DefaultHARenew = lease.DefaultRenew
	DefaultHATTL   = lease.DefaultTTL
	// MaxHATTL bounds ha.ttl: the standby waits that long after a crash.
	MaxHATTL = time.Minute
)

// HA is the [ha] table: two parkd with the same configuration on one
// PostgreSQL database, one active and one standby. The active holds a
// lease in the database, renewed every Renew and lapsing TTL after its
// last renewal; the standby takes it when it lapses (or at once when the
// active hands it over on SIGTERM) and carries on from the database, as a
// restarted parkd would. Only the lease holder listens for the switch's
// socket connections, rings recalls, lights lamps and serves the board.
// With [[node]], a pair serves one node ([esl] node): each node has a
// lease of its own, so every node may have a pair, a lone parkd, or
// neither running at a time, and the pairs of two nodes never wait on
// each other.
type HA struct {
	// Enabled turns the pair on; it needs store.driver = "postgres" and an
	// instance name set to the same value on both parkd.
	Enabled bool `toml:"enabled"`
	// Renew is how often the active renews the lease and the standby
	// tries to take it. Default 1s.
	Renew time.Duration `toml:"renew"`
	// TTL is how long the lease lasts unrenewed: how long after the
	// active dies the standby takes over, at most (plus one Renew).
	// Default 3s; at least twice Renew.
	TTL time.Duration `toml:"ttl"`
	// Sockets are the esl.listen addresses of every parkd of the pair, in
	// the order the dialplan tries them (`parkd dialplan` writes one
	// socket action per address). Default: esl.listen alone.
	Sockets []string `toml:"sockets"`
}

// WithDefaults is h with the timings it leaves out set to their
// defaults. Validate applies it; a Config built in code gets it from
// whoever runs the pair.
func (h HA) WithDefaults() HA {
	if h.Renew == 0 {
		h.Renew = DefaultHARenew
	}
	if h.TTL == 0 {
		h.TTL = DefaultHATTL
	}
	return h
}

// socketHostRE is what a host in ha.sockets may be made of: fsconf's rule
// for the socket action's address.
var socketHostRE = regexp.MustCompile(`^[A-Za-z0-9._:%-]+$`)

// validateHA records the problems of c's [ha].
func (c *Config) validateHA(p *problems) {
	h := &c.HA
	if !h.Enabled {
		if len(h.Sockets) > 0 {
			p.addf("ha.sockets", "is for enabled = true")
		}
		return
	}
	*h = h.WithDefaults()
	if c.Store.Driver != "postgres" {
		p.addf("ha.enabled", `needs store.driver = "postgres": the lease and the parked calls live in the database both parkd share`)
	}
	if c.Instance == esl.DefaultInstance() {
		p.addf("instance", "must be set, to the same name on both parkd of the pair: each adopts the calls marked with it (the default, the host name, differs between hosts)")
	}
	if h.Renew < 100*time.Millisecond {
		p.addf("ha.renew", "%s: must be at least 100ms", h.Renew)
	}
	if h.TTL < 2*h.Renew {
		p.addf("ha.ttl", "%s: must be at least twice ha.renew (%s): one late renewal must not lose the lease", h.TTL, h.Renew)
	}
	if h.TTL > MaxHATTL {
		p.addf("ha.ttl", "%s: must be at most %s: the standby waits that long after a crash", h.TTL, MaxHATTL)
	}
	seen := map[string]bool{}
	for i, s := range h.Sockets {
		key := "ha.sockets[" + strconv.Itoa(i) + "]"
		before := len(*p)
		p.hostPort(key, s)
		if host, _, err := net.SplitHostPort(s); err == nil && host != "" && !socketHostRE.MatchString(host) {
			// It goes into the dialplan's socket action.
			p.addf(key, "%s: the host must be a name or an IP address", quote(s))
		}
		if len(*p) != before {
			continue
		}
		if seen[s] {
			p.addf(key, "%s: listed twice", quote(s))
		}
		seen[s] = true
	}
}
