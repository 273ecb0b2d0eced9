package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/fsconf"
	"github.com/parkd/parkd/store"
)

// LoadConfig reads the configuration file at path, or returns the built-in
// defaults when path is "" (for programs that run on them, such as the
// demo). parkd's own commands find their file with conf.Locate instead.
func LoadConfig(path string) (conf.Config, error) {
	if path == "" {
		c := conf.Default()
		return c, c.Validate()
	}
	return conf.Load(path)
}

// locateConfig loads the configuration a command runs with: -c FILE, else
// $PARKD_CONFIG, else conf.DefaultPath; with --defaults (serve, check,
// fsconf) the built-in defaults instead, reading no file. It returns the
// file read ("" for the defaults). When no -c was given and there is no
// file, the error says where it looked and, as orElse, how to do without
// one.
func locateConfig(fs *flag.FlagSet, path string, defaults bool, orElse string) (conf.Config, string, error) {
	if defaults {
		if path != "" {
			return conf.Config{}, "", Usagef(fs, "-c and --defaults exclude each other")
		}
		c := conf.Default()
		return c, "", c.Validate()
	}
	file, err := conf.Locate(path, os.Getenv)
	if errors.Is(err, conf.ErrNoConfig) && path == "" {
		return conf.Config{}, "", fmt.Errorf("%s: %w; %s", fs.Name(), err, orElse)
	}
	if err != nil {
		return conf.Config{}, "", err
	}
	c, err := conf.Load(file)
	return c, file, err
}

// addConfigFlag declares -c, the configuration file of serve, check and
// fsconf, with the same default locateConfig searches.
func addConfigFlag(fs *flag.FlagSet) *string {
	return fs.String("c", "", "configuration `FILE` (default: $"+conf.EnvPath+", else "+conf.DefaultPath+")")
}

// addDefaultsFlag declares --defaults, for the commands that can run
// without a configuration file.
func addDefaultsFlag(fs *flag.FlagSet) *bool {
	return fs.Bool("defaults", false, "use the built-in defaults instead of a configuration file")
}

// serveConfig is the configuration serve runs with, and reload reads it
// again from the same source (the file found at start, or the defaults)
// for a live reload. serve never falls back to the built-in defaults by
// itself: a daemon that found no file would attach to whatever FreeSWITCH
// listens on 127.0.0.1:8021 with the default password; --defaults says
// that is meant.
func serveConfig(fs *flag.FlagSet, path string, defaults bool) (c conf.Config, reload func() (conf.Config, error), err error) {
	c, file, err := locateConfig(fs, path, defaults,
		"give one with -c FILE or "+conf.EnvPath+", or run on the built-in defaults with --defaults")
	if err != nil {
		return c, nil, err
	}
	return c, func() (conf.Config, error) { return LoadConfig(file) }, nil
}

// fsconfParams maps the configuration into the dialplan renderer's input.
func fsconfParams(c conf.Config) fsconf.Params {
	p := fsconf.Params{Listen: c.ESL.Listen, BLF: c.BLF.Enabled}
	for _, l := range c.Lots {
		p.Lots = append(p.Lots, fsconf.Lot{
			Name: l.Name, ParkCode: l.ParkCode, RetrieveCode: l.RetrieveCode, First: l.First, Last: l.Last,
			BLFPrefix: l.BLFPrefix, LotKey: l.LotKey(),
		})
	}
	return p
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("check", "Check the configuration serve would run with, and its store as serve will open it:\n"+
		"the store's directory exists and is writable, and an existing file there is an intact parkd\n"+
		"database of a version this parkd knows. Prints the absolute store path; warns when the file\n"+
		"holding the ESL password is readable by every user. Changes nothing.", stderr)
	path := addConfigFlag(fs)
	defaults := addDefaultsFlag(fs)
	if err := Parse(fs, args); err != nil {
		return err
	}
	c, file, err := locateConfig(fs, *path, *defaults, "give one with -c FILE, or check the built-in defaults with --defaults")
	if err != nil {
		return err
	}
	name := file
	if file == "" {
		name = "built-in defaults"
	} else if err := warnReadable(file, c, stderr); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s: OK: %d lot(s), listening on %s, FreeSWITCH at %s\n",
		name, len(c.Lots), c.ESL.Listen, c.ESL.FreeSWITCH)
	db, err := filepath.Abs(c.Store.Path)
	if err != nil {
		return err
	}
	if err := store.CheckOpen(db); err != nil {
		return err
	}
	if _, err := fmt.Fprintf(stdout, "store %s: OK\n", db); err != nil {
		return err
	}
	if _, err := fmt.Fprintln(stdout, boardLine(c.HTTP)); err != nil {
		return err
	}
	for _, l := range c.Lots {
		if o := l.Outside; o.Enabled() {
			ask := "slot and PIN"
			if !o.Slot {
				ask = "PIN only, longest-waiting call"
			}
			lk := o.Lockout
			if _, err := fmt.Fprintf(stdout, "lot %s: outside pick-up on %s in context %s (%s); %d wrong PINs end a call, "+
				"%d in %s lock a number out for %s, %d in %s lock the lot for %s\n", l.Name, o.Number, o.Context, ask,
				lk.Tries, lk.NumberFailures, lk.NumberWindow, lk.NumberLock, lk.LotFailures, lk.LotWindow, lk.LotLock); err != nil {
				return err
			}
		}
	}
	for _, w := range c.Webhooks {
		// String redacts the secret and the URL's query.
		if _, err := fmt.Fprintf(stdout, "webhook %s\n", w); err != nil {
			return err
		}
	}
	if c.BLF.Enabled {
		checkSwitchForLamps(c, stdout, stderr)
	}
	return nil
}

