package cli

import (
	"fmt"
	"io"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/fsconf"
)

// loadConfig reads -c FILE, or returns the defaults when path is "".
func LoadConfig(path string) (conf.Config, error) {
	if path == "" {
		c := conf.Default()
		return c, c.Validate()
	}
	return conf.Load(path)
}

// fsconfParams maps the configuration into the dialplan renderer's input.
func fsconfParams(c conf.Config) fsconf.Params {
	p := fsconf.Params{Listen: c.ESL.Listen}
	for _, l := range c.Lots {
		p.Lots = append(p.Lots, fsconf.Lot{
			Name: l.Name, ParkCode: l.ParkCode, RetrieveCode: l.RetrieveCode, First: l.First, Last: l.Last,
		})
	}
	return p
}

func runCheck(args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("check", "Validate a configuration file and report every problem.", stderr)
	path := fs.String("c", "", "configuration `FILE`")
	if err := Parse(fs, args); err != nil {
		return err
	}
	c, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	name := *path
	if name == "" {
		name = "built-in defaults"
	}
	fmt.Fprintf(stdout, "%s: OK: %d lot(s), listening on %s, FreeSWITCH at %s, store %s\n",
		name, len(c.Lots), c.ESL.Listen, c.ESL.FreeSWITCH, c.Store.Path)
	return nil
}

func runFSConf(args []string, stdout, stderr io.Writer) error {
	fs := NewFlags("fsconf", "Print the FreeSWITCH dialplan include (conf/dialplan/default/00_parkd.xml).", stderr)
	path := fs.String("c", "", "configuration `FILE`")
	if err := Parse(fs, args); err != nil {
		return err
	}
	c, err := LoadConfig(*path)
	if err != nil {
		return err
	}
	return fsconf.Render(stdout, fsconfParams(c))
}
