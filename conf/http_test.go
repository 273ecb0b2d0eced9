package conf_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/internal/passhash"
)

// testHash is a valid argon2id hash, made once for the tests.
var testHash = func() string {
	h, err := passhash.Hash("correct horse")
	if err != nil {
		panic(err)
	}
	return h
}()

// bcryptHash is a bcrypt hash of "secret" (cost 4), as htpasswd makes.
const bcryptHash = "$2a$04$0lWg4H1V4Bk7qq1pH7dRu.J2nX0sQaN9M6k3k1kX8Ax3ZwzZ3yq7S"

// Ensure [http] defaults to 127.0.0.1:8085 with nobody to log in, so the
// board is not served until a user or a token is configured.
func TestHTTP_Default(t *testing.T) {
	c, err := conf.Parse(nil, "parkd.toml")
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.Listen != conf.DefaultHTTPListen || c.HTTP.Enabled() {
		t.Fatalf("http=%v enabled=%t, want listen %s and not enabled", c.HTTP, c.HTTP.Enabled(), conf.DefaultHTTPListen)
	}
	for _, h := range []conf.HTTP{
		{Listen: "127.0.0.1:1", Users: []conf.HTTPUser{{Name: "a"}}},
		{Listen: "127.0.0.1:1", Tokens: []conf.HTTPToken{{Name: "a"}}},
	} {
		if !h.Enabled() {
			t.Errorf("%v: not enabled", h)
		}
	}
	if (conf.HTTP{Users: []conf.HTTPUser{{Name: "a"}}}).Enabled() {
		t.Error("enabled with an empty listen")
	}
}

// Ensure users and tokens are decoded as written, in file order.
func TestHTTP_Full(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	data := fmt.Sprintf(`
[http]
listen = "0.0.0.0:8443"
tls_cert = %q
tls_key = %q

[[http.user]]
name = "ann"
password_hash = %q
role = "agent"
extension = "2001"
lots = ["default"]

[[http.user]]
name = "Boss@example.com"
password_hash = %q
role = "supervisor"

[[http.token]]
name = "crm"
hash = %q
role = "agent"
`, cert, key, testHash, bcryptHash, testHash)
	c, err := conf.Parse([]byte(data), "parkd.toml")
	if err != nil {
		t.Fatal(err)
	}
	h := c.HTTP
	got := fmt.Sprintf("%s %s %s %d %d", h.Listen, filepath.Base(h.TLSCert), filepath.Base(h.TLSKey), len(h.Users), len(h.Tokens))
	if want := "0.0.0.0:8443 cert.pem key.pem 2 1"; got != want {
		t.Fatalf("http=%q, want %q", got, want)
	}
	u := h.Users[0]
	if u.Name != "ann" || u.PasswordHash != testHash || u.Role != conf.RoleAgent || u.Extension != "2001" || len(u.Lots) != 1 || u.Lots[0] != "default" {
		t.Fatalf("user[0]=%v", u)
	}
	if u := h.Users[1]; u.Name != "Boss@example.com" || u.PasswordHash != bcryptHash || u.Role != conf.RoleSupervisor || u.Extension != "" || u.Lots != nil {
		t.Fatalf("user[1]=%v", u)
	}
	if tk := h.Tokens[0]; tk.Name != "crm" || tk.Hash != testHash || tk.Role != conf.RoleAgent {
		t.Fatalf("token=%v", tk)
	}
	// Neither String nor %v nor %#v shows a hash.
	for _, s := range []string{fmt.Sprint(c.HTTP), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c), fmt.Sprintf("%#v", h.Users), fmt.Sprint(h.Tokens)} {
		if strings.Contains(s, testHash) || strings.Contains(s, bcryptHash) || strings.Contains(s, "$argon2id") {
			t.Fatalf("a hash is shown: %s", s)
		}
	}
}

