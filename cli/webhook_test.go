package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Ensure check lists the webhooks without their secrets or URL queries,
// and warns when every user can read the file holding the secrets.
func TestCheck_Webhooks(t *testing.T) {
	const secret = "webhook-secret-0123456789"
	dir := t.TempDir()
	file := filepath.Join(dir, "parkd.toml")
	data := fmt.Sprintf("[store]\npath = %q\n[[webhook]]\nname = \"crm\"\nurl = \"https://crm.example.com/in?token=tok-1\"\nsecret = %q\nevents = [\"parked\"]\n",
		filepath.Join(dir, "parkd.db"), secret)
	if err := os.WriteFile(file, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCLI(t, "check", "-c", file)
	if code != 0 || !strings.Contains(out, "webhook {name=crm url=https://crm.example.com/in?… secret=*** events=parked timeout=10s max_age=24h0m0s}") {
		t.Fatalf("code=%d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if !strings.Contains(errOut, "the webhooks' secrets") {
		t.Fatalf("no warning about the readable secrets: %s", errOut)
	}
	if strings.Contains(out+errOut, secret) || strings.Contains(out+errOut, "tok-1") {
		t.Fatal("check prints a secret")
	}
}
