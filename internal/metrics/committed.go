package metrics

import (
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Committed counts committed history rows; register it with
// store.DB.OnCommit. It runs on the store's writer goroutine and only
// bumps counters.
//
// Every event is one series of parkd_events_total{lot,event} rather than
// a counter of its own: the event names are the history's (parkd
// history, the API, webhooks), an event added to parking.Events is
// counted without a change here, and sum by (event) or by (lot) answers
// every question named counters would.
func (m *Metrics) Committed(rows []store.HistoryRow) {
	for _, r := range rows {
		lot := m.lot(r.Lot)
		m.events.WithLabelValues(lot, string(r.Event)).Inc()
		if r.Event == parking.EventRetrieved || r.Event == parking.EventRecalled {
			m.wait.WithLabelValues(lot).Observe(r.Wait.Seconds())
		}
	}
}
