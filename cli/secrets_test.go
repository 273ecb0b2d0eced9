package cli

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/internal/testkit"
)

// Ensure the CLI never prints the password: parkd check on broken configs
// (a bad value next to the password, a syntax error on its line, a
// password of the wrong type or with a control character), and parkd serve
// logging at debug level while FreeSWITCH is unreachable.
func TestSecrets_CLI(t *testing.T) {
	base := fmt.Sprintf("[esl]\npassword = %q\n", testkit.SecretPassword)
	for _, tc := range []struct {
		name, config string
	}{
		{"BadValueNextToIt", base + "freeswitch = \"nope\"\ncommand_timeout = \"-1s\"\n"},
		{"UnknownKeyNextToIt", base + "pasword = \"x\"\n"},
		{"SyntaxErrorOnItsLine", "[esl]\npassword = \"" + testkit.SecretPassword + "\n"},
		{"SyntaxErrorAfterIt", base + "listen = = \"x\"\n"},
		{"UnterminatedMultiline", "[esl]\npassword = \"\"\"" + testkit.SecretPassword + "\nlisten = \"x\"\n\n"},
		{"BadEscape", "[esl]\npassword = \"" + testkit.SecretPassword + "\\q\"\n"},
		{"JunkAfterIt", "[esl]\npassword = \"" + testkit.SecretPassword + "\" x\n"},
		{"WrongType", fmt.Sprintf("[esl]\npassword = [%q]\n", testkit.SecretPassword)},
		{"InlineTable", fmt.Sprintf("esl = { password = %q, listen = 5 }\n", testkit.SecretPassword)},
		{"ControlCharacter", fmt.Sprintf("[esl]\npassword = \"%s\\u0007\"\n", testkit.SecretPassword)},
		{"DuplicateKey", base + fmt.Sprintf("password = %q\n", testkit.SecretPassword)},
		{"Valid", base},
	} {
		t.Run("check/"+tc.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, "check", "-c", writeFile(t, "pw.toml", tc.config))
			if got := testkit.SecretLeaks(out + errOut); len(got) != 0 {
				t.Fatalf("exit %d printed the password:\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if tc.name != "Valid" && code != 1 {
				t.Fatalf("exit %d, want 1 for a broken config\nstdout: %s\nstderr: %s", code, out, errOut)
			}
			if tc.name == "Valid" && code != 0 {
				t.Fatalf("exit %d, want 0\nstdout: %s\nstderr: %s", code, out, errOut)
			}
		})
	}

	t.Run("serve/Unreachable", func(t *testing.T) {
		addrs := testkit.FreeAddrs(t, 2)
		config := base + fmt.Sprintf("listen = %q\nfreeswitch = %q\ncommand_timeout = \"200ms\"\n[store]\npath = %q\n[log]\nlevel = \"debug\"\n",
			addrs[0], addrs[1], filepath.Join(t.TempDir(), "parkd.db"))
		path := writeFile(t, "serve.toml", config)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var stdout, stderr testkit.Buffer
		done := make(chan error, 1)
		go func() { done <- Run(ctx, []string{"serve", "-c", path}, &stdout, &stderr) }()
		deadline := time.Now().Add(5 * time.Second)
		for strings.Count(stderr.String(), "cannot connect to FreeSWITCH") < 2 {
			if time.Now().After(deadline) {
				t.Fatalf("serve did not report the unreachable FreeSWITCH:\n%s", stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("serve did not stop after its context ended")
		}
		if got := testkit.SecretLeaks(stdout.String() + stderr.String()); len(got) != 0 {
			t.Fatalf("serve printed the password:\nstdout: %s\nstderr: %s", stdout.String(), stderr.String())
		}
		if !strings.Contains(stderr.String(), `"level":"debug"`) && !strings.Contains(stderr.String(), "parkd started") {
			t.Fatalf("serve logged nothing:\n%s", stderr.String())
		}
	})
}
