package conf_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/conf"
)

// haFile is a valid active/standby configuration with extra appended.
const haFile = `instance = "pbx1-park"
[store]
driver = "postgres"
dsn = "host=db1 dbname=parkd user=parkd"
[ha]
enabled = true
`

// haNodes are two [[node]]; haNodeA makes the parkd node a's.
const (
	haNodes = `[[node]]
name = "a"
esl = "10.0.0.11:8021"
sip = "10.0.0.11:5060"
[[node]]
name = "b"
esl = "10.0.0.12:8021"
sip = "10.0.0.12:5060"
`
	haNodeA = "[esl]\nnode = \"a\"\nfreeswitch = \"10.0.0.11:8021\"\n"
)

// Ensure [ha] goes with [[node]]: a pair per node, its sockets its own.
func TestParse_HAWithNodes(t *testing.T) {
	data := strings.Replace(haFile, "enabled = true\n", "enabled = true\nsockets = [\"10.0.0.21:8084\", \"10.0.0.22:8084\"]\n", 1) + haNodeA + haNodes
	c, err := conf.Parse([]byte(data), "parkd.toml")
	if err != nil {
		t.Fatal(err)
	}
	if self, ok := c.Self(); !ok || self.Name != "a" || !c.HA.Enabled || len(c.HA.Sockets) != 2 {
		t.Fatalf("self=%+v ha=%+v", self, c.HA)
	}
}

// Ensure [ha] parses with its defaults and its sockets.
func TestParse_HA(t *testing.T) {
	c, err := conf.Parse([]byte(haFile+`sockets = ["10.0.0.1:8084", "10.0.0.2:8084"]`+"\n"), "parkd.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.HA.Enabled || c.HA.Renew != time.Second || c.HA.TTL != 3*time.Second ||
		!slices.Equal(c.HA.Sockets, []string{"10.0.0.1:8084", "10.0.0.2:8084"}) {
		t.Fatalf("ha=%+v", c.HA)
	}
	c, err = conf.Parse([]byte(haFile+"renew = \"500ms\"\nttl = \"2s\"\n"), "parkd.toml")
	if err != nil || c.HA.Renew != 500*time.Millisecond || c.HA.TTL != 2*time.Second {
		t.Fatalf("ha=%+v err=%v", c.HA, err)
	}
	if c, err := conf.Parse(nil, "parkd.toml"); err != nil || c.HA.Enabled {
		t.Fatalf("default ha=%+v err=%v", c.HA, err)
	}
}

// Ensure what [ha] cannot work with is refused, naming the key.
func TestParse_HAInvalid(t *testing.T) {
	for _, tt := range []struct{ name, data, want string }{
		{"SQLite", "instance = \"p\"\n[ha]\nenabled = true\n", `ha.enabled: needs store.driver = "postgres"`},
		{"DefaultInstance", strings.Replace(haFile, `instance = "pbx1-park"`, "", 1), `instance: must be set, to the same name on both parkd`},
		{"TTLShort", haFile + "ttl = \"1500ms\"\n", `ha.ttl: 1.5s: must be at least twice ha.renew (1s)`},
		{"TTLLong", haFile + "ttl = \"2m\"\n", `ha.ttl: 2m0s: must be at most 1m0s`},
		{"RenewShort", haFile + "renew = \"10ms\"\n", `ha.renew: 10ms: must be at least 100ms`},
		{"SocketNoPort", haFile + `sockets = ["10.0.0.1"]` + "\n", `ha.sockets[0]: "10.0.0.1": not host:port`},
		{"SocketInjection", haFile + `sockets = ["10.0.0.1:8084\"/><action application=\"system\" data=\"x"]` + "\n", `ha.sockets[0]: `},
		{"SocketSpace", haFile + `sockets = ["10.0.0.1:8084 async full"]` + "\n", `ha.sockets[0]: "10.0.0.1:8084 async full": must not contain spaces`},
		{"SocketTwice", haFile + `sockets = ["10.0.0.1:8084", "10.0.0.1:8084"]` + "\n", `ha.sockets[1]: "10.0.0.1:8084": listed twice`},
		// A pair of a node is still one node's: it names it, serves its
		// switch, and shares an instance name of its own.
		{"NodesNoSelf", haFile + haNodes, `esl.node: must name the [[node]] this parkd serves`},
		{"NodesOtherSwitch", haFile + "[esl]\nnode = \"a\"\nfreeswitch = \"10.0.0.12:8021\"\n" + haNodes, `esl.freeswitch: "10.0.0.12:8021": must be node "a"'s esl`},
		{"NodesDefaultInstance", strings.Replace(haFile, `instance = "pbx1-park"`, "", 1) + haNodeA + haNodes, `instance: must be set, to the same name on both parkd`},
		{"SocketsWithoutHA", `ha.sockets = ["10.0.0.1:8084"]`, `ha.sockets: is for enabled = true`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := conf.Parse([]byte(tt.data), "parkd.toml")
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			msgs := problems(t, err)
			found := false
			for _, m := range msgs {
				found = found || strings.Contains(m, tt.want)
			}
			if !found {
				t.Fatalf("problems %q, want one containing %q", msgs, tt.want)
			}
		})
	}
}

// Ensure a reload that changes [ha] says parkd must restart.
func TestNeedsRestart_HA(t *testing.T) {
	a, err := conf.Parse([]byte(haFile), "parkd.toml")
	if err != nil {
		t.Fatal(err)
	}
	b := a
	b.HA.TTL = 5 * time.Second
	if got := conf.NeedsRestart(a, b); !slices.Contains(got, "ha") {
		t.Fatalf("NeedsRestart=%v, want ha", got)
	}
}
