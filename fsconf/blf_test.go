package fsconf_test

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/parkd/parkd/fsconf"
)

// blfLots: two lots with keys, one with a prefix of its own and no lot key.
var blfLots = fsconf.Params{
	Listen: "127.0.0.1:8084",
	BLF:    true,
	Lots: []fsconf.Lot{
		{Name: "default", ParkCode: "*70", RetrieveCode: "*71", First: 701, Last: 720, BLFPrefix: "park+", LotKey: "*70"},
		{Name: "vip", ParkCode: "*80", RetrieveCode: "*81", First: 201, Last: 205, BLFPrefix: "valet.*", LotKey: ""},
	},
}

// Ensure the keys' extensions match the golden file, and none is written
// without BLF.
func TestRender_BLFGolden(t *testing.T) {
	got := mustRender(t, blfLots)
	path := filepath.Join("testdata", "blf.golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run go test ./fsconf -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Render output differs from %s (run go test ./fsconf -update if intended):\n%s", path, got)
	}
	off := blfLots
	off.BLF = false
	if out := mustRender(t, off); bytes.Contains(out, []byte("parkd_key")) || bytes.Contains(out, []byte("parkd_action=key")) {
		t.Fatalf("keys written with BLF off:\n%s", out)
	}
}

// Ensure each key extension matches exactly its lot's keys (the prefix's
// + . * taken literally) and asks parkd for the key action with the lot,
// and the slot for a slot's key.
func TestRender_BLFKeys(t *testing.T) {
	var inc include
	if err := xml.Unmarshal(mustRender(t, blfLots), &inc); err != nil {
		t.Fatal(err)
	}
	exts := map[string]extension{}
	for _, e := range inc.Extensions {
		exts[e.Name] = e
	}
	for _, tc := range []struct {
		ext     string
		match   []string
		nomatch []string
		lot     string
		slot    bool
	}{
		{"parkd_key_default", []string{"park+701", "park+720", "park+710"}, []string{"park+700", "park+721", "park+0701", "parkk701", "park+", "park+*70", "xpark+701"}, "default", true},
		{"parkd_lotkey_default", []string{"park+*70"}, []string{"park+70", "park+*701", "parkx*70", "park++70"}, "default", false},
		{"parkd_key_vip", []string{"valet.*201", "valet.*205"}, []string{"valetx*201", "valet.201", "valet.**201", "valet.*206"}, "vip", true},
	} {
		e, ok := exts[tc.ext]
		if !ok {
			t.Fatalf("no extension %s among %v", tc.ext, inc.Extensions)
		}
		if len(e.Conditions) != 3 {
			t.Fatalf("%s: %d conditions, want 3", tc.ext, len(e.Conditions))
		}
		re := regexp.MustCompile(e.Conditions[0].Expression)
		for _, d := range tc.match {
			m := re.FindStringSubmatch(d)
			if m == nil {
				t.Errorf("%s: %q does not match %s", tc.ext, d, re)
			} else if tc.slot && !strings.HasSuffix(d, m[1]) {
				t.Errorf("%s: %q captured %q", tc.ext, d, m[1])
			}
		}
		for _, d := range tc.nomatch {
			if re.MatchString(d) {
				t.Errorf("%s: %q matches %s", tc.ext, d, re)
			}
		}
		want := []action{{"set", "parkd_action=key"}, {"set", "parkd_lot=" + tc.lot}}
		if tc.slot {
			want = append(want, action{"set", "parkd_slot=$1"})
		}
		checkActions(t, tc.ext, e.Conditions[0].Actions, want...)
		if a := e.Conditions[2].Actions; len(a) < 2 || a[0] != (action{"answer", ""}) || a[1].Application != "socket" {
			t.Errorf("%s: %+v, want the answer, then the socket", tc.ext, a)
		}
	}
	if _, ok := exts["parkd_lotkey_vip"]; ok {
		t.Fatal("a lot key written for a lot without one")
	}
}

// Ensure Render refuses a prefix or lot key that could break the regex or
// the XML, with BLF on.
func TestRender_BLFInvalid(t *testing.T) {
	for _, mut := range []func(*fsconf.Params){
		func(p *fsconf.Params) { p.Lots[0].BLFPrefix = "" },
		func(p *fsconf.Params) { p.Lots[0].BLFPrefix = "park@" },
		func(p *fsconf.Params) { p.Lots[0].BLFPrefix = `park"/>` },
		func(p *fsconf.Params) { p.Lots[0].LotKey = "a b" },
	} {
		p := blfLots
		p.Lots = append([]fsconf.Lot(nil), blfLots.Lots...)
		mut(&p)
		var buf bytes.Buffer
		if err := fsconf.Render(&buf, p); err == nil || buf.Len() != 0 {
			t.Fatalf("Render(%+v): err=%v, %d bytes written", p.Lots[0], err, buf.Len())
		}
	}
}
