package metrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

// The figures read when scraped, from the service and the inbound
// connection, rather than kept up to date on every change.
var (
	parkedDesc = prometheus.NewDesc("parkd_parked_calls",
		"Calls parked now, by lot.", []string{"lot"}, nil)
	pendingDesc = prometheus.NewDesc("parkd_history_pending_rows",
		"History rows waiting to be written: non-zero only while the store fails.", nil, nil)
	upDesc = prometheus.NewDesc("parkd_inbound_up",
		"1 while the inbound connection to FreeSWITCH is up, else 0.", nil, nil)
	reconciledDesc = prometheus.NewDesc("parkd_inbound_reconciled",
		"1 while the inbound connection is up and parkd has reconciled its parked calls with FreeSWITCH, else 0.", nil, nil)
	reconnectsDesc = prometheus.NewDesc("parkd_inbound_reconnects_total",
		"Times the inbound connection to FreeSWITCH was lost and parkd set out to reconnect.", nil, nil)
	cmdErrorsDesc = prometheus.NewDesc("parkd_esl_command_errors_total",
		"Commands on the inbound connection that got no reply: timed out, connection lost or down, write failed.", nil, nil)
	inEventsDesc = prometheus.NewDesc("parkd_inbound_events_total",
		"Count of events received on the inbound connection. The switch filters them to parkd's own calls, so they grow with parks, not with the switch's other calls.", nil, nil)
)

// scraped is the collector of the figures read at scrape time.
type scraped struct {
	svc  Service
	in   Inbound
	lots func() map[string]bool
}

func (s *scraped) Describe(ch chan<- *prometheus.Desc) {
	if s.svc != nil {
		ch <- parkedDesc
		ch <- pendingDesc
	}
	if s.in != nil {
		ch <- upDesc
		ch <- reconciledDesc
		ch <- reconnectsDesc
		ch <- cmdErrorsDesc
		ch <- inEventsDesc
	}
}

func (s *scraped) Collect(ch chan<- prometheus.Metric) {
	if s.svc != nil {
		lots := s.lots()
		parked := make(map[string]int, len(lots))
		for l := range lots {
			parked[l] = 0
		}
		for _, o := range s.svc.Occupants() {
			l := o.Lot
			if !lots[l] {
				l = OtherLot
			}
			parked[l]++
		}
		for l, n := range parked {
			ch <- prometheus.MustNewConstMetric(parkedDesc, prometheus.GaugeValue, float64(n), l)
		}
		ch <- prometheus.MustNewConstMetric(pendingDesc, prometheus.GaugeValue, float64(s.svc.Pending()))
	}
	if s.in != nil {
		st := s.in.Stats()
		ch <- prometheus.MustNewConstMetric(upDesc, prometheus.GaugeValue, b2f(st.Connected))
		ch <- prometheus.MustNewConstMetric(reconciledDesc, prometheus.GaugeValue, b2f(st.Reconciled))
		ch <- prometheus.MustNewConstMetric(reconnectsDesc, prometheus.CounterValue, float64(st.Reconnects))
		ch <- prometheus.MustNewConstMetric(cmdErrorsDesc, prometheus.CounterValue, float64(st.CommandErrors))
		ch <- prometheus.MustNewConstMetric(inEventsDesc, prometheus.CounterValue, float64(st.Events))
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
