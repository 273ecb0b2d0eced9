package esl_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/testkit"
)

// Ensure a Client serving busy lamps warns at every connection when the
// switch has mod_valet_parking loaded, and says nothing when it has not.
func TestClient_WarnsWhenValetLoaded(t *testing.T) {
	for _, valet := range []bool{true, false} {
		sim := fstest.Start(t, fstest.Options{Valet: valet})
		var log testkit.Buffer
		c := esl.NewClient(sim.Addr(), "ClueCon")
		c.Logger = zerolog.New(&log)
		c.Calls = &recordingCalls{}
		c.MinBackoff, c.MaxBackoff = time.Millisecond, 10*time.Millisecond
		p := esl.NewPresence(c, newFakeLamps(testKeys), testKeys, nil)
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _ = c.Run(ctx) }()
		go func() { defer wg.Done(); _ = p.Run(ctx) }()
		// The republish follows the check on the same connection; once a
		// key is lit the check has run.
		wctx, wcancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := sim.WaitPresence(wctx, "park+701@127.0.0.1", answer("terminated")); err != nil {
			t.Fatal(err)
		}
		wcancel()
		cancel()
		wg.Wait()
		if got := strings.Contains(log.String(), "mod_valet_parking is loaded"); got != valet {
			t.Fatalf("valet loaded %v: warned %v; log:\n%s", valet, got, log.String())
		}
	}
}

// Ensure InspectSwitch reports whether mod_valet_parking is loaded, and
// names the address (never the password) when the switch cannot be reached
// or refuses the password.
func TestInspectSwitch(t *testing.T) {
	ctx := context.Background()
	for _, valet := range []bool{true, false} {
		sim := fstest.Start(t, fstest.Options{Valet: valet})
		f, err := esl.InspectSwitch(ctx, sim.Addr(), "ClueCon", time.Second)
		if err != nil || f.ValetLoaded != valet {
			t.Fatalf("InspectSwitch = %+v, %v; want ValetLoaded %v", f, err, valet)
		}
	}
	sim := fstest.Start(t, fstest.Options{})
	_, err := esl.InspectSwitch(ctx, sim.Addr(), "s3cret-wrong", time.Second)
	if err == nil || strings.Contains(err.Error(), "s3cret-wrong") || !strings.Contains(err.Error(), sim.Addr()) {
		t.Fatalf("wrong password: %v", err)
	}
	if _, err := esl.InspectSwitch(ctx, "127.0.0.1:1", "ClueCon", time.Second); err == nil {
		t.Fatal("InspectSwitch of a closed port succeeded")
	}
}
