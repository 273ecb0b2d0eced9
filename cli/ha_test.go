package cli

import (
	"strings"
	"testing"

	"github.com/parkd/parkd/internal/passhash"
)

// Ensure parkd fsconf on a pair's configuration writes one socket action
// per parkd of [ha] sockets, in order, before the fallback, in the park
// and retrieve extensions and in the outside pick-up's.
func TestCLI_FsconfPair(t *testing.T) {
	hash, err := passhash.Hash("2468")
	if err != nil {
		t.Fatal(err)
	}
	cfg := writeFile(t, "pair.toml", `instance = "pbx1-park"
[store]
driver = "postgres"
dsn = "host=db1 dbname=parkd user=parkd"
[ha]
enabled = true
sockets = ["10.0.0.11:8084", "10.0.0.12:8084"]
[[lot]]
name = "main"
slots = "201-220"
[lot.outside]
number = "+15550199"
pin_hash = "`+hash+`"
`)
	// Park and retrieve run the socket application without async
	// (docs/freeswitch.md#sync-socket-acts-at-once), the keys and the
	// outside pick-up with it: either way, in pairs.
	pairs := []string{`<action application="socket" data="10.0.0.11:8084 async full"/>
      <action application="socket" data="10.0.0.12:8084 async full"/>
      <!--`, `<action application="socket" data="10.0.0.11:8084 full"/>
      <action application="socket" data="10.0.0.12:8084 full"/>
      <!--`}
	for _, args := range [][]string{{"fsconf", "-c", cfg}, {"fsconf", "-c", cfg, "-outside", "public"}} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		async, sync := strings.Count(out, pairs[0]), strings.Count(out, pairs[1])
		if async+sync == 0 || strings.Count(out, `application="socket"`) != 2*(async+sync) {
			t.Fatalf("%v: want every socket action in pairs, a then b, before the fallback:\n%s", args, out)
		}
		if strings.Contains(out, "127.0.0.1:8084") {
			t.Fatalf("%v: the default listen address is tried too:\n%s", args, out)
		}
	}
}
