package conf

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/parkd/parkd/parking"
)

// Webhook defaults and limits.
const (
	DefaultWebhookTimeout = 10 * time.Second
	DefaultWebhookMaxAge  = 24 * time.Hour

	MinWebhookTimeout  = time.Second
	MaxWebhookTimeout  = time.Minute
	MinWebhookMaxAge   = time.Minute
	MaxWebhookMaxAge   = 30 * 24 * time.Hour
	MinWebhookSecret   = 16 // bytes
	MaxWebhookSecret   = 256
	MaxWebhookURLLen   = 2048
	MaxWebhookNameLen  = 64
	maxWebhookURLShown = 80
)

// webhookNameRE: a webhook's name, in the logs, the outbox table and the
// payload's "webhook" key.
var webhookNameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// Webhook is one [[webhook]] table: every history row whose event it
// selects is POSTed to URL, signed with Secret.
type Webhook struct {
	// Name identifies the webhook in the outbox and the logs; it defaults
	// to the URL (without its query), so that pointing a webhook elsewhere starts afresh (the
	// undelivered events of a name no longer configured are dropped at
	// start).
	Name string `toml:"name"`
	// URL is where events are POSTed: http or https, without user info,
	// never parkd's own listeners.
	URL string `toml:"url"`
	// Secret keys the HMAC-SHA256 signature of every delivery. It is never
	// printed or logged.
	Secret string `toml:"secret"`
	// Events are the event names (parking.Events) sent; empty: all.
	Events []string `toml:"events"`
	// Timeout bounds each POST.
	Timeout time.Duration `toml:"timeout"`
	// MaxAge is how long an event is retried before it is dropped.
	MaxAge time.Duration `toml:"max_age"`
}

// DefaultWebhook returns a [[webhook]] table with every default applied.
func DefaultWebhook() Webhook {
	return Webhook{Timeout: DefaultWebhookTimeout, MaxAge: DefaultWebhookMaxAge}
}

// ID is the webhook's name, or when it has none its URL as RedactURL
// shows it (the query may hold a token, and the ID is logged and stored).
func (w Webhook) ID() string {
	if w.Name != "" {
		return w.Name
	}
	return RedactURL(w.URL)
}

// Wants reports whether the webhook sends events of kind e.
func (w Webhook) Wants(e parking.Event) bool {
	return len(w.Events) == 0 || slices.Contains(w.Events, string(e))
}

// String describes the webhook with its secret redacted and its URL's
// query left out (it may carry a token).
func (w Webhook) String() string {
	events := "all"
	if len(w.Events) > 0 {
		events = strings.Join(w.Events, ",")
	}
	return fmt.Sprintf("{name=%s url=%s secret=%s events=%s timeout=%s max_age=%s}",
		w.ID(), RedactURL(w.URL), redacted(w.Secret), events, w.Timeout, w.MaxAge)
}

// GoString is like String, so that %#v does not print the secret either.
func (w Webhook) GoString() string { return "conf.Webhook" + w.String() }

// RedactURL renders a webhook URL for a log or a listing: without user
// info, query or fragment, which may carry credentials, and shortened.
func RedactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "(invalid URL)"
	}
	out := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery != "" || u.Fragment != "" {
		out += "?…"
	}
	if len(out) > maxWebhookURLShown {
		out = out[:maxWebhookURLShown] + "…"
	}
	return out
}

