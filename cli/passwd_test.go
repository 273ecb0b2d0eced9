package cli

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkd/parkd/internal/passhash"
)

// withStdin makes input parkd passwd's stdin, through a real pipe (not a
// terminal), for the rest of the test.
func withStdin(t *testing.T, input string) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		_, _ = w.WriteString(input)
		_ = w.Close()
	}()
	old := stdin
	stdin = r
	t.Cleanup(func() { stdin = old; _ = r.Close() })
}

// Ensure parkd passwd prints, on stdout and alone, a hash of the line read
// from stdin that passhash accepts, and never prints the password.
func TestPasswd_HashFromPipe(t *testing.T) {
	for _, tt := range []struct{ name, input, pw string }{
		{"Newline", "correct horse battery\n", "correct horse battery"},
		{"CRLF", "correct horse battery\r\n", "correct horse battery"},
		{"NoNewline", "correct horse battery", "correct horse battery"},
		{"OnlyFirstLine", "correct horse battery\nsecond line\n", "correct horse battery"},
		{"Longest", strings.Repeat("p", passhash.MaxSecretLen) + "\n", strings.Repeat("p", passhash.MaxSecretLen)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			withStdin(t, tt.input)
			code, stdout, stderr := runCLI(t, "passwd")
			if code != 0 {
				t.Fatalf("code=%d stderr=%s", code, stderr)
			}
			hash, ok := strings.CutSuffix(stdout, "\n")
			if !ok || strings.Contains(hash, "\n") || !strings.HasPrefix(hash, "$argon2id$") {
				t.Fatalf("stdout=%q, want one argon2id hash line", stdout)
			}
			if ok, err := passhash.Check(hash, tt.pw); err != nil || !ok {
				t.Fatalf("Check(hash, password)=%t, %v", ok, err)
			}
			if ok, _ := passhash.Check(hash, tt.pw+"x"); ok {
				t.Fatal("the hash matches another password")
			}
			if strings.Contains(stdout+stderr, tt.pw) {
				t.Fatalf("the password is printed: stdout=%q stderr=%q", stdout, stderr)
			}
		})
	}
}

// Ensure an empty or too long password is refused with a clear message,
// nothing on stdout and the password nowhere.
func TestPasswd_Refused(t *testing.T) {
	long := strings.Repeat("q", passhash.MaxSecretLen+1)
	for _, tt := range []struct{ name, input, want string }{
		{"Empty", "", "parkd: passwd: the password is empty\n"},
		{"EmptyLine", "\n", "parkd: passwd: the password is empty\n"},
		{"TooLong", long + "\n", "parkd: passwd: the password is longer than 128 bytes\n"},
		{"TooLongNoNewline", long, "parkd: passwd: the password is longer than 128 bytes\n"},
		{"FarTooLong", strings.Repeat("q", 10000), "parkd: passwd: the password is longer than 128 bytes\n"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			withStdin(t, tt.input)
			code, stdout, stderr := runCLI(t, "passwd")
			if code != 1 || stdout != "" || stderr != tt.want {
				t.Fatalf("code=%d stdout=%q stderr=%q, want 1, nothing, %q", code, stdout, stderr, tt.want)
			}
		})
	}
}

// Ensure the terminal dialogue refuses an empty password before asking
// again, and a confirmation that differs, without naming either.
func TestPasswd_AskTwice(t *testing.T) {
	for _, tt := range []struct {
		name    string
		answers []string
		want    string // the error, or "" for the password "s3cret"
	}{
		{"Match", []string{"s3cret", "s3cret"}, ""},
		{"Differ", []string{"s3cret", "s3cret!"}, "the two passwords differ; nothing printed"},
		{"Empty", []string{""}, "the password is empty"},
		{"TooLong", []string{strings.Repeat("x", passhash.MaxSecretLen+1)}, "the password is longer than 128 bytes"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var prompts []string
			pw, err := askTwice(func(prompt string) (string, error) {
				prompts = append(prompts, prompt)
				if len(prompts) > len(tt.answers) {
					return "", errors.New("asked once too often")
				}
				return tt.answers[len(prompts)-1], nil
			})
			switch {
			case tt.want == "" && (err != nil || pw != "s3cret"):
				t.Fatalf("askTwice=%q, %v", pw, err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("askTwice error %v, want %q", err, tt.want)
			}
			if len(prompts) != len(tt.answers) {
				t.Fatalf("asked %q for answers %q", prompts, tt.answers)
			}
		})
	}
}