// checkSwitchForLamps asks a running switch what would spoil the busy
// lamps (mod_valet_parking answering park+ probes itself) and warns on
// stderr. A switch that cannot be reached is said, not an error: check
// is often run before FreeSWITCH is up.
func checkSwitchForLamps(c conf.Config, stdout, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	f, err := esl.InspectSwitch(ctx, c.ESL.FreeSWITCH, c.ESL.Password, 2*time.Second)
	if err != nil {
		fmt.Fprintf(stdout, "FreeSWITCH at %s: not checked (%v)\n", c.ESL.FreeSWITCH, err)
		return
	}
	if f.ValetLoaded {
		fmt.Fprintf(stderr, "warning: FreeSWITCH at %s: %s\n", c.ESL.FreeSWITCH, esl.ValetWarning)
		return
	}
	fmt.Fprintf(stdout, "FreeSWITCH at %s: OK: mod_valet_parking is not loaded\n", c.ESL.FreeSWITCH)
}

// warnReadable warns on stderr when file, which holds the ESL password
// (one other than FreeSWITCH's well-known default), can be read by every
// user of the host.
func warnReadable(file string, c conf.Config, stderr io.Writer) error {
	fi, err := os.Stat(file)
	if err != nil {
		return err
	}
	var what []string
	if c.ESL.Password != conf.DefaultPassword {
		what = append(what, "the ESL password")
	}
	if len(c.Webhooks) > 0 {
		what = append(what, "the webhooks' secrets")
	}
	if len(c.HTTP.Users) > 0 || len(c.HTTP.Tokens) > 0 {
		// Hashes can be guessed at offline, at leisure.
		what = append(what, "the board's password and token hashes")
	}
	if mode := fi.Mode().Perm(); mode&0o004 != 0 && len(what) > 0 {
		fmt.Fprintf(stderr, "parkd: warning: %s holds %s and every user can read it (mode %04o); "+
			"chmod o-r it (owner root, group parkd, mode 0640)\n", file, strings.Join(what, " and "), mode)
	}
	return nil
}

func runFSConf(args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("fsconf", "Print the FreeSWITCH dialplan include (conf/dialplan/default/00_parkd.xml).\n"+
		"With --outside CONTEXT, print instead the include of the lots' outside numbers in that\n"+
		"context (conf/dialplan/CONTEXT/00_parkd_outside.xml; public on a stock FreeSWITCH).", stderr)
	outside := fs.String("outside", "", "print the outside pick-up include for this dialplan context")
	path := addConfigFlag(fs)
	defaults := addDefaultsFlag(fs)
	if err := Parse(fs, args); err != nil {
		return err
	}
	c, _, err := locateConfig(fs, *path, *defaults, "give one with -c FILE, or print the built-in defaults' with --defaults")
	if err != nil {
		return err
	}
	if *outside != "" {
		var lots []fsconf.Outside
		for _, l := range c.Lots {
			if l.Outside.Enabled() {
				lots = append(lots, fsconf.Outside{Lot: l.Name, Number: l.Outside.Number, Context: l.Outside.Context})
			}
		}
		return fsconf.RenderOutside(stdout, c.ESL.Listen, *outside, lots)
	}
	return fsconf.Render(stdout, fsconfParams(c))
}

// boardLine says whether and where serve will serve the board, and why
// not when it will not.
func boardLine(h conf.HTTP) string {
	switch {
	case h.Listen == "":
		return "board: off (http.listen is empty)"
	case !h.Enabled():
		return "board: off until an [[http.user]] or [[http.token]] is configured (see parkd passwd)"
	}
	scheme := "http"
	if h.TLSCert != "" {
		scheme = "https"
	}
	return fmt.Sprintf("board: %s://%s with %d user(s) and %d token(s)", scheme, h.Listen, len(h.Users), len(h.Tokens))
}