// Ensure Load takes relative TLS file names from the config file's
// directory, and names a missing one.
func TestHTTP_LoadRelativeTLS(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "parkd.toml")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("[http]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n")
	_, err := conf.Load(file)
	want := fmt.Sprintf("%s: line 3: http.tls_key: %q: cannot read it: no such file or directory", file, filepath.Join(dir, "key.pem"))
	if err == nil || err.Error() != want {
		t.Fatalf("Load: %v\nwant %s", err, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.pem"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := conf.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTP.TLSCert != filepath.Join(dir, "cert.pem") || c.HTTP.TLSKey != filepath.Join(dir, "key.pem") {
		t.Fatalf("tls=%q %q, want them in %s", c.HTTP.TLSCert, c.HTTP.TLSKey, dir)
	}
}

// Ensure every invalid [http] value is reported on its own line, with the
// file, line and key, and that no message quotes a hash.
func TestHTTP_Invalid(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "cert.pem")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "missing.pem")
	user := func(lines ...string) string {
		base := map[string]string{"name": `"ann"`, "password_hash": fmt.Sprintf("%q", testHash), "role": `"agent"`}
		var b strings.Builder
		b.WriteString("[[http.user]]\n")
		for _, l := range lines {
			k, v, _ := strings.Cut(l, " = ")
			base[k] = v
		}
		for _, k := range []string{"name", "password_hash", "role", "extension", "lots"} {
			if v, ok := base[k]; ok && v != "-" {
				fmt.Fprintf(&b, "%s = %s\n", k, v)
			}
		}
		return b.String()
	}
	token := func(name, hash, role string) string {
		return fmt.Sprintf("[[http.token]]\nname = %s\nhash = %s\nrole = %s\n", name, hash, role)
	}
	okHash := fmt.Sprintf("%q", testHash)
	for _, tt := range []struct {
		name, data, want string
	}{
		{"ListenNoPort", "[http]\nlisten = \"127.0.0.1\"\n", `parkd.toml: line 2: http.listen: "127.0.0.1": not host:port`},
		{"ListenNoHost", "[http]\nlisten = \":8085\"\n", `parkd.toml: line 2: http.listen: ":8085": missing host`},
		{"ListenPort", "[http]\nlisten = \"127.0.0.1:0\"\n", `parkd.toml: line 2: http.listen: "127.0.0.1:0": port must be a number from 1 to 65535`},
		{"ListenType", "[http]\nlisten = 8085\n", `parkd.toml: line 2: http.listen: must be a quoted string, not an integer`},
		{"CertWithoutKey", fmt.Sprintf("[http]\ntls_cert = %q\n", file), `parkd.toml: line 1: http.tls_key: must be set too when tls_cert is (or leave both out to serve plain HTTP)`},
		{"KeyWithoutCert", fmt.Sprintf("[http]\ntls_key = %q\n", file), `parkd.toml: line 1: http.tls_cert: must be set too when tls_key is (or leave both out to serve plain HTTP)`},
		{"CertMissing", fmt.Sprintf("[http]\ntls_cert = %q\ntls_key = %q\n", missing, file), fmt.Sprintf(`parkd.toml: line 2: http.tls_cert: %q: cannot read it: no such file or directory`, missing)},
		{"KeyDirectory", fmt.Sprintf("[http]\ntls_cert = %q\ntls_key = %q\n", file, dir), fmt.Sprintf(`parkd.toml: line 3: http.tls_key: %q: is a directory, not a file`, dir)},
		{"KeyDevice", fmt.Sprintf("[http]\ntls_cert = %q\ntls_key = \"/dev/null\"\n", file), `parkd.toml: line 3: http.tls_key: "/dev/null": not a regular file`},
		{"CertNUL", "[http]\ntls_cert = \"a\\u0000b\"\ntls_key = \"b\"\n", `parkd.toml: line 2: http.tls_cert: "a\x00b": must not contain a NUL byte`},
		{"UsersNotTables", "[http]\nuser = [\"ann\"]\n", `parkd.toml: line 2: http.user[0]: must be a table written [[http.user]], not a string`},
		{"UsersNotArray", "[http]\nuser = \"ann\"\n", `parkd.toml: line 2: http.user: must be an array of tables written [[http.user]], not a string`},
		{"UserUnknownKey", user() + "roles = \"x\"\n", `parkd.toml: line 5: http.user[0].roles: unknown key; did you mean "role"?`},
		{"UserPassword", user() + "password = \"hunter2hunter2\"\n", "parkd.toml: line 5: http.user[0].password: unknown key: write the hash `parkd passwd` prints as password_hash, never the password itself"},
		{"UserKeyElsewhere", "[http]\nrole = \"agent\"\n", `parkd.toml: line 2: http.role: unknown key (a board user's key: write it under [[http.user]])`},
		{"UserNameEmpty", user(`name = ""`), `parkd.toml: line 2: http.user[0].name: must not be empty`},
		{"UserNameMissing", user(`name = -`), `parkd.toml: line 1: http.user[0].name: must not be empty`},
		{"UserNameBad", user(`name = "ann smith"`), `parkd.toml: line 2: http.user[0].name: "ann smith": must be 1 to 64 characters from A-Z, a-z, 0-9 and . _ @ -`},
		{"UserNameLong", user(fmt.Sprintf("name = %q", strings.Repeat("a", 65))), `parkd.toml: line 2: http.user[0].name: "` + strings.Repeat("a", 65) + `": must be 1 to 64`},
		{"UserNameDup", user() + user(`name = "ANN"`), `parkd.toml: line 6: http.user[1].name: "ANN": duplicate user name (also http.user[0]; names are compared ignoring case)`},
		{"HashEmpty", user(`password_hash = ""`), "parkd.toml: line 3: http.user[0].password_hash: must not be empty; make one with `parkd passwd`"},
		{"HashMissing", user(`password_hash = -`), "parkd.toml: line 1: http.user[0].password_hash: must not be empty; make one with `parkd passwd`"},
		{"HashPlain", user(`password_hash = "hunter2hunter2"`), "parkd.toml: line 3: http.user[0].password_hash: not an argon2id or bcrypt hash; make one with `parkd passwd`"},
		{"HashArgonTooCostly", user(`password_hash = "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5"`), "parkd.toml: line 3: http.user[0].password_hash: not an argon2id or bcrypt hash; make one with `parkd passwd`"},
		{"HashType", user(`password_hash = 12`), `parkd.toml: line 3: http.user[0].password_hash: must be a quoted string, not an integer`},
		{"RoleMissing", user(`role = -`), `parkd.toml: line 1: http.user[0].role: must be set: "agent" or "supervisor"`},
		{"RoleBad", user(`role = "admin"`), `parkd.toml: line 4: http.user[0].role: "admin": must be "agent" or "supervisor"`},
		{"RoleCase", user(`role = "Agent"`), `parkd.toml: line 4: http.user[0].role: "Agent": must be "agent" or "supervisor"`},
		{"ExtensionBad", user(`extension = "20 01"`), `parkd.toml: line 5: http.user[0].extension: "20 01": must be 1 to 64 characters from A-Z, a-z, 0-9 and _ . + * # - (not starting with -), as the phone is dialled`},
		{"ExtensionQuote", user(`extension = "2001'"`), `parkd.toml: line 5: http.user[0].extension: "2001'": must be 1 to 64`},
		{"ExtensionDash", user(`extension = "-2001"`), `parkd.toml: line 5: http.user[0].extension: "-2001": must be 1 to 64`},
		{"ExtensionAt", user(`extension = "2001@pbx"`), `parkd.toml: line 5: http.user[0].extension: "2001@pbx": must be 1 to 64`},
		{"LotsUnknown", user(`lots = ["default", "vip"]`), `parkd.toml: line 5: http.user[0].lots[1]: "vip": no lot of that name`},
		{"LotsType", user(`lots = "default"`), `parkd.toml: line 5: http.user[0].lots: must be an array of quoted strings, not a string`},
		{"TokenNameDup", token(`"crm"`, okHash, `"agent"`) + token(`"CRM"`, okHash, `"agent"`), `parkd.toml: line 6: http.token[1].name: "CRM": duplicate token name (also http.token[0]; names are compared ignoring case)`},
		{"TokenNameBad", token(`"c/rm"`, okHash, `"agent"`), `parkd.toml: line 2: http.token[0].name: "c/rm": must be 1 to 64`},
		{"TokenHashBad", token(`"crm"`, `"abc"`, `"agent"`), "parkd.toml: line 3: http.token[0].hash: not an argon2id or bcrypt hash; make one with `parkd passwd`"},
		{"TokenRoleBad", token(`"crm"`, okHash, `"root"`), `parkd.toml: line 4: http.token[0].role: "root": must be "agent" or "supervisor"`},
		{"TokenUnknownKey", "[[http.token]]\nname = \"crm\"\nsecret = \"x\"\n", `parkd.toml: line 3: http.token[0].secret: unknown key`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := conf.Parse([]byte(tt.data), "parkd.toml")
			if err == nil {
				t.Fatalf("Parse(%q): no error, want %s", tt.data, tt.want)
			}
			var one *conf.Error
			if !errors.As(err, &one) {
				t.Fatalf("error %v is not a *conf.Error", err)
			}
			if !slices.ContainsFunc(strings.Split(err.Error(), "\n"), func(line string) bool { return strings.HasPrefix(line, tt.want) }) {
				t.Fatalf("Parse(%q):\n%v\nwant a line starting with\n%s", tt.data, err, tt.want)
			}
			for _, s := range []string{testHash, "hunter2", "$argon2id$v=19$m=4194304"} {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("the message shows a hash or password: %v", err)
				}
			}
		})
	}
}

