package web

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/internal/passhash"
	"github.com/parkd/parkd/parking"
)

// BenchmarkAPISlots1000 is GET /api/slots with 1,000 parked calls, the
// board figure's load (issue 14: p99 under 20 ms).
func BenchmarkAPISlots1000(b *testing.B) {
	h, err := passhash.Hash(agentTok)
	if err != nil {
		b.Fatal(err)
	}
	sl := &fakeSlots{}
	for i := range 1000 {
		sl.occ = append(sl.occ, parking.Occupant{Lot: "main", Slot: 1000 + i, Call: parking.CallID(fmt.Sprintf("call-%04d-5b2f-4c1e-9a7d-0123456789ab", i)),
			Caller: parking.Caller{Name: "Caller Name", Number: fmt.Sprintf("+1555%07d", i)}, Parker: "1000",
			ParkedAt: t0.Add(-time.Duration(i) * time.Second), Deadline: t0.Add(time.Minute)})
	}
	srv, err := New(Config{Logger: zerolog.Nop(), Tokens: []Token{{Name: "crm", Hash: h, Role: RoleAgent}},
		Slots: sl, Store: &fakeStore{}, Now: func() time.Time { return t0 }, Ready: func() error { return nil }})
	if err != nil {
		b.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodGet, "/api/slots", nil)
	req.Header.Set("Authorization", "Bearer "+agentTok)
	w := &discardWriter{h: http.Header{}}
	srv.ServeHTTP(w, req) // the token's check is cached from here on
	runtime.GC()
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		srv.ServeHTTP(w, req)
		if w.code != http.StatusOK {
			b.Fatalf("status %d", w.code)
		}
	}
	b.ReportMetric(float64(w.n)/1000, "bytes/call")
}

// discardWriter is a ResponseWriter that keeps nothing but the status and
// the body's length, so that a benchmark times the handler alone.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (d *discardWriter) Header() http.Header  { return d.h }
func (d *discardWriter) WriteHeader(code int) { d.code = code }
func (d *discardWriter) Write(p []byte) (int, error) {
	if d.code == 0 {
		d.code = http.StatusOK
	}
	d.n = len(p)
	return len(p), nil
}
