package esl_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// parkAndBridge parks as parkOnly does and retrieves by bridging the
// retriever to the call it parked.
type parkAndBridge struct {
	parkOnly
	parked chan parking.CallID
}

func (p *parkAndBridge) Park(ctx context.Context, req parking.ParkRequest) (parking.Occupant, error) {
	occ, err := p.parkOnly.Park(ctx, req)
	if err == nil {
		p.parked <- occ.Call
	}
	return occ, err
}

func (p *parkAndBridge) Retrieve(ctx context.Context, req parking.RetrieveRequest) (parking.Occupant, error) {
	call := <-p.parked
	if err := req.Leg.Answer(ctx); err != nil {
		return parking.Occupant{}, err
	}
	if err := req.Leg.Bridge(ctx, call); err != nil {
		return parking.Occupant{}, err
	}
	return parking.Occupant{Lot: "main", Slot: 201, Call: call}, nil
}

// Ensure Shutdown lets go of a bridged retriever's socket at once, instead
// of waiting for the call to end or for its own deadline, and the bridge
// goes on in FreeSWITCH.
func TestServer_ShutdownLetsGoOfBridgedRetriever(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	srv := esl.NewServer(&parkAndBridge{parked: make(chan parking.CallID, 1)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	call := func(action string) *fstest.Channel {
		t.Helper()
		ch, err := sim.Call(fstest.CallSpec{
			SocketAddr: ln.Addr().String(), CallerNumber: "5550100", Answered: true,
			Vars: map[string]string{"park_action": action, "park_lot": "main", "park_slot": "201"},
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
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("shutdown took %v with a bridged retriever", d)
	}
	if err := <-served; !errors.Is(err, esl.ErrServerClosed) {
		t.Fatalf("Serve returned %v, want ErrServerClosed", err)
	}
	if st, err := retriever.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.SocketConnected }); err != nil {
		t.Fatalf("retriever's socket still held: %v", err)
	} else if !st.Alive || st.Hearing != "bridge:"+parked.UUID() {
		t.Fatalf("the bridge did not go on after parkd let go: %+v", st)
	}
}
