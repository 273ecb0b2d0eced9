package cli

import (
	"flag"
	"slices"
	"strings"
)

// domainFlag is --domain: only the lots of one domain (a tenant); given
// empty (--domain ""), only the lots without a domain. Not given: every
// domain's.
type domainFlag struct {
	set bool
	v   string
}

func (d *domainFlag) String() string { return d.v }

func (d *domainFlag) Set(s string) error {
	d.set, d.v = true, strings.ToLower(s)
	return nil
}

// domains is the store's filter: nil for every domain.
func (d *domainFlag) domains() []string {
	if !d.set {
		return nil
	}
	return []string{d.v}
}

// keeps reports whether the filter keeps a lot of domain.
func (d *domainFlag) keeps(domain string) bool {
	return !d.set || slices.Contains(d.domains(), domain)
}

// addDomainFlag defines --domain on fs.
func addDomainFlag(fs *flag.FlagSet) *domainFlag {
	d := &domainFlag{}
	fs.Var(d, "domain", "only the lots of this `DOMAIN` (a tenant; \"\" for the lots without one)")
	return d
}
