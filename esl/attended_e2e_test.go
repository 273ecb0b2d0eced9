package esl_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// recordingParking records the park requests the outbound server makes and
// parks each call (music, socket let go) as parking.Service does.
type recordingParking struct {
	oneSlot
	mu   sync.Mutex
	reqs []parking.ParkRequest
	got  chan parking.ParkRequest
}

func (p *recordingParking) Park(ctx context.Context, req parking.ParkRequest) (parking.Occupant, error) {
	p.mu.Lock()
	p.reqs = append(p.reqs, req)
	p.mu.Unlock()
	p.got <- req
	return p.oneSlot.Park(ctx, req)
}

// parkVars are the variables fsconf's park extension sets for *70.
var parkVars = map[string]string{esl.VarAction: esl.ActionPark, esl.VarLot: "main", esl.VarSlot: ""}

// Ensure the request of an attended-transfer park reaches parking as the
// switch sends it, in both orders of the consult call's hangup and the
// caller's connect: the consult call parks itself (SelfPark, reception as
// parker, its own Call-ID), and the caller comes transferred, same UUID,
// with reception as parker, its own Call-ID, and the consult call's
// Call-ID in Replaces.
func TestAttended_RequestFacts(t *testing.T) {
	for _, last := range []bool{false, true} {
		name := "HangupFirst"
		if last {
			name = "HangupLast"
		}
		t.Run(name, func(t *testing.T) {
			sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
			rec := &recordingParking{got: make(chan parking.ParkRequest, 4)}
			addr := serveOn(t, esl.DefaultInstance(), rec)

			caller, reception, err := sim.BridgedCall("Jane Roe", "5550100", "1000")
			if err != nil {
				t.Fatal(err)
			}
			consult, err := sim.Call(fstest.CallSpec{SocketAddr: addr, CallerNumber: "1000", Destination: "*70", Vars: parkVars})
			if err != nil {
				t.Fatal(err)
			}
			self := next(t, rec.got)
			consultID := consult.State().Vars["sip_call_id"]
			if !self.SelfPark || self.Parker != "1000" || self.Dialog != consultID || self.Replaces != "" || consultID == "" {
				t.Fatalf("consult request %+v (Call-ID %q)", self, consultID)
			}
			if _, err := consult.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return s.Hearing != "silence" && !s.SocketConnected }); err != nil {
				t.Fatalf("consult not parked: %v", err)
			}

			callerID := caller.State().Vars["sip_call_id"]
			if err := sim.CompleteAttendedTransfer(caller, consult, fstest.AttendedTransfer{
				SocketAddr: addr, Vars: parkVars, ConsultHangupLast: last,
			}); err != nil {
				t.Fatal(err)
			}
			req := next(t, rec.got)
			if string(req.Leg.Call()) != caller.UUID() || req.SelfPark || req.Parker != "1000" ||
				req.Dialog != callerID || req.Replaces != consultID || req.Caller.Number != "5550100" {
				t.Fatalf("caller's request %+v, want caller %s transferred by 1000 replacing %q", req, caller.UUID(), consultID)
			}
			st, err := consult.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.Alive })
			if err != nil || st.HangupCause != "ATTENDED_TRANSFER" {
				t.Fatalf("consult call: %v %v", st, err)
			}
			if st, err := reception.WaitFor(5*time.Second, func(s fstest.ChannelState) bool { return !s.Alive }); err != nil || st.HangupCause != "NORMAL_CLEARING" {
				t.Fatalf("reception's leg: %v %v", st, err)
			}
			if st := caller.State(); !st.Alive || st.Destination != "*70" {
				t.Fatalf("caller: %v", st)
			}
		})
	}
}

func next(t *testing.T, ch <-chan parking.ParkRequest) parking.ParkRequest {
	t.Helper()
	select {
	case req := <-ch:
		return req
	case <-time.After(5 * time.Second):
		t.Fatal("no park request")
		return parking.ParkRequest{}
	}
}