// Ensure a user and a token may share a name, and a user's name may use
// every allowed character.
func TestHTTP_NamesValid(t *testing.T) {
	data := fmt.Sprintf("[[http.user]]\nname = \"a.b_c-d@e\"\npassword_hash = %q\nrole = \"agent\"\nextension = \"*2001#\"\n"+
		"[[http.token]]\nname = \"a.b_c-d@e\"\nhash = %q\nrole = \"supervisor\"\n", testHash, bcryptHash)
	if _, err := conf.Parse([]byte(data), "parkd.toml"); err != nil {
		t.Fatal(err)
	}
}

// Ensure the commented [[http.user]] and [[http.token]] of the example file
// are valid once uncommented and given real hashes.
func TestHTTP_ExampleUserAndToken(t *testing.T) {
	data, err := os.ReadFile("../parkd.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, header := range []string{"# [[http.user]]\n", "# [[http.token]]\n"} {
		_, after, ok := strings.Cut(string(data), header)
		if !ok {
			t.Fatalf("example has no commented %s", header)
		}
		block, _, _ := strings.Cut(header+after, "\n\n")
		for line := range strings.Lines(block + "\n") {
			line = strings.TrimPrefix(strings.TrimPrefix(line, "#"), " ")
			if k, _, _ := strings.Cut(line, " = "); k == "password_hash" || k == "hash" {
				line = fmt.Sprintf("%s = %q\n", k, testHash)
			}
			b.WriteString(line)
		}
	}
	c, err := conf.Parse([]byte(b.String()), "parkd.example.toml")
	if err != nil {
		t.Fatalf("Parse(%s): %v", b.String(), err)
	}
	u, tk := c.HTTP.Users, c.HTTP.Tokens
	if len(u) != 1 || len(tk) != 1 || u[0].Name != "reception" || u[0].Role != conf.RoleAgent || u[0].Extension != "2001" || tk[0].Name != "crm" {
		t.Fatalf("users=%v tokens=%v", u, tk)
	}
	if !c.HTTP.Enabled() {
		t.Fatal("the example's board is not enabled with a user")
	}
}

// Ensure a TLS key parkd may not read is named with the reason.
func TestHTTP_TLSKeyUnreadable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root reads every file")
	}
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for _, f := range []string{cert, key} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(key, 0); err != nil {
		t.Fatal(err)
	}
	_, err := conf.Parse([]byte(fmt.Sprintf("[http]\ntls_cert = %q\ntls_key = %q\n", cert, key)), "parkd.toml")
	want := fmt.Sprintf("parkd.toml: line 3: http.tls_key: %q: cannot read it: permission denied", key)
	if err == nil || err.Error() != want {
		t.Fatalf("Parse: %v\nwant %s", err, want)
	}
}