// validateWebhooks records the problems of every [[webhook]]: each one
// alone, their names unique, and none pointing at parkd itself.
func (c *Config) validateWebhooks(p *problems) {
	ids := make(map[string]int, len(c.Webhooks))
	for i, w := range c.Webhooks {
		key := fmt.Sprintf("webhook[%d]", i)
		if w.Name != "" {
			p.match(key+".name", w.Name, webhookNameRE,
				fmt.Sprintf("must be 1 to %d characters from A-Z, a-z, 0-9 and . _ @ -", MaxWebhookNameLen))
		}
		if j, dup := ids[w.ID()]; dup && w.ID() != "" {
			what := "name"
			if w.Name == "" {
				what = "url (give each a name to send the same URL twice)"
			}
			p.addf(key+".name", "duplicate webhook %s (also webhook[%d])", what, j)
		} else {
			ids[w.ID()] = i
		}
		c.validateWebhookURL(p, key+".url", w.URL)
		switch s := w.Secret; {
		case s == "":
			p.addf(key+".secret", "must be set: the receiver checks each delivery's signature with it")
		case len(s) < MinWebhookSecret:
			p.addf(key+".secret", "too short: at least %d bytes (make one with `openssl rand -hex 32`)", MinWebhookSecret)
		case len(s) > MaxWebhookSecret:
			p.addf(key+".secret", "too long: at most %d bytes", MaxWebhookSecret)
		case strings.ContainsFunc(s, unicode.IsControl):
			p.addf(key+".secret", "must not contain control characters such as line breaks")
		}
		seen := map[string]bool{}
		for j, e := range w.Events {
			k := fmt.Sprintf("%s.events[%d]", key, j)
			switch {
			case !parking.Event(e).Valid():
				names := make([]string, len(parking.Events))
				for n, ev := range parking.Events {
					names[n] = string(ev)
				}
				p.addf(k, "%s: unknown event (known: %s)", quote(e), strings.Join(names, ", "))
			case seen[e]:
				p.addf(k, "%s: listed twice", quote(e))
			}
			seen[e] = true
		}
		p.between(key+".timeout", w.Timeout, MinWebhookTimeout, MaxWebhookTimeout)
		p.between(key+".max_age", w.MaxAge, MinWebhookMaxAge, MaxWebhookMaxAge)
	}
}

// validateWebhookURL records a problem unless s is an http or https URL
// with a host, without user info, that does not point at parkd's own
// listeners (http.listen, esl.listen): parkd posting to itself would loop.
func (c *Config) validateWebhookURL(p *problems, key, s string) {
	if s == "" {
		p.addf(key, "must be set (an http:// or https:// URL)")
		return
	}
	if len(s) > MaxWebhookURLLen || hasSpaceOrControl(s) {
		p.addf(key, "must be at most %d bytes, without spaces or control characters", MaxWebhookURLLen)
		return
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		p.addf(key, "%s: not a URL", quote(RedactURL(s)))
		return
	case u.Scheme != "http" && u.Scheme != "https":
		p.addf(key, "%s: scheme must be http or https", quote(RedactURL(s)))
		return
	case u.User != nil:
		// Not quoted: the user info is a credential.
		p.addf(key, "must not carry user info (user:password@): authenticate the delivery by its signature")
		return
	case u.Hostname() == "":
		p.addf(key, "%s: missing host", quote(RedactURL(s)))
		return
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		p.addf(key, "%s: port must be a number from 1 to 65535", quote(RedactURL(s)))
		return
	}
	for _, l := range []struct{ key, addr string }{{"http.listen", c.HTTP.Listen}, {"esl.listen", c.ESL.Listen}} {
		if pointsAt(u.Hostname(), port, l.addr) {
			p.addf(key, "%s: points at parkd itself (%s %s); a webhook must go to another service", quote(RedactURL(s)), l.key, l.addr)
		}
	}
}

// pointsAt reports whether host:port reaches the listener at listen: the
// same port and the same host, where every loopback name and address, and
// a listener on every interface, count as one host.
func pointsAt(host, port, listen string) bool {
	lh, lp, err := net.SplitHostPort(listen)
	if err != nil || lp != port {
		return false
	}
	host, lh = strings.ToLower(strings.TrimSuffix(host, ".")), strings.ToLower(lh)
	if host == lh {
		return true
	}
	return isLocal(host) && (isLocal(lh) || isUnspecified(lh))
}

// isLocal reports whether host names the local machine's loopback.
func isLocal(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsUnspecified())
}

// isUnspecified reports whether a listen host means every interface.
func isUnspecified(host string) bool {
	if host == "" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsUnspecified()
}
