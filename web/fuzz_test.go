package web

import (
	"net/url"
	"testing"
)

// FuzzQuery feeds /api/history's and /api/report's query parsing any
// query string: it must answer a filter or an error, never panic, and
// never accept a negative slot or limit.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{"lot=main&slot=202&since=6h&until=2026-12-05T08:00:00Z&event=parked&limit=5",
		"slot=-1", "since=-5m", "event=note", "limit=99999999999999999999", "since=1e308h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		hf, _, err := historyFilter(q, t0)
		if err == nil && (hf.Slot < 0 || hf.Limit < 0) {
			t.Fatalf("%q: negative slot or limit accepted: %+v", raw, hf)
		}
		_, _ = when(q, "from", t0)
	})
}
