package esl_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// memStore is a parking.Store in memory.
type memStore struct {
	mu sync.Mutex
	ts []parking.Transition
}

func (m *memStore) Record(_ context.Context, t parking.Transition) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ts = append(m.ts, t)
	return nil
}

func (m *memStore) Occupied(context.Context) ([]parking.Occupant, error) { return nil, nil }

// parkResult is what one Park call through the outbound server returned.
type parkResult struct {
	occ parking.Occupant
	err error
}

// reportingParking is parking.Service with each Park's outcome sent to
// parked once Park has returned (and the Service has freed or kept the
// slot), so a test can go on exactly then, without sleeping.
type reportingParking struct {
	*parking.Service
	parked chan parkResult
}

func (p *reportingParking) Park(ctx context.Context, req parking.ParkRequest) (parking.Occupant, error) {
	occ, err := p.Service.Park(ctx, req)
	p.parked <- parkResult{occ, err}
	return occ, err
}

// deadlineRig is parkd's outbound server driving a real parking.Service
// with one slot, 201, in lot "main", which announces the slot of a park
// into "any slot", and a simulated FreeSWITCH whose announcements and tones
// never end by themselves. Every timeout of the server is an hour: whatever
// ends a wait in these tests is not a timer.
type deadlineRig struct {
	sim   *fstest.Switch
	srv   *esl.Server
	addr  string
	park  *reportingParking
	log   *logBuffer
	store *memStore
}

func startDeadlineRig(t *testing.T) *deadlineRig {
	t.Helper()
	r := &deadlineRig{log: &logBuffer{}, store: &memStore{}}
	r.sim = fstest.Start(t, fstest.Options{PlaybackTime: time.Hour})
	logger := zerolog.New(r.log).Level(zerolog.DebugLevel)
	svc, err := parking.NewService([]parking.LotConfig{{
		Name: "main", First: 201, Last: 201, Music: "local_stream://moh", Timeout: time.Hour, Announce: true,
	}}, nil, r.store)
	if err != nil {
		t.Fatal(err)
	}
	svc.Logger = logger
	if err := svc.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.park = &reportingParking{Service: svc, parked: make(chan parkResult, 10)}
	r.srv = esl.NewServer(r.park)
	r.srv.Logger = logger
	r.srv.Timeout, r.srv.CallTimeout = time.Hour, time.Hour
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- r.srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.srv.Shutdown(ctx)
		<-served
	})
	return r
}

// call places a call blind-transferred by 1000 to park into slot ("" for
// any). Transferred, so that only a park into "any slot" is announced: a
// call that dials the park code itself hears its slot always (SelfPark), and
// these tests' announcements never end.
func (r *deadlineRig) call(t *testing.T, number, slot string) *fstest.Channel {
	t.Helper()
	ch, err := r.sim.Call(fstest.CallSpec{
		SocketAddr: r.addr, CallerNumber: number, Answered: true, ReferredBy: "<sip:1000@127.0.0.1>",
		Vars: map[string]string{esl.VarAction: "park", esl.VarLot: "main", esl.VarSlot: slot},
	})
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// hearing waits until ch hears something that starts with prefix.
func hearing(t *testing.T, ch *fstest.Channel, prefix string) {
	t.Helper()
	if _, err := ch.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
		return strings.HasPrefix(s.Hearing, prefix) && s.SocketConnected
	}); err != nil {
		t.Fatalf("never heard %s: %v", prefix, err)
	}
}

// parkOutcome waits for the next Park to return. The bound is only there
// so that a regression fails instead of hanging: with the server's
// timeouts at an hour, a Park that returns at all was ended by something
// else.
func (r *deadlineRig) parkOutcome(t *testing.T) parkResult {
	t.Helper()
	select {
	case res := <-r.park.parked:
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("Park still waiting 10s after its socket closed (the server's timeouts are an hour)")
		return parkResult{}
	}
}

// shutdownNow shuts the server down and fails t unless it returns before
// its context ends: with every server timeout an hour, only handlers that
// have all returned let it.
func (r *deadlineRig) shutdownNow(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v: a handler still waits on a dead socket", err)
	}
}

// drops are the two ways the switch's side of a call's socket can end.
var drops = []struct {
	name string
	drop func(*fstest.Channel)
}{
	{"EOF", (*fstest.Channel).CloseSocket},
	{"Reset", (*fstest.Channel).ResetSocket},
}

