package daemon

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/testkit"
)

// Ensure the configured instance name reaches both ESL directions, is
// written on the calls parkd parks, and is logged at start.
func TestE2E_Instance(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim)}
	h.cfg.Instance = "pbx-east.1"
	logs := &testkit.Buffer{}
	h.m = &Main{Config: h.cfg, Logger: zerolog.New(logs).Level(zerolog.InfoLevel)}
	if err := h.m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.m.Close() })
	if h.m.Client.Instance != "pbx-east.1" || h.m.Server.Instance != "pbx-east.1" {
		t.Fatalf("instance: client %q, server %q", h.m.Client.Instance, h.m.Server.Instance)
	}
	ch := h.park("201")
	if got := ch.State().Vars[esl.VarInstance]; got != "pbx-east.1" {
		t.Fatalf("parked call carries %s=%q, want the instance", esl.VarInstance, got)
	}
	if l := logs.String(); !strings.Contains(l, `"instance":"pbx-east.1"`) || !strings.Contains(l, "parkd started") {
		t.Fatalf("instance not logged at start:\n%s", l)
	}
}

// Ensure an instance name esl would refuse stops Open, instead of leaving
// a daemon without its listener.
func TestOpen_BadInstance(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{})
	c := startConfig(t, sim)
	c.Instance = "no spaces"
	m := &Main{Config: c, Logger: zerolog.Nop()}
	if err := m.Open(context.Background()); err == nil {
		m.Close()
		t.Fatal("Open took an instance name with a space")
	}
}
