package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkd/parkd/internal/passhash"
)

// Ensure parkd pin prints only a hash of a 4-12 digit PIN read from stdin,
// and refuses anything else without printing what it read.
func TestPin(t *testing.T) {
	for _, tt := range []struct {
		name, input, pin string
		ok               bool
	}{
		{"Four", "4711\n", "4711", true},
		{"Twelve", "123456789012\r\n", "123456789012", true},
		{"NoNewline", "90210", "90210", true},
		{"Short", "471\n", "471", false},
		{"Long", "1234567890123\n", "1234567890123", false},
		{"Letters", "47a1\n", "47a1", false},
		{"Empty", "\n", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			withStdin(t, tt.input)
			code, stdout, stderr := runCLI(t, "pin")
			if !tt.ok {
				if code == 0 || stdout != "" {
					t.Fatalf("code=%d stdout=%q; want a refusal and nothing printed", code, stdout)
				}
				if !strings.Contains(stderr, "4 to 12 digits") {
					t.Fatalf("stderr=%q; want the rule", stderr)
				}
				if tt.pin != "" && strings.Contains(stderr, tt.pin) {
					t.Fatalf("the PIN is printed: %q", stderr)
				}
				return
			}
			if code != 0 {
				t.Fatalf("code=%d stderr=%s", code, stderr)
			}
			hash, _ := strings.CutSuffix(stdout, "\n")
			if ok, err := passhash.Check(hash, tt.pin); err != nil || !ok {
				t.Fatalf("Check(hash, pin)=%t, %v", ok, err)
			}
			if strings.Contains(stdout+stderr, tt.pin) {
				t.Fatalf("the PIN is printed: stdout=%q stderr=%q", stdout, stderr)
			}
		})
	}
	if code, _, _ := runCLI(t, "pin", "4711"); code == 0 {
		t.Fatal("a PIN on the command line is accepted")
	}
}

// Ensure parkd check warns when every user can read the file holding an
// outside pick-up PIN hash (a PIN of at most 12 digits falls to an offline
// search of its hash), names the lot's outside number, and never prints
// the hash.
func TestCheck_OutsidePINHashReadable(t *testing.T) {
	hash, err := passhash.Hash("2468")
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		mode os.FileMode
		warn bool
	}{{"Private", 0o640, false}, {"Readable", 0o644, true}} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "parkd.toml")
			data := fmt.Sprintf("[store]\npath = %q\n[[lot]]\nname = \"main\"\n[lot.outside]\nnumber = \"+15550199\"\npin_hash = %q\n",
				filepath.Join(dir, "parkd.db"), hash)
			if err := os.WriteFile(file, []byte(data), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(file, tt.mode); err != nil { // whatever the umask
				t.Fatal(err)
			}
			code, out, errOut := runCLI(t, "check", "-c", file)
			if code != 0 || !strings.Contains(out, "lot main: outside pick-up on +15550199 in context public") {
				t.Fatalf("code=%d\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			want := "holds the outside pick-up PIN hashes and every user can read it (mode 0644)"
			if got := strings.Contains(errOut, want); got != tt.warn {
				t.Fatalf("warning %t, want %t; stderr: %s", got, tt.warn, errOut)
			}
			if strings.Contains(out+errOut, hash) {
				t.Fatal("the hash is printed")
			}
		})
	}
}

// Ensure parkd check tells apart two tenants' lots of one name reached
// from outside: each line names the lot's domain.
func TestCheck_OutsideTenants(t *testing.T) {
	hash, err := passhash.Hash("2468")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "parkd.toml")
	var b strings.Builder
	fmt.Fprintf(&b, "[store]\npath = %q\n", filepath.Join(dir, "parkd.db"))
	for i, d := range []string{"a.example", "b.example"} {
		fmt.Fprintf(&b, "[[lot]]\nname = \"main\"\ndomain = %q\n[lot.outside]\nnumber = \"+1555010%d\"\npin_hash = %q\n", d, i+1, hash)
	}
	if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "check", "-c", file)
	for _, want := range []string{"lot main (a.example): outside pick-up on +15550101", "lot main (b.example): outside pick-up on +15550102"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("no %q; code=%d\nstdout: %s\nstderr: %s", want, code, out, errOut)
		}
	}
}
