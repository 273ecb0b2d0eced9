package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

const tenantsConf = `
[[lot]]
name = "main"
domain = "hospital-a.example"
slots = "701-720"

[[lot]]
name = "main"
domain = "hospital-b.example"
slots = "701-720"
`

// Ensure check accepts one lot name, slots and codes in two domains and
// refuses them twice in one; fsconf renders each domain's lots in its own
// context, one with --domain or all with --out.
func TestCLI_TenantsConfig(t *testing.T) {
	good := writeFile(t, "good.toml", tenantsConf)
	dup := writeFile(t, "dup.toml", tenantsConf+"\n[[lot]]\nname = \"main\"\ndomain = \"hospital-b.example\"\nslots = \"801-820\"\npark_code = \"*80\"\nretrieve_code = \"*81\"\n")
	codes := writeFile(t, "codes.toml", tenantsConf+"\n[[lot]]\nname = \"vip\"\ndomain = \"hospital-b.example\"\nslots = \"801-820\"\n")
	for _, tc := range []struct {
		args []string
		code int
		out  string
	}{
		{[]string{"check", "-c", good}, 0, "OK: 2 lot(s)"},
		{[]string{"check", "-c", dup}, 1, `lot[2].name: "main": duplicate lot name in domain "hospital-b.example" (also lot[1])`},
		{[]string{"check", "-c", codes}, 1, `lot[2].park_code: "*70": same code as lot[1].park_code`},
		{[]string{"fsconf", "-c", good}, 2, "give --domain or --out DIR"},
		{[]string{"fsconf", "-c", good, "--domain", "hospital-c.example"}, 2, "no lot of that domain"},
		{[]string{"fsconf", "-c", good, "--context", "hospital-c.example=c"}, 2, "no lot of domain"},
		{[]string{"fsconf", "-c", good, "--domain", "hospital-b.example"}, 0, `context "hospital-b.example"`},
		{[]string{"fsconf", "-c", good, "--domain", "hospital-b.example", "--context", "hospital-b.example=hb"}, 0, `context "hb"`},
	} {
		t.Run(strings.Join(tc.args[:1], " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(out+errOut, tc.out) {
				t.Fatalf("%q: exit %d, want %d with %q:\n%s%s", tc.args, code, tc.code, tc.out, out, errOut)
			}
		})
	}
	code, out, _ := runCLI(t, "fsconf", "-c", good, "--domain", "hospital-a.example")
	if code != 0 || !strings.Contains(out, `data="domain_name=hospital-a.example"`) || strings.Contains(out, "hospital-b") {
		t.Fatalf("hospital-a's include:\n%s", out)
	}
	dir := t.TempDir()
	if code, out, errOut := runCLI(t, "fsconf", "-c", good, "--out", dir, "--context", "hospital-b.example=hb"); code != 0 {
		t.Fatalf("--out: exit %d\n%s%s", code, out, errOut)
	}
	for _, f := range []string{"hospital-a.example/00_parkd.xml", "hb/00_parkd.xml"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || !strings.Contains(string(b), "parkd_park_main") {
			t.Fatalf("%s: %v\n%s", f, err, b)
		}
	}
}

// tenantsDB has the same slot of lot main parked in two domains, and
// hospital-b's call retrieved.
func tenantsDB(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "p.db")
	db := store.NewDB(path)
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).UTC()
	for _, c := range []struct{ call, domain, name string }{{"ca", "hospital-a.example", "Ann A"}, {"cb", "hospital-b.example", "Bob B"}} {
		caller := parking.Caller{Name: c.name, Number: "555"}
		occ := parking.Occupant{Lot: "main", Domain: c.domain, Slot: 702, Call: parking.CallID(c.call), Caller: caller,
			Parker: "1000", ParkedAt: at, Deadline: at.Add(2 * time.Minute)}
		if err := db.Record(context.Background(), parking.Transition{At: at, Event: parking.EventParked, Lot: "main", Domain: c.domain,
			Slot: 702, Call: occ.Call, Caller: caller, Parker: "1000", Occupancy: &occ}); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Record(context.Background(), parking.Transition{At: at.Add(10 * time.Second), Event: parking.EventRetrieved,
		Lot: "main", Domain: "hospital-b.example", Slot: 702, Call: "cb", Caller: parking.Caller{Name: "Bob B", Number: "555"},
		Parker: "1000", Retriever: "2002", Wait: 10 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Ensure slots, history, report, export and note keep to the domain asked
// for, and report groups by domain.
func TestCLI_TenantFilters(t *testing.T) {
	path := tenantsDB(t)
	for _, tc := range []struct {
		args     []string
		has, not []string
	}{
		{[]string{"slots", "--domain", "hospital-a.example"}, []string{"DOMAIN", "hospital-a.example", "Ann A"}, []string{"Bob B"}},
		{[]string{"slots", "--domain", "hospital-b.example"}, []string{"No calls parked."}, []string{"Ann A"}},
		{[]string{"slots", "--json", "--domain", "hospital-a.example"}, []string{`"domain":"hospital-a.example"`}, []string{"Bob B"}},
		{[]string{"history", "--domain", "hospital-b.example"}, []string{"retrieved", "Bob B", "hospital-b.example"}, []string{"Ann A"}},
		{[]string{"history", "--domain", ""}, []string{"No history yet."}, []string{"Ann A", "Bob B"}},
		{[]string{"history", "--json", "--domain", "hospital-a.example"}, []string{`"domain":"hospital-a.example"`}, []string{"Bob B"}},
		{[]string{"export", "--domain", "hospital-a.example"}, []string{",note,domain\n", ",hospital-a.example\n"}, []string{"Bob B"}},
		{[]string{"report", "--by", "domain"}, []string{"DOMAIN", "hospital-a.example", "hospital-b.example"}, nil},
		{[]string{"report", "--by", "lot", "--domain", "hospital-b.example", "--csv"}, []string{"main,1,1,"}, []string{"main,2,"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			code, out, errOut := runCLI(t, append(tc.args, "--db", path)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errOut)
			}
			for _, s := range tc.has {
				if !strings.Contains(out, s) {
					t.Errorf("lacks %q:\n%s", s, out)
				}
			}
			for _, s := range tc.not {
				if strings.Contains(out, s) {
					t.Errorf("has %q:\n%s", s, out)
				}
			}
		})
	}
	// A note names the slot of its domain; without --domain, slot 702 of
	// lot main is no call (both calls are in a domain).
	if code, _, errOut := runCLI(t, "note", "--db", path, "main", "702", "x"); code == 0 || !strings.Contains(errOut, "empty") {
		t.Fatalf("note without --domain: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCLI(t, "note", "--db", path, "--domain", "hospital-a.example", "main", "702", "wants Dr. A")
	if code != 0 || !strings.Contains(out, "Ann A") {
		t.Fatalf("note: exit %d: %s%s", code, out, errOut)
	}
}
