package daemon

import (
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/parkd/parkd/esl/fstest"
)

// TestNodesRetrieveLatency measures, over the simulator, how long a
// retrieve takes from the retriever's call reaching parkd to the parked
// caller bridged: dialled on the call's own node, and dialled on the other
// node (the hop: a token in PostgreSQL, the transfer, the simulated SIP
// call to the other node, its parkd consuming the token). Not part of
// make test: set PARKD_NODES_BENCH to the number of retrieves of each
// kind, e.g.
//
//	PARKD_NODES_BENCH=200 go test -count=1 -run TestNodesRetrieveLatency -v ./daemon/
func TestNodesRetrieveLatency(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("PARKD_NODES_BENCH"))
	if n <= 0 {
		t.Skip("set PARKD_NODES_BENCH=N to measure N retrieves of each kind")
	}
	s := startTwoNodes(t)
	measure := func(retrieveOn *harness) []time.Duration {
		var ds []time.Duration
		for range n {
			caller := s.a.park("202")
			start := time.Now()
			r := retrieveOn.call("retrieve", "main", "202")
			if _, err := caller.WaitFor(wait5s, func(st fstest.ChannelState) bool { return st.Alive && st.BridgedTo != "" }); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, time.Since(start))
			r.Hangup("")
			if _, err := caller.WaitFor(wait5s, hungUp); err != nil {
				t.Fatal(err)
			}
			s.a.eventually("the slot freed", func() bool { return len(s.a.occupied()) == 0 })
		}
		slices.Sort(ds)
		return ds
	}
	for _, k := range []struct {
		name string
		on   *harness
	}{{"same node", s.a}, {"across nodes", s.b}} {
		ds := measure(k.on)
		t.Logf("retrieve %-12s n=%d median=%v p90=%v max=%v", k.name, len(ds),
			ds[len(ds)/2].Round(10*time.Microsecond), ds[len(ds)*9/10].Round(10*time.Microsecond), ds[len(ds)-1].Round(10*time.Microsecond))
	}
}
