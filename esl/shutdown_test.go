package esl_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl/fstest"
)

// Ensure Shutdown lets go of a bridged retriever's socket at once, instead
// of waiting for the call to end or for its own deadline, and the bridge
// goes on in FreeSWITCH.
func TestServer_ShutdownLetsGoOfBridgedRetriever(t *testing.T) {
	r := startOutboundRig(t, time.Second)
	call := func(action string) *fstest.Channel {
		t.Helper()
		ch, err := r.sim.Call(fstest.CallSpec{
			SocketAddr: r.addr, CallerNumber: "5550100", Answered: true,
			Vars: map[string]string{"parkd_action": action, "parkd_lot": "main", "parkd_slot": "201"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return ch
	}
	parked := call("park")
	if _, err := parked.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return strings.HasPrefix(s.Hearing, "music:") && !s.SocketConnected
	}); err != nil {
		t.Fatalf("not parked: %v", err)
	}
	retriever := call("retrieve")
	if _, err := retriever.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return s.Hearing == "bridge:"+parked.UUID() && s.SocketConnected
	}); err != nil {
		t.Fatalf("not bridged with parkd on its socket: %v (state %+v)", err, retriever.State())
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("shutdown took %v with a bridged retriever", d)
	}
	if st, err := retriever.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.SocketConnected }); err != nil {
		t.Fatalf("retriever's socket still held: %v", err)
	} else if !st.Alive || st.Hearing != "bridge:"+parked.UUID() {
		t.Fatalf("the bridge did not go on after parkd let go: %+v", st)
	}
}
