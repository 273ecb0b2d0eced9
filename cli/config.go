package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/daemon"
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
	p := fsconf.Params{Listen: c.ESL.Listen, BLF: c.BLF.Enabled, Self: c.ESL.Node}
	if c.HA.Enabled {
		p.Sockets = c.HA.Sockets // one socket action per parkd of the pair
	}
	for _, n := range c.Nodes {
		p.Nodes = append(p.Nodes, fsconf.Node{Name: n.Name, SIP: n.SIP, Profile: n.Profile})
	}
	for _, l := range c.Lots {
		p.Lots = append(p.Lots, fsconf.Lot{
			Name: l.Name, Domain: l.Domain, ParkCode: l.ParkCode, RetrieveCode: l.RetrieveCode, First: l.First, Last: l.Last,
			BLFPrefix: l.BLFPrefix, LotKey: l.LotKey(),
		})
	}
	return p
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("check", "Check the configuration serve would run with, and its store as serve will open it:\n"+
		"the store's directory exists and is writable, and an existing file there is an intact parkd\n"+
		"database of a version this parkd knows. Prints the absolute store path; warns when the file\n"+
		"holding the ESL password, secrets or hashes (board, PINs) is readable by every user. Changes nothing.", stderr)
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
	loc := daemon.StoreLocation(c)
	if loc.Driver == store.SQLite {
		if loc.Path, err = filepath.Abs(loc.Path); err != nil {
			return err
		}
	}
	if err := loc.Check(); err != nil {
		return err
	}
	where := loc.Path
	if loc.Driver == store.Postgres {
		where = loc.String() // the DSN without its password
	}
	if _, err := fmt.Fprintf(stdout, "store %s: OK\n", where); err != nil {
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
			name := l.Name
			if l.Domain != "" {
				// Tenants' lots may share a name.
				name += " (" + l.Domain + ")"
			}
			if _, err := fmt.Fprintf(stdout, "lot %s: outside pick-up on %s in context %s (%s); %d wrong PINs end a call, "+
				"%d in %s lock a number out for %s, %d in %s lock the lot for %s\n", name, o.Number, o.Context, ask,
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
// (one other than FreeSWITCH's well-known default), webhook secrets, the
// board's hashes or outside pick-up PIN hashes, can be read by every user
// of the host.
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
	for _, l := range c.Lots {
		if l.Outside.Enabled() {
			// A PIN has at most 12 digits: its hash falls to an offline
			// search in hours, and then the lockout protects nothing.
			what = append(what, "the outside pick-up PIN hashes")
			break
		}
	}
	if mode := fi.Mode().Perm(); mode&0o004 != 0 && len(what) > 0 {
		fmt.Fprintf(stderr, "parkd: warning: %s holds %s and every user can read it (mode %04o); "+
			"chmod o-r it (owner root, group parkd, mode 0640)\n", file, strings.Join(what, " and "), mode)
	}
	return nil
}

func runFSConf(args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("fsconf", "Print the FreeSWITCH dialplan include (conf/dialplan/default/00_parkd.xml).\n"+
		"With lots in domains (tenants), each domain's lots go in that domain's dialplan context, by\n"+
		"default the one named after the domain (FusionPBX's convention): print one domain's include\n"+
		"with --domain, or write every context's with --out DIR, as DIR/<context>/"+fsconf.FileName+".\n"+
		"With --outside CONTEXT, print instead the include of the lots' outside numbers in that\n"+
		"context (conf/dialplan/CONTEXT/00_parkd_outside.xml; public on a stock FreeSWITCH).", stderr)
	outside := fs.String("outside", "", "print the outside pick-up include for this dialplan context")
	path := addConfigFlag(fs)
	defaults := addDefaultsFlag(fs)
	dom := addDomainFlag(fs)
	contexts := contextFlag{}
	fs.Var(contexts, "context", "put the lots of a domain in another dialplan context: `DOMAIN=CONTEXT` (repeatable)")
	out := fs.String("out", "", "write each context's include to `DIR`/<context>/"+fsconf.FileName)
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
				lots = append(lots, fsconf.Outside{Lot: l.Name, Domain: l.Domain, Number: l.Outside.Number, Context: l.Outside.Context})
			}
		}
		sockets := []string{c.ESL.Listen}
		if c.HA.Enabled && len(c.HA.Sockets) > 0 {
			sockets = c.HA.Sockets
		}
		return fsconf.RenderOutsideSockets(stdout, sockets, *outside, lots)
	}
	parts := fsconf.Split(fsconfParams(c), contexts)
	for d := range contexts {
		if !slices.ContainsFunc(parts, func(p fsconf.Part) bool { return p.Domain == d }) {
			return Usagef(fs, "--context %s=...: no lot of domain %q", d, d)
		}
	}
	if *out != "" {
		return writeFSConf(*out, parts, stdout)
	}
	switch {
	case dom.set:
		i := slices.IndexFunc(parts, func(p fsconf.Part) bool { return p.Domain == dom.v })
		if i < 0 {
			return Usagef(fs, "--domain %q: no lot of that domain", dom.v)
		}
		return fsconf.Render(stdout, parts[i].Params)
	case len(parts) > 1:
		var names []string
		for _, p := range parts {
			names = append(names, strconv.Quote(p.Domain))
		}
		return Usagef(fs, "the lots are in %d domains (%s), each in its own context: give --domain or --out DIR",
			len(parts), strings.Join(names, ", "))
	}
	return fsconf.Render(stdout, parts[0].Params)
}

// writeFSConf writes each part's include as dir/<context>/00_parkd.xml,
// and says which files it wrote.
func writeFSConf(dir string, parts []fsconf.Part, stdout io.Writer) error {
	for _, p := range parts {
		var buf bytes.Buffer
		if err := fsconf.Render(&buf, p.Params); err != nil {
			return err
		}
		sub := filepath.Join(dir, p.Context)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		file := filepath.Join(sub, fsconf.FileName)
		if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
			return err
		}
		what := "the lots without a domain"
		if p.Domain != "" {
			what = "domain " + p.Domain
		}
		if _, err := fmt.Fprintf(stdout, "%s: %s, context %s\n", file, what, p.Context); err != nil {
			return err
		}
	}
	return nil
}

// contextFlag is fsconf's repeatable --context DOMAIN=CONTEXT.
type contextFlag map[string]string

func (c contextFlag) String() string {
	var out []string
	for d, ctx := range c {
		out = append(out, d+"="+ctx)
	}
	slices.Sort(out)
	return strings.Join(out, ",")
}

func (c contextFlag) Set(s string) error {
	d, ctx, ok := strings.Cut(s, "=")
	if !ok || d == "" || ctx == "" {
		return fmt.Errorf("want DOMAIN=CONTEXT, got %q", s)
	}
	c[strings.ToLower(d)] = ctx
	return nil
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
