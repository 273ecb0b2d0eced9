package metrics_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/internal/metrics"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

type fakeService struct {
	occ     []parking.Occupant
	pending int
}

func (f *fakeService) Occupants() []parking.Occupant { return f.occ }
func (f *fakeService) Pending() int                  { return f.pending }

type fakeInbound struct{ st esl.ClientStats }

func (f *fakeInbound) Stats() esl.ClientStats { return f.st }

// Ensure committed rows count per lot and event, a lot never configured
// is counted as OtherLot, picked-up rows feed the wait histogram, and
// Observe feeds the park and retrieve histograms of the call's lot.
func TestCommittedAndObserve(t *testing.T) {
	m := metrics.New([]string{"main", "vip"})
	m.Committed([]store.HistoryRow{
		{Lot: "main", Event: parking.EventParked},
		{Lot: "main", Event: parking.EventParked},
		{Lot: "main", Event: parking.EventRetrieved, Wait: 12 * time.Second},
		{Lot: "vip", Event: parking.EventRecalled, Wait: 70 * time.Second},
		{Lot: "nosuch", Event: parking.EventRejected},
	})
	m.Observe(metrics.OpPark, "main", 30*time.Millisecond)
	m.Observe(metrics.OpRetrieve, "vip", 20*time.Millisecond)
	m.Observe("other op", "vip", time.Second)
	m.StoreWriteFailed()

	want := `
# HELP parkd_wait_before_pickup_seconds How long calls waited parked before someone picked them up (retrieved or recalled rows).
# TYPE parkd_wait_before_pickup_seconds histogram
parkd_wait_before_pickup_seconds_bucket{lot="main",le="5"} 0
parkd_wait_before_pickup_seconds_bucket{lot="main",le="10"} 0
parkd_wait_before_pickup_seconds_bucket{lot="main",le="15"} 1
parkd_wait_before_pickup_seconds_bucket{lot="main",le="30"} 1
parkd_wait_before_pickup_seconds_bucket{lot="main",le="45"} 1
parkd_wait_before_pickup_seconds_bucket{lot="main",le="60"} 1
parkd_wait_before_pickup_seconds_bucket{lot="main",le="90"} 1
parkd_wait_before_pickup_seconds_bucket{lot="main",le="120"} 1
parkd_wait_before_pickup_seconds_bucket{lot="main",le="180"} 1
parkd_wait_before_pickup_seconds_bucket{lot="main",le="300"} 1
parkd_wait_before_pickup_seconds_bucket{lot="main",le="600"} 1
parkd_wait_before_pickup_seconds_bucket{lot="main",le="900"} 1
parkd_wait_before_pickup_seconds_bucket{lot="main",le="1800"} 1
parkd_wait_before_pickup_seconds_bucket{lot="main",le="+Inf"} 1
parkd_wait_before_pickup_seconds_sum{lot="main"} 12
parkd_wait_before_pickup_seconds_count{lot="main"} 1
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="5"} 0
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="10"} 0
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="15"} 0
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="30"} 0
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="45"} 0
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="60"} 0
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="90"} 1
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="120"} 1
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="180"} 1
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="300"} 1
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="600"} 1
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="900"} 1
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="1800"} 1
parkd_wait_before_pickup_seconds_bucket{lot="vip",le="+Inf"} 1
parkd_wait_before_pickup_seconds_sum{lot="vip"} 70
parkd_wait_before_pickup_seconds_count{lot="vip"} 1
# HELP parkd_store_write_errors_total Failed writes of history rows: a write that wrote nothing (disk full, database locked or gone) and a row the store refused count once each.
# TYPE parkd_store_write_errors_total counter
parkd_store_write_errors_total 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"parkd_wait_before_pickup_seconds", "parkd_store_write_errors_total"); err != nil {
		t.Fatal(err)
	}
	counts := map[[2]string]float64{}
	for _, f := range gather(t, m) {
		if f.GetName() != "parkd_events_total" {
			continue
		}
		for _, s := range f.GetMetric() {
			var k [2]string
			for _, l := range s.GetLabel() {
				switch l.GetName() {
				case "lot":
					k[0] = l.GetValue()
				case "event":
					k[1] = l.GetValue()
				}
			}
			counts[k] = s.GetCounter().GetValue()
		}
	}
	for k, want := range map[[2]string]float64{
		{"main", "parked"}: 2, {"main", "retrieved"}: 1, {"vip", "recalled"}: 1, {metrics.OtherLot, "rejected"}: 1,
		{"vip", "parked"}: 0, {"main", "fallback"}: 0, // configured lots start at zero
	} {
		if got, ok := counts[k]; !ok || got != want {
			t.Errorf("parkd_events_total%v = %v (present %v), want %v", k, got, ok, want)
		}
	}
	if _, ok := counts[[2]string{"nosuch", "rejected"}]; ok {
		t.Error("an unknown lot got a series of its own")
	}
	for name, want := range map[string]int{"parkd_park_duration_seconds": 1, "parkd_retrieve_duration_seconds": 1} {
		n := 0
		for _, f := range gather(t, m) {
			if f.GetName() == name {
				for _, s := range f.GetMetric() {
					n += int(s.GetHistogram().GetSampleCount())
				}
			}
		}
		if n != want {
			t.Errorf("%s: %d observations, want %d", name, n, want)
		}
	}
}

// Ensure the scrape-time gauges read the service and the inbound
// connection: parked calls per lot (zero for an empty lot), rows
// pending, the connection's state and counters.
func TestScraped(t *testing.T) {
	svc := &fakeService{pending: 3, occ: []parking.Occupant{{Lot: "main", Slot: 201}, {Lot: "main", Slot: 202}, {Lot: "gone", Slot: 9}}}
	in := &fakeInbound{st: esl.ClientStats{Connected: true, Reconciled: false, Reconnects: 2, CommandErrors: 5, Events: 7}}
	m := metrics.New([]string{"main", "vip"})
	m.Watch(svc, in)
	want := `
# HELP parkd_parked_calls Calls parked now, by lot.
# TYPE parkd_parked_calls gauge
parkd_parked_calls{lot="_other"} 1
parkd_parked_calls{lot="main"} 2
parkd_parked_calls{lot="vip"} 0
# HELP parkd_history_pending_rows History rows waiting to be written: non-zero only while the store fails.
# TYPE parkd_history_pending_rows gauge
parkd_history_pending_rows 3
# HELP parkd_inbound_up 1 while the inbound connection to FreeSWITCH is up, else 0.
# TYPE parkd_inbound_up gauge
parkd_inbound_up 1
# HELP parkd_inbound_reconciled 1 while the inbound connection is up and parkd has reconciled its parked calls with FreeSWITCH, else 0.
# TYPE parkd_inbound_reconciled gauge
parkd_inbound_reconciled 0
# HELP parkd_inbound_reconnects_total Times the inbound connection to FreeSWITCH was lost and parkd set out to reconnect.
# TYPE parkd_inbound_reconnects_total counter
parkd_inbound_reconnects_total 2
# HELP parkd_esl_command_errors_total Commands on the inbound connection that got no reply: timed out, connection lost or down, write failed.
# TYPE parkd_esl_command_errors_total counter
parkd_esl_command_errors_total 5
# HELP parkd_inbound_events_total Count of events received on the inbound connection. The switch filters them to parkd's own calls, so they grow with parks, not with the switch's other calls.
# TYPE parkd_inbound_events_total counter
parkd_inbound_events_total 7
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "parkd_parked_calls", "parkd_history_pending_rows",
		"parkd_inbound_up", "parkd_inbound_reconciled", "parkd_inbound_reconnects_total", "parkd_esl_command_errors_total", "parkd_inbound_events_total"); err != nil {
		t.Fatal(err)
	}
	m.SetLots([]string{"gone"}) // a reload brings the lot back
	if n := testutil.CollectAndCount(m.Registry(), "parkd_parked_calls"); n != 3 {
		// main 2, vip 0, gone 1: nothing left as _other
		t.Fatalf("%d parked-call series after SetLots, want 3", n)
	}
}

// Ensure the handler serves the text format with the Go runtime's and
// the process's figures beside parkd's.
func TestHandler(t *testing.T) {
	m := metrics.New([]string{"main"})
	m.Watch(&fakeService{}, nil)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{`parkd_parked_calls{lot="main"} 0`, "go_goroutines ", "process_start_time_seconds "} {
		if !strings.Contains(body, want) {
			t.Errorf("no %q in:\n%s", want, body)
		}
	}
	if strings.Contains(body, "parkd_inbound_up") {
		t.Error("inbound gauges served without an inbound connection")
	}
}