// Ensure a call whose socket closes (EOF or reset) while its slot is being
// announced is noticed at once, not at the call timeout: Park returns
// ErrCallGone, the slot is free for the next caller straight away, the
// departure is logged at info, and Shutdown does not wait for anything.
func TestServer_SocketClosedDuringAnnouncement(t *testing.T) {
	for _, tc := range drops {
		t.Run(tc.name, func(t *testing.T) {
			r := startDeadlineRig(t)
			first := r.call(t, "5550101", "")
			hearing(t, first, "say:")
			tc.drop(first)

			res := r.parkOutcome(t)
			if !errors.Is(res.err, parking.ErrCallGone) {
				t.Fatalf("Park after the socket closed: %v, want ErrCallGone", res.err)
			}
			if got := r.park.Occupants(); len(got) != 0 {
				t.Fatalf("slots still held: %+v", got)
			}
			r.store.mu.Lock()
			rows := slices.Clone(r.store.ts)
			r.store.mu.Unlock()
			if len(rows) != 1 || rows[0].Event != parking.EventAbandoned || rows[0].Call != parking.CallID(first.UUID()) {
				t.Fatalf("history %+v, want the first caller abandoned", rows)
			}

			second := r.call(t, "5550102", "201")
			if res := r.parkOutcome(t); res.err != nil || res.occ.Slot != 201 {
				t.Fatalf("second caller into the freed slot: %+v", res)
			}
			if _, err := second.WaitFor(5*time.Second, func(s fstest.ChannelState) bool {
				return strings.HasPrefix(s.Hearing, "music:") && s.Vars[esl.VarSlot] == "201"
			}); err != nil {
				t.Fatalf("second caller not parked in 201: %v", err)
			}

			r.log.waitLog(t, 1, `"level":"info"`, "the caller left", `"app":"say"`, first.UUID())
			if n := r.log.count(`"level":"warn"`, "protocol violation"); n != 0 {
				t.Fatalf("a closed socket logged as a protocol violation:\n%s", r.log.String())
			}
			r.shutdownNow(t)
		})
	}
}

// Ensure a call whose socket closes while it hears the error tone (its
// park refused: the slot is taken) ends its handler at once, so that
// Shutdown does not wait on the dead socket, and the parked call is
// untouched.
func TestServer_SocketClosedDuringErrorTone(t *testing.T) {
	for _, tc := range drops {
		t.Run(tc.name, func(t *testing.T) {
			r := startDeadlineRig(t)
			parked := r.call(t, "5550101", "201")
			if res := r.parkOutcome(t); res.err != nil {
				t.Fatalf("first park: %v", res.err)
			}
			refused := r.call(t, "5550102", "201")
			hearing(t, refused, "tone:")
			tc.drop(refused)

			res := r.parkOutcome(t)
			if !errors.Is(res.err, parking.ErrSlotTaken) {
				t.Fatalf("refused Park: %v, want ErrSlotTaken", res.err)
			}
			r.log.waitLog(t, 1, `"level":"info"`, "the caller left", `"app":"playback"`, refused.UUID())
			r.shutdownNow(t)
			if got := r.park.Occupants(); len(got) != 1 || string(got[0].Call) != parked.UUID() {
				t.Fatalf("occupants after the refusal: %+v", got)
			}
			if st := parked.State(); !strings.HasPrefix(st.Hearing, "music:") {
				t.Fatalf("the parked call: %v", st)
			}
		})
	}
}

// Ensure a request parkd refuses itself (no parkd_action), whose socket
// closes during the error tone, does not hold its handler either.
func TestServer_SocketClosedDuringBadRequestTone(t *testing.T) {
	r := startDeadlineRig(t)
	ch, err := r.sim.Call(fstest.CallSpec{SocketAddr: r.addr, CallerNumber: "5550103", Answered: true})
	if err != nil {
		t.Fatal(err)
	}
	hearing(t, ch, "tone:")
	ch.CloseSocket()
	r.log.waitLog(t, 1, `"level":"info"`, "the caller left", `"app":"playback"`, ch.UUID())
	r.shutdownNow(t)
	if st := ch.State(); !slices.Contains(st.Played, esl.ErrorTone) {
		t.Fatalf("played %q, want the error tone", st.Played)
	}
}
