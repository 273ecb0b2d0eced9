package cli

import (
	"context"
	"fmt"
	"io"
)

// runUnlock lifts outside pick-up lockouts: of one calling number, or of
// every number and the lot itself. It writes the store directly, alongside
// the running daemon, as parkd note does; the daemon reads the lockouts
// from the store at every outside call.
func runUnlock(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("unlock", "Lift the outside pick-up lockout of a lot: parkd unlock [flags] LOT [NUMBER].\n"+
		"With NUMBER, only that calling number's lockout and wrong PINs are cleared; without,\n"+
		"every number's and the lot's own. With lots in domains (tenants), --domain names the lot's domain.", stderr)
	dbf := addDBFlags(fs)
	dom := &domainFlag{}
	fs.Var(dom, "domain", "the `DOMAIN` of the lot (a tenant); default: the lots without one")
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 1 || fs.NArg() > 2 {
		return Usagef(fs, "want LOT [NUMBER], got %d argument(s)", fs.NArg())
	}
	lot, number := fs.Arg(0), fs.Arg(1)
	d, err := dbf.openExisting()
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := d.ClearOutside(ctx, dom.v, lot, number)
	if err != nil {
		return err
	}
	who := "every number"
	if number != "" {
		who = tableText(number)
	}
	name := tableText(lot)
	if dom.v != "" {
		name += " (" + tableText(dom.v) + ")"
	}
	_, err = fmt.Fprintf(stdout, "Outside pick-up of %s: %d lockout(s) lifted for %s; wrong PINs forgotten\n", name, n, who)
	return err
}
