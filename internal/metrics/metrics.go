// Package metrics is parkd's Prometheus exposition: what GET /metrics
// serves. It counts the history rows the store commits (store.DB.OnCommit),
// times parks and retrieves (esl.Server.Observe), counts failed store
// writes, and reads the parked calls, the rows waiting to be written and
// the inbound connection's state when scraped. It has its own registry,
// not Prometheus's global one, so that only parkd's figures and the Go
// runtime's and the process's are served.
//
// Labels: only lot, where a figure is per lot, and event on
// parkd_events_total. Never a caller number or a call id: a label value
// is a time series, kept forever by the server that scrapes.
package metrics

import (
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/parking"
)

// Service is what the gauges read at scrape time. parking.Service
// implements it.
type Service interface {
	Occupants() []parking.Occupant
	Pending() int
}

// Inbound is the inbound connection to FreeSWITCH. esl.Client implements it.
type Inbound interface {
	Stats() esl.ClientStats
}

// OtherLot is the lot label of a row whose lot parkd was never configured
// with (a park refused for an unknown lot): dialplan input must not mint
// time series. No lot name can be it: lot names start with a letter or a
// digit.
const OtherLot = "_other"

// Op names for Observe, as esl.Server reports them.
const (
	OpPark     = "park"
	OpRetrieve = "retrieve"
)

// Metrics holds parkd's metrics. Its methods are safe for concurrent use.
type Metrics struct {
	reg *prometheus.Registry

	events      *prometheus.CounterVec   // lot, event
	parkTime    *prometheus.HistogramVec // lot
	retrTime    *prometheus.HistogramVec // lot
	wait        *prometheus.HistogramVec // lot
	storeErrors prometheus.Counter

	mu   sync.Mutex
	lots map[string]bool // every lot configured since start
}

// Buckets, in seconds. A park's own time includes answering and, when
// the lot announces, the slot read out (a second or two); a retrieve's
// includes the bridge. Waits run from seconds to the recall timeout and
// past it.
var (
	opBuckets   = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}
	waitBuckets = []float64{5, 10, 15, 30, 45, 60, 90, 120, 180, 300, 600, 900, 1800}
)

// New builds the metrics for the lots configured now (SetLots adds
// more). The gauges read at scrape time come with Watch.
func New(lots []string) *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parkd_events_total",
			Help: "History rows committed, by lot and event (parked, retrieved, recall, recalled, recall_failed, fallback, abandoned, rejected, ...).",
		}, []string{"lot", "event"}),
		parkTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parkd_park_duration_seconds",
			Help:    "parkd's own time for a park that succeeded: from the call's socket connection to the caller hearing music in a committed slot.",
			Buckets: opBuckets,
		}, []string{"lot"}),
		retrTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parkd_retrieve_duration_seconds",
			Help:    "parkd's own time for a retrieve that succeeded: from the retriever's socket connection to its bridge to the parked call.",
			Buckets: opBuckets,
		}, []string{"lot"}),
		wait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "parkd_wait_before_pickup_seconds",
			Help:    "How long calls waited parked before someone picked them up (retrieved or recalled rows).",
			Buckets: waitBuckets,
		}, []string{"lot"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "parkd_store_write_errors_total",
			Help: "Failed writes of history rows: a write that wrote nothing (disk full, database locked or gone) and a row the store refused count once each.",
		}),
		lots: map[string]bool{},
	}
	m.reg.MustRegister(m.events, m.parkTime, m.retrTime, m.wait, m.storeErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.SetLots(lots)
	return m
}

// Watch adds the gauges read at scrape time from svc and in (either may
// be nil: its figures are then left out). Call it once: the store's
// rows are counted from before the service exists (the daemon registers
// Committed before it opens the store), the gauges from when it does.
func (m *Metrics) Watch(svc Service, in Inbound) {
	m.reg.MustRegister(&scraped{svc: svc, in: in, lots: m.knownLots})
}

// Handler serves the metrics in Prometheus's text format (or
// OpenMetrics, when the scraper asks for it).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// Registry is the registry behind Handler, for tests.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// SetLots adds lots (at start, or after a reload): their series exist at
// zero from now on, so that rate() and absent() work before the first
// call. Lots removed from the configuration keep their series until
// parkd restarts; their last calls still leave rows.
func (m *Metrics) SetLots(lots []string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, l := range lots {
		if m.lots[l] {
			continue
		}
		m.lots[l] = true
		for _, ev := range parking.Events {
			m.events.WithLabelValues(l, string(ev))
		}
		m.parkTime.WithLabelValues(l)
		m.retrTime.WithLabelValues(l)
		m.wait.WithLabelValues(l)
	}
}

// lot is the label for a row's or a call's lot: OtherLot for a lot never
// configured.
func (m *Metrics) lot(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.lots[name] {
		return name
	}
	return OtherLot
}

func (m *Metrics) knownLots() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]bool, len(m.lots))
	for l := range m.lots {
		out[l] = true
	}
	return out
}

// Observe records parkd's own time for a park or a retrieve that
// succeeded; esl.Server.Observe calls it. Other ops are ignored.
func (m *Metrics) Observe(op, lot string, d time.Duration) {
	switch op {
	case OpPark:
		m.parkTime.WithLabelValues(m.lot(lot)).Observe(d.Seconds())
	case OpRetrieve:
		m.retrTime.WithLabelValues(m.lot(lot)).Observe(d.Seconds())
	}
}

// StoreWriteFailed counts one failed write of history rows.
func (m *Metrics) StoreWriteFailed() { m.storeErrors.Inc() }
