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

// Ensure parkd fsconf for a site whose nodes each run a pair writes, in
// each node's dialplan, that node's pair's sockets only, in order, before
// the fallback: in the park and retrieve extensions and in parkd_hop,
// which takes the retrievers the other nodes send; and parkd_hop_<other>
// for each other node.
func TestCLI_FsconfPairPerNode(t *testing.T) {
	nodes := `[[node]]
name = "a"
esl = "10.0.0.11:8021"
sip = "10.0.0.11:5060"
[[node]]
name = "b"
esl = "10.0.0.12:8021"
sip = "10.0.0.12:5060"
[[lot]]
name = "main"
slots = "201-220"
`
	for _, n := range []struct{ self, other, host, otherHost string }{
		{"a", "b", "10.0.0.2", "10.0.0.3"}, // a's pair: 10.0.0.21 and .22
		{"b", "a", "10.0.0.3", "10.0.0.2"},
	} {
		esl := map[string]string{"a": "10.0.0.11:8021", "b": "10.0.0.12:8021"}[n.self]
		cfg := writeFile(t, n.self+".toml", `instance = "pbx-`+n.self+`"
[store]
driver = "postgres"
dsn = "host=db1 dbname=parkd user=parkd"
[esl]
node = "`+n.self+`"
freeswitch = "`+esl+`"
[ha]
enabled = true
sockets = ["`+n.host+`1:8084", "`+n.host+`2:8084"]
`+nodes)
		code, out, errOut := runCLI(t, "fsconf", "-c", cfg)
		if code != 0 {
			t.Fatalf("node %s: exit %d: %s", n.self, code, errOut)
		}
		pair := func(mode string) string {
			return `<action application="socket" data="` + n.host + `1:8084` + mode + `"/>
      <action application="socket" data="` + n.host + `2:8084` + mode + `"/>
      <!--`
		}
		async, sync := strings.Count(out, pair(" async full")), strings.Count(out, pair(" full"))
		if async == 0 || sync == 0 || strings.Count(out, `application="socket"`) != 2*(async+sync) {
			t.Fatalf("node %s: want every socket action in pairs, its own pair's, before the fallback:\n%s", n.self, out)
		}
		_, hop, _ := strings.Cut(out, `<extension name="parkd_hop">`)
		if !strings.Contains(hop, pair(" async full")) && !strings.Contains(hop, pair(" full")) {
			t.Fatalf("node %s: parkd_hop does not try its pair in order:\n%s", n.self, hop)
		}
		if strings.Contains(out, n.otherHost+"1:8084") || strings.Contains(out, n.otherHost+"2:8084") || strings.Contains(out, "127.0.0.1:8084") {
			t.Fatalf("node %s: another parkd's socket in its dialplan:\n%s", n.self, out)
		}
		if !strings.Contains(out, `<extension name="parkd_hop_`+n.other+`">`) || strings.Contains(out, `<extension name="parkd_hop_`+n.self+`">`) {
			t.Fatalf("node %s: want a hop to node %s only:\n%s", n.self, n.other, out)
		}
	}
}
