package fsconf_test

import (
	"bytes"
	"encoding/xml"
	"strings"
	"testing"

	"github.com/parkd/parkd/fsconf"
)

func nodeParams() fsconf.Params {
	return fsconf.Params{
		Listen: "127.0.0.1:8084",
		Lots:   []fsconf.Lot{{Name: "main", ParkCode: "*70", RetrieveCode: "*71", First: 701, Last: 720}},
		Nodes: []fsconf.Node{
			{Name: "a", SIP: "10.0.0.11:5060", Profile: "internal"},
			{Name: "b", SIP: "fs-b.example.com", Profile: "external"},
		},
		Self: "a",
	}
}

// Ensure node a's dialplan sends retrievers to b (and not to itself) with
// the token matched as 32 hex digits into the header, takes b's
// retrievers only with a well-formed token, and stays well-formed XML.
func TestRender_Nodes(t *testing.T) {
	var buf bytes.Buffer
	if err := fsconf.Render(&buf, nodeParams()); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		`<extension name="parkd_hop_b">`,
		`<condition field="destination_number" expression="^parkd_hop_b$"/>`,
		`<condition field="${parkd_hop_token}" expression="^([0-9a-f]{32})$">`,
		`<action application="bridge" data="{sip_h_X-Parkd-Token=$1}sofia/external/parkd_hop@fs-b.example.com"/>`,
		`<extension name="parkd_hop">`,
		`<condition field="${sip_h_X-Parkd-Token}" expression="^([0-9a-f]{32})$">`,
		`<action application="set" data="parkd_action=hop"/>`,
		`<anti-action application="hangup" data="CALL_REJECTED"/>`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %s in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "parkd_hop_a") {
		t.Errorf("node a's dialplan sends retrievers to itself:\n%s", out)
	}
	if err := xml.Unmarshal(buf.Bytes(), new(struct{})); err != nil {
		t.Fatalf("not XML: %v", err)
	}
	// Without nodes, nothing of it.
	p := nodeParams()
	p.Nodes, p.Self = nil, ""
	buf.Reset()
	if err := fsconf.Render(&buf, p); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "parkd_hop") {
		t.Fatalf("hop extensions without nodes:\n%s", buf.String())
	}
}

// Ensure node values that could break the dial string or the XML are
// refused.
func TestRender_NodesRefused(t *testing.T) {
	for _, mod := range []func(*fsconf.Params){
		func(p *fsconf.Params) { p.Nodes[1].SIP = `fs-b"/><action application="system" data="x` },
		func(p *fsconf.Params) { p.Nodes[1].SIP = "fs-b;transport=tcp" },
		func(p *fsconf.Params) { p.Nodes[1].SIP = "fs-b}sofia" },
		func(p *fsconf.Params) { p.Nodes[1].Name = "B" },
		func(p *fsconf.Params) { p.Nodes[1].Profile = "ext/ernal" },
		func(p *fsconf.Params) { p.Self = "c" },
	} {
		p := nodeParams()
		p.Nodes = append([]fsconf.Node(nil), p.Nodes...)
		mod(&p)
		if err := fsconf.Render(new(bytes.Buffer), p); err == nil {
			t.Errorf("%+v rendered", p)
		}
	}
}
