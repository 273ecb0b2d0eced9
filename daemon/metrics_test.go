package daemon

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/passhash"
	"github.com/parkd/parkd/parking"
)

// metricsHarness boots parkd with [http] and a token, and two lots: main
// (201-220, no recall within a test) and quick (301-310: recalled after
// a second, retried after a second, twice, then to the operator).
func metricsHarness(t *testing.T) *harness {
	t.Helper()
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	quick := quickRecall(nil)
	quick.Name, quick.Slots, quick.ParkCode, quick.RetrieveCode = "quick", "301-310", "*72", "*73"
	cfg := startConfig(t, sim, lot("main", "201-220", nil), quick)
	tok, err := passhash.Hash(webToken)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP = conf.HTTP{Listen: "127.0.0.1:0", Tokens: []conf.HTTPToken{{Name: "prometheus", Hash: tok, Role: conf.RoleAgent}}}
	h := &harness{t: t, sim: sim, cfg: cfg}
	h.boot()
	return h
}

// scrape GETs /metrics with the token, as Prometheus does, and parses it.
func (h *harness) scrape() (map[string]*dto.MetricFamily, string) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+h.m.HTTPAddr()+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+webToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		h.t.Fatalf("GET /metrics: %s %v\n%s", resp.Status, err, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(string(body)))
	if err != nil {
		h.t.Fatalf("parse /metrics: %v", err)
	}
	return fams, string(body)
}

