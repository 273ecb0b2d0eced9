package conf_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/parkd/parkd/conf"
)

const nodesTOML = `
[esl]
freeswitch = "10.0.0.11:8021"
node = "a"

[store]
driver = "postgres"
dsn = "host=db1 dbname=parkd"

[[lot]]
name = "main"
slots = "701-720"

[[node]]
name = "a"
esl = "10.0.0.11:8021"
sip = "10.0.0.11:5060"

[[node]]
name = "b"
esl = "10.0.0.12:8021"
sip = "fs-b.example.com"
profile = "external"
`

// Ensure [[node]] and [esl] node parse, the profile defaults, Self finds
// the node served, and a change of either needs a restart.
func TestNodes_Parse(t *testing.T) {
	c, err := conf.Parse([]byte(nodesTOML), "parkd.toml")
	if err != nil {
		t.Fatal(err)
	}
	want := []conf.Node{
		{Name: "a", ESL: "10.0.0.11:8021", SIP: "10.0.0.11:5060", Profile: "internal"},
		{Name: "b", ESL: "10.0.0.12:8021", SIP: "fs-b.example.com", Profile: "external"},
	}
	if !reflect.DeepEqual(c.Nodes, want) {
		t.Fatalf("nodes %+v, want %+v", c.Nodes, want)
	}
	if self, ok := c.Self(); !ok || self.Name != "a" {
		t.Fatalf("Self = %+v, %v", self, ok)
	}
	next := c
	next.Nodes = append([]conf.Node(nil), c.Nodes...)
	next.Nodes[1].SIP = "10.0.0.13"
	if got := conf.NeedsRestart(c, next); !reflect.DeepEqual(got, []string{"node"}) {
		t.Fatalf("NeedsRestart = %q", got)
	}
}

// Ensure bad node settings are refused with the key named.
func TestNodes_Invalid(t *testing.T) {
	for _, tc := range []struct{ from, to, want string }{
		{`node = "a"`, `node = "c"`, `esl.node: "c": no [[node]] has this name`},
		{`node = "a"`, ``, `esl.node: must name the [[node]] this parkd serves`},
		{`freeswitch = "10.0.0.11:8021"`, `freeswitch = "10.0.0.12:8021"`, `esl.freeswitch: "10.0.0.12:8021": must be node "a"'s esl`},
		{`driver = "postgres"`, `driver = "sqlite"`, `nodes share their lots through PostgreSQL`},
		{`name = "b"`, `name = "a"`, `two nodes have this name`},
		{`name = "b"`, `name = "B;x"`, `node[1].name`},
		{`sip = "fs-b.example.com"`, `sip = "fs-b;transport=tcp"`, `node[1].sip`},
		{`sip = "fs-b.example.com"`, "sip = \"x\\ny\"", `node[1].sip`},
		{`profile = "external"`, `profile = "ext ernal"`, `node[1].profile`},
	} {
		text := strings.Replace(nodesTOML, tc.from, tc.to, 1)
		if tc.from == `driver = "postgres"` {
			text = strings.Replace(text, `dsn = "host=db1 dbname=parkd"`, ``, 1)
		}
		_, err := conf.Parse([]byte(text), "parkd.toml")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s → %s: %v, want %q", tc.from, tc.to, err, tc.want)
		}
	}
}
