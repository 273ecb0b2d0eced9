package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/store"
)

func testLots() []LotView {
	return []LotView{
		{Name: "main", First: 201, Last: 220, ParkCode: "*70", RetrieveCode: "*71", Timeout: 2 * time.Minute, WarnAfter: time.Minute},
		{Name: "sales", First: 301, Last: 399, ParkCode: "*72", RetrieveCode: "*73", Timeout: 5 * time.Minute, WarnAfter: 90 * time.Second},
	}
}

// Ensure /api/lots gives the configuration of the lots each user may see,
// in the configuration's order, and nothing without a configuration.
func TestAPILots(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Lots = testLots })
	for _, tt := range []struct {
		user, pass string
		want       []lotJSON
	}{
		{"alice", alicePass, []lotJSON{{Name: "main", First: 201, Last: 220, ParkCode: "*70", RetrieveCode: "*71", TimeoutSeconds: 120, WarnAfterSeconds: 60}}},
		{"bob", bobPass, []lotJSON{
			{Name: "main", First: 201, Last: 220, ParkCode: "*70", RetrieveCode: "*71", TimeoutSeconds: 120, WarnAfterSeconds: 60},
			{Name: "sales", First: 301, Last: 399, ParkCode: "*72", RetrieveCode: "*73", TimeoutSeconds: 300, WarnAfterSeconds: 90},
		}},
	} {
		c, _ := e.login(tt.user, tt.pass)
		w := e.get("/api/lots", "", c)
		var got []lotJSON
		decode(t, w, &got)
		if len(got) != len(tt.want) {
			t.Fatalf("%s: lots %+v, want %+v", tt.user, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: lot %d = %+v, want %+v", tt.user, i, got[i], tt.want[i])
			}
		}
	}
	if w := e.get("/api/lots", "", nil); w.Code != http.StatusUnauthorized {
		t.Errorf("anonymous /api/lots: %d", w.Code)
	}
	bare := newEnv(t, nil)
	w := bare.get("/api/lots", agentTok, nil)
	if strings.TrimSpace(w.Body.String()) != "[]" {
		t.Errorf("no Lots configured: %s, want []", w.Body)
	}
}

// Ensure the board page loads its script and style from /static/ (the
// CSP forbids inline ones), carries the CSRF token and the user's
// extension, links the report for supervisors only, and sends anonymous
// visitors to the login form.
func TestBoardPage(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.Lots = testLots })
	if w := e.get("/", "", nil); w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/login" {
		t.Fatalf("anonymous /: %d to %q", w.Code, w.Header().Get("Location"))
	}
	c, csrf := e.login("alice", alicePass)
	w := e.get("/", "", c)
	body := w.Body.String()
	for _, want := range []string{`<script src="/static/board.js" defer></script>`, `href="/static/board.css"`,
		`name="csrf-token" content="` + csrf + `"`, `name="parkd-extension" content="2001"`, `id="park-mine"`,
		`aria-live="polite"`, `<label for="my-ext">`} {
		if !strings.Contains(body, want) {
			t.Errorf("board page lacks %s", want)
		}
	}
	if strings.Contains(body, `href="/report"`) {
		t.Error("an agent's board links the report")
	}
	if strings.Contains(body, "<script>") || strings.Contains(body, "style=") {
		t.Error("the board has an inline script or style, which the CSP blocks")
	}
	c, _ = e.login("bob", bobPass)
	if w := e.get("/", "", c); !strings.Contains(w.Body.String(), `href="/report"`) {
		t.Error("a supervisor's board does not link the report")
	}
}

// Ensure the static files are served to anyone, with their types, and
// only to GET.
func TestStaticFiles(t *testing.T) {
	e := newEnv(t, nil)
	for path, ct := range map[string]string{"/static/board.js": "text/javascript", "/static/board.css": "text/css"} {
		w := e.get(path, "", nil)
		if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), ct) || w.Body.Len() < 100 {
			t.Errorf("%s: %d %q, %d bytes", path, w.Code, w.Header().Get("Content-Type"), w.Body.Len())
		}
	}
	if w := e.do(httptest.NewRequest(http.MethodPost, "/static/board.js", nil)); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /static/board.js: %d", w.Code)
	}
	if w := e.get("/static/missing.js", "", nil); w.Code != http.StatusNotFound {
		t.Errorf("missing file: %d", w.Code)
	}
}

// bucketStore is a fakeStore with a wait distribution.
type bucketStore struct {
	*fakeStore
	from, to time.Time
	domains  []string
}

