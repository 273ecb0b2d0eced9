package conf_test

import (
	"strings"
	"testing"

	"github.com/parkd/parkd/conf"
)

// Ensure [blf] is off by default, each lot's keys default to park+ and the
// park code, and LotKey follows blf_lot.
func TestBLF_DefaultsAndLotKey(t *testing.T) {
	c, err := conf.Parse([]byte(`
[blf]
enabled = true
domains = ["pbx.example.com"]

[[lot]]
name = "main"

[[lot]]
name = "vip"
slots = "801-810"
park_code = "*80"
retrieve_code = "*81"
blf_prefix = "valet+"
blf_lot = "name"

[[lot]]
name = "quiet"
slots = "901-910"
park_code = "*90"
retrieve_code = "*91"
blf_lot = "off"
`), "parkd.toml")
	if err != nil {
		t.Fatal(err)
	}
	if !c.BLF.Enabled || len(c.BLF.Domains) != 1 {
		t.Fatalf("blf=%+v", c.BLF)
	}
	for i, want := range []struct{ prefix, key string }{{"park+", "*70"}, {"valet+", "vip"}, {"park+", ""}} {
		if l := c.Lots[i]; l.BLFPrefix != want.prefix || l.LotKey() != want.key {
			t.Errorf("lot %s: prefix %q key %q, want %q %q", l.Name, l.BLFPrefix, l.LotKey(), want.prefix, want.key)
		}
	}
	if d := conf.Default(); d.BLF.Enabled || d.Lots[0].BLFPrefix != conf.DefaultBLFPrefix || d.Lots[0].LotKey() != conf.DefaultParkCode {
		t.Fatalf("defaults: %+v %+v", d.BLF, d.Lots[0])
	}
}

// Ensure keys that collide are refused only with [blf] enabled, so that a
// file written before the keys existed still loads.
func TestBLF_CollisionOnlyWhenEnabled(t *testing.T) {
	file := `
[[lot]]
name = "main"
slots = "70-79"
park_code = "70"
retrieve_code = "*71"
`
	if _, err := conf.Parse([]byte(file), "parkd.toml"); err != nil {
		t.Fatalf("blf off: %v", err)
	}
	_, err := conf.Parse([]byte("[blf]\nenabled = true\n"+file), "parkd.toml")
	if err == nil || !strings.Contains(err.Error(), `lot[0].blf_lot: the lot's busy-lamp key "park+70" is also one of its slots' keys`) {
		t.Fatalf("blf on: %v", err)
	}
}
