package conf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/parkd/parkd/internal/passhash"
)

// Roles a board user or an API token has.
const (
	// RoleAgent sees the slots, history and notes of its lots and acts on
	// their calls.
	RoleAgent = "agent"
	// RoleSupervisor also sees reports and may hang calls up.
	RoleSupervisor = "supervisor"
)

// DefaultHTTPListen is where the board and the HTTP API listen unless
// [http] listen says otherwise; an empty listen turns them off.
const DefaultHTTPListen = "127.0.0.1:8085"

// HTTP is the [http] table: the reception board and the JSON API.
type HTTP struct {
	// Listen is the board's and the API's address; "" turns them off.
	Listen string `toml:"listen"`
	// TLSCert and TLSKey, both set, serve HTTPS (and mark the session
	// cookie Secure).
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// Users log in to the board.
	Users []HTTPUser `toml:"user"`
	// Tokens authenticate integrations (Authorization: Bearer).
	Tokens []HTTPToken `toml:"token"`
}

// HTTPUser is a person who logs in to the board ([[http.user]]).
type HTTPUser struct {
	Name string `toml:"name"`
	// PasswordHash is an argon2id (PHC string, `$argon2id$...`) or bcrypt
	// (`$2a$`/`$2b$`/`$2y$`) hash, as `parkd passwd` prints; never the
	// password itself.
	PasswordHash string `toml:"password_hash"`
	// Role is RoleAgent or RoleSupervisor.
	Role string `toml:"role"`
	// Extension is the user's own phone, for pick-up and park-my-call;
	// optional.
	Extension string `toml:"extension"`
	// Lots limits what the user sees and acts on; empty: every lot.
	Lots []string `toml:"lots"`
	// Domains limits what the user sees and acts on to the lots of these
	// domains (a lot's domain, "" for lots without one); empty: every
	// domain. With Lots, both must allow a lot.
	Domains []string `toml:"domains"`
}

// HTTPToken is an integration's API token ([[http.token]]).
type HTTPToken struct {
	Name string `toml:"name"`
	// Hash is the token's hash, in the same forms as
	// HTTPUser.PasswordHash.
	Hash string `toml:"hash"`
	// Role is RoleAgent or RoleSupervisor.
	Role string `toml:"role"`
}

// MaxHTTPNameLen bounds a board user's and a token's name, in bytes.
const MaxHTTPNameLen = 64

var (
	// httpNameRE: a user or token name, shown on the board and written in
	// the history as web:<name>.
	httpNameRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)
	// extensionRE is esl's rule for an extension it dials or transfers to
	// (esl/commands.go tokenRE), so that a user's extension that passes here
	// is one the pick-up can ring.
	extensionRE = regexp.MustCompile(`^[A-Za-z0-9_.+*#][A-Za-z0-9_.+*#-]{0,63}$`)
)

// hashHelp ends every message about a bad hash. The hash itself is never
// quoted: it is a secret too.
const hashHelp = "make one with `parkd passwd`"

// Enabled reports whether the board and the API are served: a listen
// address is set and somebody can log in, a user or a token.
func (h HTTP) Enabled() bool {
	return h.Listen != "" && (len(h.Users) > 0 || len(h.Tokens) > 0)
}

// String describes the [http] table with every hash left out.
func (h HTTP) String() string {
	users := make([]string, len(h.Users))
	for i, u := range h.Users {
		users[i] = u.String()
	}
	tokens := make([]string, len(h.Tokens))
	for i, t := range h.Tokens {
		tokens[i] = t.String()
	}
	return fmt.Sprintf("listen=%s tls_cert=%s tls_key=%s users=[%s] tokens=[%s]",
		h.Listen, h.TLSCert, h.TLSKey, strings.Join(users, " "), strings.Join(tokens, " "))
}

// GoString is like String, so that %#v does not print a hash either.
func (h HTTP) GoString() string { return "conf.HTTP{" + h.String() + "}" }

// String describes the user with the password hash redacted.
func (u HTTPUser) String() string {
	s := fmt.Sprintf("{name=%s password_hash=%s role=%s extension=%s lots=[%s]",
		u.Name, redacted(u.PasswordHash), u.Role, u.Extension, strings.Join(u.Lots, " "))
	if len(u.Domains) > 0 {
		s += fmt.Sprintf(" domains=[%s]", strings.Join(u.Domains, " "))
	}
	return s + "}"
}

// GoString is like String.
func (u HTTPUser) GoString() string { return "conf.HTTPUser" + u.String() }

// String describes the token with its hash redacted.
func (t HTTPToken) String() string {
	return fmt.Sprintf("{name=%s hash=%s role=%s}", t.Name, redacted(t.Hash), t.Role)
}

// GoString is like String.
func (t HTTPToken) GoString() string { return "conf.HTTPToken" + t.String() }