// figures flattens parkd's families to "name{labels}" -> value; a
// histogram gives its _count.
func figures(fams map[string]*dto.MetricFamily) map[string]float64 {
	out := map[string]float64{}
	for name, f := range fams {
		if !strings.HasPrefix(name, "parkd_") {
			continue
		}
		for _, m := range f.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			sort.Strings(ls)
			key := name
			if len(ls) > 0 {
				key += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.Counter != nil:
				out[key] = m.GetCounter().GetValue()
			case m.Gauge != nil:
				out[key] = m.GetGauge().GetValue()
			case m.Histogram != nil:
				out[key+"_count"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// mismatches lists the figures in want that /metrics does not show.
func mismatches(got, want map[string]float64) []string {
	var out []string
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			out = append(out, fmt.Sprintf("%s = %v (present %v), want %v", k, g, ok, v))
		}
	}
	sort.Strings(out)
	return out
}

// waitFigures scrapes until every figure in want shows (rows reach the
// counters just after their commit), and fails with what differs.
func (h *harness) waitFigures(want map[string]float64) (map[string]float64, string) {
	h.t.Helper()
	deadline := time.Now().Add(wait5s)
	for {
		fams, body := h.scrape()
		got := figures(fams)
		bad := mismatches(got, want)
		if len(bad) == 0 {
			return got, body
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("/metrics after the script:\n%s", strings.Join(bad, "\n"))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ev(lot string, e parking.Event) string {
	return "parkd_events_total{event=" + string(e) + ",lot=" + lot + "}"
}

// Ensure /metrics figures match a scripted run through the real daemon
// and the simulator: parks, a retrieve, an abandon, two rejects (one for
// a lot parkd does not have), a recall that fails then is answered, a
// call left parked; then a dropped inbound connection counts a reconnect.
// No caller number or call id shows anywhere in the scrape.
func TestE2E_MetricsScriptedRun(t *testing.T) {
	h := metricsHarness(t)
	h.eventually("ready", func() bool { return h.m.Ready() == nil })

	a := h.park("202", caller("Ann", "+15550101"))
	b := h.park("203", caller("Bob", "+15550102"))
	r := h.call("retrieve", "main", "202")
	h.waitFor(a, "a retrieved", bridgedTo(r))
	b.Hangup("")
	h.waitHistory(b.UUID(), parking.EventParked, parking.EventAbandoned)
	kept := h.park("205", caller("Kim", "+15550105"))

	bad := h.call("park", "main", "999", transferredBy("1000"))
	h.waitFor(bad, "out of range refused", refusedAndReturned("1000"))
	stray := h.call("park", "nosuch", "201", transferredBy("1000"))
	h.waitFor(stray, "unknown lot refused", refusedAndReturned("1000"))

	h.sim.Register("1000", fstest.Endpoint{Busy: true})
	e := h.call("park", "quick", "301", transferredBy("1000"), caller("Eve", "+15550199"))
	h.waitFor(e, "e parked", parked)
	h.waitHistory(e.UUID(), parking.EventParked, parking.EventRecall, parking.EventRecallFailed)
	h.sim.Register("1000", fstest.Endpoint{AnswerAfter: 50 * time.Millisecond})
	h.waitHistory(e.UUID(), parking.EventParked, parking.EventRecall, parking.EventRecallFailed,
		parking.EventRecall, parking.EventRecalled)

	want := map[string]float64{
		ev("main", parking.EventParked):        3,
		ev("main", parking.EventRetrieved):     1,
		ev("main", parking.EventAbandoned):     1,
		ev("main", parking.EventRejected):      1,
		ev("_other", parking.EventRejected):    1,
		ev("main", parking.EventRecall):        0,
		ev("main", parking.EventFallback):      0,
		ev("quick", parking.EventParked):       1,
		ev("quick", parking.EventRecall):       2,
		ev("quick", parking.EventRecallFailed): 1,
		ev("quick", parking.EventRecalled):     1,
		ev("quick", parking.EventFallback):     0,
		ev("quick", parking.EventRetrieved):    0,

		"parkd_park_duration_seconds{lot=main}_count":       3,
		"parkd_park_duration_seconds{lot=quick}_count":      1,
		"parkd_retrieve_duration_seconds{lot=main}_count":   1,
		"parkd_retrieve_duration_seconds{lot=quick}_count":  0,
		"parkd_wait_before_pickup_seconds{lot=main}_count":  1,
		"parkd_wait_before_pickup_seconds{lot=quick}_count": 1,

		"parkd_parked_calls{lot=main}":   1,
		"parkd_parked_calls{lot=quick}":  0,
		"parkd_history_pending_rows":     0,
		"parkd_store_write_errors_total": 0,
		"parkd_inbound_up":               1,
		"parkd_inbound_reconciled":       1,
		"parkd_inbound_reconnects_total": 0,
		"parkd_esl_command_errors_total": 0,
	}
	got, body := h.waitFigures(want)
	for k, v := range got {
		// Every event counted is one of the script's: nothing else moved.
		if strings.HasPrefix(k, "parkd_events_total") {
			if _, ok := want[k]; !ok && v != 0 {
				t.Errorf("%s = %v, want 0", k, v)
			}
		}
	}
	for _, secret := range []string{a.UUID(), b.UUID(), e.UUID(), kept.UUID(), r.UUID(), "+15550101", "+1555010", "5550199", "Eve"} {
		if strings.Contains(body, secret) {
			t.Errorf("/metrics shows %q", secret)
		}
	}
	fams, _ := h.scrape()
	for name, f := range fams {
		if !strings.HasPrefix(name, "parkd_") {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if !slices.Contains([]string{"lot", "event", "le"}, l.GetName()) {
					t.Errorf("%s has label %s", name, l.GetName())
				}
			}
		}
	}

	h.sim.DropInbound()
	h.waitFigures(map[string]float64{"parkd_inbound_reconnects_total": 1, "parkd_inbound_up": 1, "parkd_inbound_reconciled": 1})
}

// Ensure /readyz says not ready while parkd is not connected to
// FreeSWITCH (the unit tests of esl.Client.Stats cover "connected, not
// reconciled").
func TestE2E_ReadyNeedsFreeSWITCH(t *testing.T) {
	h := metricsHarness(t)
	readyz := func() int {
		resp, err := http.Get("http://" + h.m.HTTPAddr() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	h.eventually("ready", func() bool { return readyz() == 200 })
	h.sim.Close() // FreeSWITCH gone, and not back
	h.eventually("not ready without FreeSWITCH", func() bool { return readyz() == 503 })
	if err := h.m.Ready(); err == nil || !strings.Contains(err.Error(), "not connected to FreeSWITCH") {
		t.Fatalf("Ready: %v, want the reason", err)
	}
}

// gathered is m's figures, read from its registry without HTTP.
func gathered(t *testing.T, m *Main) map[string]float64 {
	t.Helper()
	fs, err := m.Metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fs {
		byName[f.GetName()] = f
	}
	return figures(byName)
}

// Ensure failed history writes are counted and make parkd not ready while
// rows wait, and that it is ready again once the disk works and the rows
// are written.
func TestE2E_MetricsStoreWriteErrors(t *testing.T) {
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	h := &harness{t: t, sim: sim, cfg: startConfig(t, sim)}
	fs := &failingStore{}
	m := &Main{Config: h.cfg, Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), RetryEvery: 20 * time.Millisecond,
		WrapStore: func(s parking.Store) parking.Store { fs.Store = s; return fs }}
	if err := m.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	h.m = m
	t.Cleanup(func() { m.Close() })
	h.eventually("ready", func() bool { return m.Ready() == nil })

	fs.set(true)
	h.park("202")
	h.eventually("a failed write counted and the row pending", func() bool {
		f := gathered(t, m)
		return f["parkd_store_write_errors_total"] >= 1 && f["parkd_history_pending_rows"] == 1
	})
	if err := m.Ready(); err == nil || !strings.Contains(err.Error(), "history rows wait") {
		t.Fatalf("Ready with rows waiting: %v", err)
	}
	fs.set(false)
	h.eventually("rows written and ready again", func() bool { return m.Service.Pending() == 0 && m.Ready() == nil })
	if f := gathered(t, m); f[ev("main", parking.EventParked)] != 1 || f["parkd_history_pending_rows"] != 0 {
		t.Fatalf("after the disk came back: parked %v, pending %v", f[ev("main", parking.EventParked)], f["parkd_history_pending_rows"])
	}
}
