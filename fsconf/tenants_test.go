package fsconf_test

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/fsconf"
)

// twoTenants are two hospitals with the same lot, slots and codes, and a
// lot without a domain.
var twoTenants = fsconf.Params{
	Listen: "127.0.0.1:8084",
	BLF:    true,
	Lots: []fsconf.Lot{
		{Name: "main", Domain: "hospital-a.example", ParkCode: "*70", RetrieveCode: "*71", First: 701, Last: 720, BLFPrefix: "park+", LotKey: "*70"},
		{Name: "main", Domain: "hospital-b.example", ParkCode: "*70", RetrieveCode: "*71", First: 701, Last: 720, BLFPrefix: "park+", LotKey: "*70"},
		{Name: "lobby", ParkCode: "*80", RetrieveCode: "*81", First: 801, Last: 805, BLFPrefix: "park+"},
		{Name: "vip", Domain: "hospital-a.example", ParkCode: "*72", RetrieveCode: "*73", First: 901, Last: 902, BLFPrefix: "park+"},
	},
}

// Ensure Split makes one include per domain, each in its own context (the
// domain's name unless told otherwise), and that each renders as its
// golden file: the domain's lots only, domain_name set when the call has
// none, before the socket.
func TestSplit_Golden(t *testing.T) {
	parts := fsconf.Split(twoTenants, map[string]string{"hospital-b.example": "hospital-b"})
	var got []string
	for _, p := range parts {
		got = append(got, p.Domain+"="+p.Context+":"+lotNames(p.Params))
	}
	want := []string{"hospital-a.example=hospital-a.example:main,vip", "hospital-b.example=hospital-b:main", "=default:lobby"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("parts %v, want %v", got, want)
	}
	for _, p := range parts {
		name := "tenant_" + p.Context
		out := mustRender(t, p.Params)
		path := filepath.Join("testdata", name+".golden")
		if *update {
			if err := os.WriteFile(path, out, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		golden, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("read golden file (run go test ./fsconf -update to create it): %v", err)
		}
		if !bytes.Equal(out, golden) {
			t.Fatalf("Render output differs from %s (run go test ./fsconf -update if intended):\n%s", path, out)
		}
		var inc include
		if err := xml.Unmarshal(out, &inc); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
		for _, ext := range inc.Extensions {
			if ext.Name == "parkd_return" {
				continue
			}
			// Every parkd extension of a domain sets domain_name, when
			// unset, before the socket hands the call to parkd.
			setAt, socketAt := -1, -1
			for i, c := range ext.Conditions {
				for _, a := range c.Actions {
					switch {
					case a.Application == "set" && a.Data == "domain_name="+p.Domain:
						setAt = i
						if c.Field != "${domain_name}" || c.Expression != "^$" || c.Break != "never" {
							t.Fatalf("%s/%s: domain condition %+v", name, ext.Name, c)
						}
					case a.Application == "socket":
						socketAt = i
					case a.Application == "set" && strings.HasPrefix(a.Data, esl.VarLot+"="):
						if l := strings.TrimPrefix(a.Data, esl.VarLot+"="); !strings.Contains(","+lotNames(p.Params)+",", ","+l+",") {
							t.Fatalf("%s: lot %s of another domain", name, l)
						}
					}
				}
			}
			if p.Domain != "" && (setAt < 0 || socketAt <= setAt) {
				t.Fatalf("%s/%s: domain_name set at condition %d, socket at %d", name, ext.Name, setAt, socketAt)
			}
			if p.Domain == "" && setAt >= 0 {
				t.Fatalf("%s/%s: a lot without a domain sets one", name, ext.Name)
			}
		}
	}
}

func lotNames(p fsconf.Params) string {
	var names []string
	for _, l := range p.Lots {
		names = append(names, l.Name)
	}
	return strings.Join(names, ",")
}

// Ensure an include mixing domains, or with a bad domain or context, is
// refused.
func TestRender_DomainRefused(t *testing.T) {
	p := twoTenants
	p.Domain = "hospital-a.example"
	if err := fsconf.Render(&bytes.Buffer{}, p); err == nil {
		t.Fatal("an include of several domains' lots rendered")
	}
	for _, q := range []fsconf.Params{
		{Listen: "127.0.0.1:8084", Domain: "A.example", Lots: []fsconf.Lot{{Name: "m", Domain: "A.example", ParkCode: "*70", RetrieveCode: "*71", First: 1, Last: 2}}},
		{Listen: "127.0.0.1:8084", Domain: "a.example", Context: `x"/><y`, Lots: []fsconf.Lot{{Name: "m", Domain: "a.example", ParkCode: "*70", RetrieveCode: "*71", First: 1, Last: 2}}},
	} {
		var buf bytes.Buffer
		if err := fsconf.Render(&buf, q); err == nil || buf.Len() != 0 {
			t.Fatalf("%+v rendered: %v", q, err)
		}
	}
}