// redacted stands for a secret in String output.
func redacted(secret string) string {
	if secret == "" {
		return "(unset)"
	}
	return "***"
}

// validate records the problems of the [http] table; lots are the names of
// the configured lots, which a user's lots must name.
func (h HTTP) validate(p *problems, lots []Lot) {
	if h.Listen != "" {
		p.hostPort("http.listen", h.Listen)
	}
	switch {
	case h.TLSCert != "" && h.TLSKey == "":
		p.addf("http.tls_key", "must be set too when tls_cert is (or leave both out to serve plain HTTP)")
	case h.TLSCert == "" && h.TLSKey != "":
		p.addf("http.tls_cert", "must be set too when tls_key is (or leave both out to serve plain HTTP)")
	}
	for _, f := range []struct{ key, path string }{{"http.tls_cert", h.TLSCert}, {"http.tls_key", h.TLSKey}} {
		if f.path != "" {
			checkReadable(p, f.key, f.path)
		}
	}

	names := make(map[string]int, len(h.Users))
	for i, u := range h.Users {
		key := fmt.Sprintf("http.user[%d]", i)
		uniqueName(p, names, "user", i, u.Name)
		validHash(p, key+".password_hash", u.PasswordHash)
		validRole(p, key+".role", u.Role)
		if u.Extension != "" {
			p.match(key+".extension", u.Extension, extensionRE,
				"must be 1 to 64 characters from A-Z, a-z, 0-9 and _ . + * # - (not starting with -), as the phone is dialled")
		}
		for j, l := range u.Lots {
			if !slices.ContainsFunc(lots, func(lot Lot) bool { return lot.Name == l }) {
				p.addf(fmt.Sprintf("%s.lots[%d]", key, j), "%s: no lot of that name", quote(l))
			}
		}
		for j, d := range u.Domains {
			if !slices.ContainsFunc(lots, func(lot Lot) bool { return lot.Domain == d }) {
				p.addf(fmt.Sprintf("%s.domains[%d]", key, j), "%s: no lot of that domain", quote(d))
			}
		}
	}

	tokens := make(map[string]int, len(h.Tokens))
	for i, t := range h.Tokens {
		key := fmt.Sprintf("http.token[%d]", i)
		uniqueName(p, tokens, "token", i, t.Name)
		validHash(p, key+".hash", t.Hash)
		validRole(p, key+".role", t.Role)
	}
}

// uniqueName records a problem unless name, of http.<kind>[i], is a valid
// name that no earlier entry in seen (names lowered, to their index) has.
func uniqueName(p *problems, seen map[string]int, kind string, i int, name string) {
	key := fmt.Sprintf("http.%s[%d].name", kind, i)
	if !validName(p, key, name) {
		return
	}
	if j, dup := seen[strings.ToLower(name)]; dup {
		p.addf(key, "%s: duplicate %s name (also http.%s[%d]; names are compared ignoring case)", quote(name), kind, kind, j)
		return
	}
	seen[strings.ToLower(name)] = i
}

// validName records a problem unless name is a valid user or token name.
func validName(p *problems, key, name string) bool {
	if name == "" {
		p.addf(key, "must not be empty")
		return false
	}
	return p.match(key, name, httpNameRE, fmt.Sprintf("must be 1 to %d characters from A-Z, a-z, 0-9 and . _ @ -", MaxHTTPNameLen))
}

// validHash records a problem unless hash is one passhash can check. The
// hash is never quoted.
func validHash(p *problems, key, hash string) {
	switch {
	case hash == "":
		p.addf(key, "must not be empty; %s", hashHelp)
	case !passhash.Valid(hash):
		p.addf(key, "not an argon2id or bcrypt hash; %s", hashHelp)
	}
}

// validRole records a problem unless role is agent or supervisor.
func validRole(p *problems, key, role string) {
	if role == "" {
		p.addf(key, `must be set: "agent" or "supervisor"`)
		return
	}
	p.oneOf(key, role, `"agent" or "supervisor"`, RoleAgent, RoleSupervisor)
}

// checkReadable records a problem unless path names a regular file parkd
// can open for reading. It stats first: opening a FIFO would block.
func checkReadable(p *problems, key, path string) {
	if strings.ContainsRune(path, 0) {
		p.addf(key, "%s: must not contain a NUL byte", quote(path))
		return
	}
	cause := func(err error) error {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return pe.Err
		}
		return err
	}
	fi, err := os.Stat(path)
	switch {
	case err != nil:
		p.addf(key, "%s: cannot read it: %v", quote(path), cause(err))
		return
	case fi.IsDir():
		p.addf(key, "%s: is a directory, not a file", quote(path))
		return
	case !fi.Mode().IsRegular():
		p.addf(key, "%s: not a regular file", quote(path))
		return
	}
	f, err := os.Open(path)
	if err != nil {
		p.addf(key, "%s: cannot read it: %v", quote(path), cause(err))
		return
	}
	_ = f.Close()
}
