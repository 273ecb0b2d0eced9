package conf_test

import (
	"reflect"
	"testing"

	"github.com/parkd/parkd/conf"
)

// Ensure lots of several domains may repeat names, slots and codes, and
// that within one domain they may not.
func TestValidate_Tenants(t *testing.T) {
	mk := func(domain, name, slots, park, retrieve string) conf.Lot {
		l := conf.DefaultLot()
		l.Domain, l.Name, l.Slots, l.ParkCode, l.RetrieveCode = domain, name, slots, park, retrieve
		return l
	}
	for _, tt := range []struct {
		name  string
		lots  []conf.Lot
		users []conf.HTTPUser
		blf   bool
		// blfDomains are [blf] domains.
		blfDomains []string
		want       []string
	}{
		{name: "SameLotInTwoDomains", lots: []conf.Lot{
			mk("a.example", "main", "701-720", "*70", "*71"),
			mk("b.example", "main", "701-720", "*70", "*71"),
			mk("", "main", "701-720", "*70", "*71"),
		}, blf: true},
		{name: "SameNameSameDomain", lots: []conf.Lot{
			mk("a.example", "main", "701-720", "*70", "*71"),
			mk("a.example", "main", "801-820", "*80", "*81"),
		}, want: []string{`lot[1].name: "main": duplicate lot name in domain "a.example" (also lot[0])`}},
		{name: "SameCodeSameDomain", lots: []conf.Lot{
			mk("a.example", "main", "701-720", "*70", "*71"),
			mk("a.example", "vip", "801-820", "*70", "*81"),
			mk("b.example", "vip", "801-820", "*70", "*81"),
		}, want: []string{`lot[1].park_code: "*70": same code as lot[0].park_code`}},
		{name: "PrefixCodeSameDomain", lots: []conf.Lot{
			mk("a.example", "main", "701-720", "*70", "*71"),
			mk("a.example", "vip", "801-820", "*701", "*81"),
		}, want: []string{`lot[1].park_code: "*701": starts with lot[0].park_code "*70", so the dialplan cannot tell them apart`}},
		{name: "OverlapSameDomain", lots: []conf.Lot{
			mk("a.example", "main", "701-720", "*70", "*71"),
			mk("a.example", "vip", "710-730", "*80", "*81"),
		}, want: []string{`lot[1].slots: "710-730": overlaps lot[0] "main" (701-720)`}},
		{name: "UpperCaseDomain", lots: []conf.Lot{mk("A.example", "main", "701-720", "*70", "*71")},
			want: []string{`lot[0].domain: "A.example": must be a host name in lower case: letters, digits, . and - (or "" for a lot without a tenant)`}},
		{name: "BadDomain", lots: []conf.Lot{mk("a example", "main", "701-720", "*70", "*71")},
			want: []string{`lot[0].domain: "a example": must be a host name in lower case: letters, digits, . and - (or "" for a lot without a tenant)`}},
		{name: "OverflowToAnotherDomain", lots: []conf.Lot{
			func() conf.Lot {
				l := mk("a.example", "main", "701-720", "*70", "*71")
				l.OnFull = "overflow:spill"
				return l
			}(),
			mk("b.example", "spill", "801-820", "*80", "*81"),
		}, want: []string{`lot[0].on_full: "overflow:spill": no lot named "spill" in domain "a.example"`}},
		{name: "RecallDomainDiffers", lots: []conf.Lot{
			func() conf.Lot {
				l := mk("a.example", "main", "701-720", "*70", "*71")
				l.Recall.Domain = "b.example"
				return l
			}(),
		}, want: []string{`lot[0].recall.domain: "b.example": a lot of domain "a.example" recalls in it: leave recall.domain out or repeat the lot's domain`}},
		{name: "KeysOfALotWithoutDomainInATenantsDomain", lots: []conf.Lot{
			mk("a.example", "main", "701-720", "*70", "*71"),
			mk("", "lobby", "710-730", "*80", "*81"),
		}, blf: true, blfDomains: []string{"a.example"},
			want: []string{`lot[1].blf_prefix: busy-lamp key "park+710" is also lot[0] "main"'s`}},
		{name: "KeysOfALotWithoutDomainElsewhere", lots: []conf.Lot{
			mk("a.example", "main", "701-720", "*70", "*71"),
			mk("", "lobby", "710-730", "*80", "*81"),
		}, blf: true, blfDomains: []string{"pbx.example"}},
		{name: "UserDomains", lots: []conf.Lot{
			mk("a.example", "main", "701-720", "*70", "*71"),
		}, users: []conf.HTTPUser{{Name: "ann", PasswordHash: "$2a$10$abcdefghijklmnopqrstuuJ1MW7JgqFfOuQfKL0c5cPsFDvh1N1Dq", Role: conf.RoleAgent, Domains: []string{"a.example", "c.example"}}},
			want: []string{`http.user[0].domains[1]: "c.example": no lot of that domain`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := conf.Default()
			c.Lots = tt.lots
			c.BLF.Enabled, c.BLF.Domains = tt.blf, tt.blfDomains
			if tt.users != nil {
				c.HTTP.Listen = "127.0.0.1:8085"
				c.HTTP.Users = tt.users
			}
			var got []string
			if err := c.Validate(); err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					got = append(got, e.Error())
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Validate=%q, want %q", got, tt.want)
			}
		})
	}
}

// Ensure a lot's domain is read from the file.
func TestParse_LotDomain(t *testing.T) {
	c, err := conf.Parse([]byte("[[lot]]\ndomain = \"hospital-a.example\"\n[[lot]]\ndomain = \"hospital-b.example\"\n"), "parkd.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Lots[0].Domain != "hospital-a.example" || c.Lots[1].Domain != "hospital-b.example" || c.Lots[1].Name != "default" {
		t.Fatalf("lots=%+v", c.Lots)
	}
}
