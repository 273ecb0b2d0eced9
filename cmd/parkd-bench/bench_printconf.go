package main

import (
	"cmp"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"

	"github.com/parkd/parkd/cli"
	"github.com/parkd/parkd/conf"
)

// Where --print-config points parkd by default: the loopback, on ports of
// their own, so that a bench parkd never finds a production FreeSWITCH on
// 8021 (and reconciles its empty database against it) nor collides with a
// production parkd on 8084.
const (
	benchSimAddr = "127.0.0.1:18021"
	benchListen  = "127.0.0.1:18084"
	benchDB      = "parkd-bench.db"
)

// printBenchConfig writes the parkd configuration c's scenario needs: its
// lots and timeouts, FreeSWITCH (the simulator) at simAddr, the outbound
// listener at listen, the database at db. args are the bench's arguments,
// echoed so that the file says which command it goes with.
func printBenchConfig(w io.Writer, c benchConfig, args []string, simAddr, listen, db string) error {
	lots, _, err := plan(c)
	if err != nil {
		return err
	}
	simAddr, listen, db = cmp.Or(simAddr, benchSimAddr), cmp.Or(listen, benchListen), cmp.Or(db, benchDB)
	allow := benchAllow(simAddr)
	text := benchTOML(lots, simAddr, listen, db, allow)
	// conf is the judge of addresses and paths, as it will be for parkd.
	if _, err := conf.Parse([]byte(text), "--print-config"); err != nil {
		return fmt.Errorf("%w: bench: %v", cli.ErrUsage, err)
	}
	var rest []string
	for _, a := range args {
		if a != "--print-config" && a != "-print-config" {
			rest = append(rest, shellQuote(a))
		}
	}
	cmdline := strings.Join(append([]string{"parkd-bench"}, rest...), " ")
	fmt.Fprintf(w, `# parkd configuration for: %[1]s
# Start parkd with it (on this host or another), then run the same bench
# command with -c and this file:
#   parkd serve -c FILE
#   %[1]s -c FILE [--pid PID]
# (--pid: parkd's process when it runs on this host, to measure its memory
# and CPU.) The bench refuses a configuration whose lots differ from what
# its knobs plan. [esl] freeswitch is where the bench's simulator listens
# for parkd's inbound client; [esl] listen is where its calls reach parkd.
# For a parkd on another host, [esl] allow must let the bench host's calls in.
`, cmdline)
	if len(allow) > 0 {
		fmt.Fprintf(w, "# allow adds the bench host as --sim-addr names it.\n")
	}
	_, err = io.WriteString(w, text)
	return err
}

// benchAllow is the [esl] allow of a parkd that the bench drives from the
// host at simAddr: the loopback and that host, when simAddr names it by a
// non-loopback address (the simulator's calls come from where it listens,
// on a host with one address). nil keeps parkd's default, the loopback.
func benchAllow(simAddr string) []string {
	host, _, err := net.SplitHostPort(simAddr)
	if err != nil {
		return nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || ip.IsLoopback() || ip.IsUnspecified() {
		return nil
	}
	return append(conf.DefaultAllow(), netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()).String())
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.,:/=+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// checkLots compares a running parkd's lots with what the scenario plans:
// the same names and timeouts (a recall's lateness is measured against the
// planned timeout), at least as many slots, and recalls on where the plan
// waits for one. It returns one error naming every difference.
func checkLots(cfg conf.Config, lots []benchLot, calls []plannedCall) error {
	have := make(map[string]conf.Lot, len(cfg.Lots))
	for _, l := range cfg.Lots {
		have[l.Name] = l
	}
	recalled := map[string]bool{}
	for _, pc := range calls {
		if pc.fate == fateRecall {
			recalled[pc.lot] = true
		}
	}
	var diffs []string
	planned := map[string]bool{}
	for _, b := range lots {
		planned[b.name] = true
		l, ok := have[b.name]
		switch {
		case !ok:
			diffs = append(diffs, fmt.Sprintf("lot %q is missing", b.name))
			continue
		case l.Timeout != b.timeout:
			diffs = append(diffs, fmt.Sprintf("lot %q has timeout %v, the scenario plans %v", b.name, l.Timeout, b.timeout))
		}
		if need := b.last - b.first + 1; l.Size() < need {
			diffs = append(diffs, fmt.Sprintf("lot %q has %d slots (%s), the scenario needs %d", b.name, l.Size(), l.Slots, need))
		}
		if recalled[b.name] && !l.Recall.Enabled {
			diffs = append(diffs, fmt.Sprintf("lot %q has recalls off, the scenario's recalls need them on", b.name))
		}
	}
	for _, l := range cfg.Lots {
		if !planned[l.Name] {
			diffs = append(diffs, fmt.Sprintf("lot %q is not in the scenario's plan", l.Name))
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	return fmt.Errorf("its lots differ from the scenario's: %s", strings.Join(diffs, "; "))
}
