package conf

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
