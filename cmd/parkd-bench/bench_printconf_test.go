package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/parkd/parkd/cli"
	"github.com/parkd/parkd/conf"
)

// printConfig runs parkd-bench --print-config with args and returns its
// output.
func printConfig(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := runBench(context.Background(), append([]string{"--print-config"}, args...), &out, &errb); err != nil {
		t.Fatalf("--print-config %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// Ensure --print-config prints a configuration conf accepts, with the
// scenario's lots and timeouts, the addresses and database the flags give
// (loopback ports of the bench's own by default), and that -c accepts it
// back.
func TestBench_PrintConfigParses(t *testing.T) {
	text := printConfig(t, "--scenario", "parked10k")
	cfg, err := conf.Parse([]byte(text), "printed")
	if err != nil {
		t.Fatalf("conf refuses --print-config's output: %v\n%s", err, text)
	}
	if cfg.ESL.Listen != benchListen || cfg.ESL.FreeSWITCH != benchSimAddr || cfg.Store.Path != benchDB ||
		!slices.Equal(cfg.ESL.Allow, conf.DefaultAllow()) {
		t.Errorf("esl %v, store %q; want listen %s, freeswitch %s, the default allow, store %s",
			cfg.ESL, cfg.Store.Path, benchListen, benchSimAddr, benchDB)
	}
	c, err := defaultBench("parked10k")
	if err != nil {
		t.Fatal(err)
	}
	lots, calls, err := plan(c)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Lots) != len(lots) {
		t.Fatalf("%d lots, the plan has %d", len(cfg.Lots), len(lots))
	}
	for i, l := range lots {
		got := cfg.Lots[i]
		if got.Name != l.name || got.Timeout != l.timeout || got.First != l.first || got.Last != l.last {
			t.Errorf("lot %d: %s %s timeout %v; plan: %s %d-%d timeout %v", i, got.Name, got.Slots, got.Timeout,
				l.name, l.first, l.last, l.timeout)
		}
	}
	if err := checkLots(cfg, lots, calls); err != nil {
		t.Errorf("the printed configuration does not match its own plan: %v", err)
	}

	// A bench host named by address: parkd elsewhere must let its calls in.
	text = printConfig(t, "--scenario", "burst", "--sim-addr", "192.0.2.7:9021", "--listen", "192.0.2.8:9084", "--db", "/var/tmp/b.db")
	cfg, err = conf.Parse([]byte(text), "printed")
	if err != nil {
		t.Fatalf("conf refuses --print-config's output: %v\n%s", err, text)
	}
	want := append(conf.DefaultAllow(), "192.0.2.7/32")
	if cfg.ESL.FreeSWITCH != "192.0.2.7:9021" || cfg.ESL.Listen != "192.0.2.8:9084" || cfg.Store.Path != "/var/tmp/b.db" ||
		!slices.Equal(cfg.ESL.Allow, want) {
		t.Errorf("esl %v, store %q; want the flags' addresses, allow %v and /var/tmp/b.db", cfg.ESL, cfg.Store.Path, want)
	}
	if !strings.Contains(text, "# parkd configuration for: parkd-bench --scenario burst --sim-addr 192.0.2.7:9021") {
		t.Errorf("the header does not name the bench command:\n%s", text)
	}
}

// Ensure flags that do not go together are usage errors that say why.
func TestBench_ModeUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		why  string
	}{
		{[]string{"--print-config", "-c", "x.toml"}, "run with -c afterwards"},
		{[]string{"--print-config", "--scenario", "report1m"}, "report1m reads a generated database"},
		{[]string{"--print-config", "--inproc"}, "--inproc starts parkd in this process"},
		{[]string{"-c", "x.toml", "--inproc"}, "--inproc starts parkd in this process"},
		{[]string{"-c", "x.toml", "--dir", "d"}, "--dir holds a database"},
		{[]string{"--pid", "1"}, "--pid goes with -c"},
		{[]string{"--connect-wait", "1s"}, "--connect-wait goes with -c"},
		{[]string{"--sim-addr", "127.0.0.1:1"}, "--sim-addr goes with --print-config or -c"},
		{[]string{"--print-config", "--listen", "nonsense"}, "esl.listen"},
		{[]string{"--scenario", "parked50k", "-c", "x.toml", "--restart"}, "--restart kills and starts the parkd the bench started"},
		{[]string{"--scenario", "steady", "--restart"}, "--restart goes with --scenario parked50k"},
		{[]string{"--scenario", "parked10k", "--recall-rate", "5"}, "--recall-rate goes with --scenario parked50k"},
		{[]string{"--scenario", "parked50k", "--recall-rate", "-1"}, "--recall-rate must not be negative"},
	} {
		var out, errb bytes.Buffer
		err := runBench(context.Background(), tt.args, &out, &errb)
		if code := cli.ExitCode(err, &errb); code != 2 || !strings.Contains(err.Error(), tt.why) {
			t.Errorf("%v: exit %d (%v), want 2 saying %q", tt.args, code, err, tt.why)
		}
	}
}