func (b *bucketStore) WaitBuckets(_ context.Context, from, to time.Time, domains []string, bounds []time.Duration) ([]store.WaitBucket, error) {
	b.from, b.to, b.domains = from, to, domains
	out := make([]store.WaitBucket, len(bounds)+1)
	out[0].PickedUp, out[1].Abandoned, out[len(bounds)].PickedUp = 4, 1, 2
	for i := range out {
		if i > 0 {
			out[i].Min = bounds[i-1]
		}
		if i < len(bounds) {
			out[i].Max = bounds[i]
		}
	}
	return out, nil
}

// Ensure the report page shows supervisors the figures by lot and two SVG
// charts with their figures as tables, refuses agents with 403, sends
// visitors to log in, and names a bad parameter.
func TestReportPage(t *testing.T) {
	var bs *bucketStore
	e := newEnv(t, func(c *Config) {
		bs = &bucketStore{fakeStore: c.Store.(*fakeStore)}
		c.Store = bs
	})
	if w := e.get("/report", "", nil); w.Code != http.StatusSeeOther {
		t.Fatalf("anonymous /report: %d", w.Code)
	}
	c, _ := e.login("alice", alicePass)
	if w := e.get("/report", "", c); w.Code != http.StatusForbidden || !strings.Contains(w.Body.String(), "for supervisors") {
		t.Fatalf("agent /report: %d %s", w.Code, w.Body)
	}
	c, _ = e.login("bob", bobPass)
	w := e.get("/report?from=2h&tz=Europe/Paris", "", c)
	body := w.Body.String()
	if w.Code != http.StatusOK {
		t.Fatalf("supervisor /report: %d %s", w.Code, body)
	}
	for _, want := range []string{
		`<th scope="row">main</th><td>3</td><td>2</td><td>0</td><td>0</td><td>1</td>`, "33.3%", "1.5s",
		`<svg viewBox="0 0 760 260" role="img" aria-labelledby="hours-title hours-desc"`,
		`aria-labelledby="waits-title waits-desc"`, `class="s-picked"`, "&lt; 15s", "≥ 10m",
		`<th scope="row">10m or more</th><td>2</td><td>0</td>`, "(Europe/Paris)",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("report page lacks %s", want)
		}
	}
	if got := e.store.queries; len(got) != 2 || got[0].By != store.ByLot || got[1].By != store.ByHour ||
		!got[0].From.Equal(t0.Add(-2*time.Hour)) || got[0].Location.String() != "Europe/Paris" {
		t.Errorf("report queries %+v", got)
	}
	if !bs.from.Equal(t0.Add(-2*time.Hour)) || !bs.to.Equal(t0) {
		t.Errorf("wait buckets asked for %v to %v", bs.from, bs.to)
	}
	for _, q := range []string{"from=yesterday", "tz=Mars/Olympus", "from=1h&to=2h"} {
		if w := e.get("/report?"+q, "", c); w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `role="alert"`) {
			t.Errorf("/report?%s: %d", q, w.Code)
		}
	}
}

// Ensure the hour chart puts each hour's calls in a stacked bar on a
// round scale and the abandon rate on the right axis.
func TestHourChart(t *testing.T) {
	c := hourChart(store.Report{Groups: []store.ReportRow{
		{Group: "09", Parked: 7, Retrieved: 4, Recalled: 1, Abandoned: 1},
		{Group: "17", Parked: 2, Abandoned: 2},
	}})
	if len(c.XLabels) != 24 || c.YTicks[2].Text != "10" {
		t.Fatalf("labels %d, top tick %q", len(c.XLabels), c.YTicks[2].Text)
	}
	if len(c.Bars) != 4 { // 09: picked up, abandoned, other; 17: abandoned
		t.Fatalf("bars %+v", c.Bars)
	}
	var h09 float64
	for _, b := range c.Bars[:3] {
		h09 += b.H
	}
	if want := 0.7 * c.Plot.H; h09 < want-0.5 || h09 > want+0.5 {
		t.Errorf("09's bar is %.1f high, want %.1f (7 of 10)", h09, want)
	}
	if len(c.Dots) != 2 || c.Dots[1].Y != c.Plot.Y || c.Dots[1].Label != "17: abandon rate 100.0%" {
		t.Errorf("rate dots %+v", c.Dots)
	}
	for n, want := range map[int]int{0: 2, 1: 2, 3: 4, 5: 10, 11: 20, 100: 100, 101: 200} {
		if got := niceCeil(n); got != want {
			t.Errorf("niceCeil(%d)=%d, want %d", n, got, want)
		}
	}
}