// Ensure --token prints a fresh 32-byte base64url token and its hash, the
// token only on stdout with a note on stderr that it is shown once.
func TestPasswd_Token(t *testing.T) {
	withStdin(t, "ignored\n")
	seen := map[string]bool{}
	for range 2 {
		code, stdout, stderr := runCLI(t, "passwd", "--token")
		if code != 0 {
			t.Fatalf("code=%d stderr=%s", code, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if len(lines) != 2 {
			t.Fatalf("stdout=%q, want the token and the hash", stdout)
		}
		tok, hash := lines[0], lines[1]
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(b) != 32 {
			t.Fatalf("token %q: %d bytes, %v; want 32 bytes of base64url", tok, len(b), err)
		}
		if ok, err := passhash.Check(hash, tok); err != nil || !ok || !passhash.Valid(hash) {
			t.Fatalf("Check(hash, token)=%t, %v", ok, err)
		}
		if !strings.Contains(stderr, "shown only this once") || strings.Contains(stderr, tok) {
			t.Fatalf("stderr=%q, want the note and not the token", stderr)
		}
		if seen[tok] {
			t.Fatal("the same token twice")
		}
		seen[tok] = true
	}
}

// Ensure passwd has its help, is listed in parkd help, and takes no
// argument (a password on the command line would land in the shell's
// history).
func TestPasswd_Usage(t *testing.T) {
	code, stdout, stderr := runCLI(t, "passwd", "--help")
	if code != 0 || !strings.Contains(stderr, "Usage: parkd passwd [flags]") || !strings.Contains(stderr, "-token") {
		t.Fatalf("--help: code=%d stdout=%q stderr=%q", code, stdout, stderr)
	}
	if code, stdout, _ := runCLI(t, "help"); code != 0 || !strings.Contains(stdout, "  passwd ") {
		t.Fatalf("help: code=%d, passwd not listed:\n%s", code, stdout)
	}
	code, stdout, stderr = runCLI(t, "passwd", "hunter2")
	if code != 2 || stdout != "" || !strings.Contains(stderr, "takes no arguments") || strings.Contains(stderr, "hunter2") {
		t.Fatalf("passwd hunter2: code=%d stdout=%q stderr=%q", code, stdout, stderr)
	}
}

// Ensure check says whether serve will serve the board, and warns about a
// world-readable file holding hashes even with the default ESL password.
func TestCheck_Board(t *testing.T) {
	hash, err := passhash.Hash("pw")
	if err != nil {
		t.Fatal(err)
	}
	user := fmt.Sprintf("[[http.user]]\nname = \"ann\"\npassword_hash = %q\nrole = \"agent\"\n", hash)
	for _, tt := range []struct {
		name, data string
		mode       os.FileMode
		out, warn  string // in stdout; in stderr, or "" for no warning
	}{
		{"Default", "", 0o644, "board: off until an [[http.user]] or [[http.token]] is configured", ""},
		{"Off", "[http]\nlisten = \"\"\n" + user, 0o600, "board: off (http.listen is empty)", ""},
		{"User", user, 0o600, "board: http://127.0.0.1:8085 with 1 user(s) and 0 token(s)", ""},
		{"Readable", user, 0o644, "board: http://", "holds the board's password and token hashes and every user can read it"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "parkd.toml")
			data := fmt.Sprintf("[store]\npath = %q\n", filepath.Join(dir, "parkd.db")) + tt.data
			if err := os.WriteFile(file, []byte(data), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(file, tt.mode); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runCLI(t, "check", "-c", file)
			if code != 0 || !strings.Contains(out, tt.out) || (tt.warn == "") != !strings.Contains(errOut, "warning") || !strings.Contains(errOut, tt.warn) {
				t.Fatalf("code=%d\nstdout: %s\nstderr: %s\nwant %q and warning %q", code, out, errOut, tt.out, tt.warn)
			}
			if strings.Contains(out+errOut, hash) {
				t.Fatal("check prints a hash")
			}
		})
	}
}
