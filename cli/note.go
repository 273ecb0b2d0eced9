package cli

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/parkd/parkd/store"
)

// runNote attaches a note to the call parked in a slot. It writes to the
// database directly, alongside the running daemon: store.OpenExisting never
// creates or migrates the file, SQLite (WAL, busy timeout) serialises its
// one short transaction with the daemon's, and notes live in their own
// table, so the daemon's occupancy and history are never touched.
func runNote(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("note", "Attach a note to the call parked in a slot: parkd note [flags] LOT SLOT \"TEXT\".\n"+
		"The note shows in slots and history. 1 to 500 characters, no line breaks. With lots per\n"+
		"domain, --domain names the lot's domain.", stderr)
	dbf := addDBFlags(fs)
	dom := addDomainFlag(fs)
	if err := ParseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 3 {
		return Usagef(fs, "want LOT SLOT \"TEXT\", got %d argument(s)", fs.NArg())
	}
	lot, text := fs.Arg(0), fs.Arg(2)
	slot, err := strconv.Atoi(fs.Arg(1))
	if err != nil || slot <= 0 {
		return Usagef(fs, "slot %q is not a slot number", fs.Arg(1))
	}
	if _, err := store.CleanNote(text); err != nil {
		return Usagef(fs, "%v", err)
	}
	d, err := dbf.openExisting()
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := d.AddNote(ctx, dom.v, lot, slot, text, time.Now())
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "Noted on %s/%d (%s): %s\n", tableText(n.Lot), n.Slot, callerText(n.Caller), tableText(n.Text))
	return err
}
