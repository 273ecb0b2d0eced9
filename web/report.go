package web

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/parkd/parkd/store"
)

// WaitBucketer is the store's wait distribution, for the report page's
// chart. store.DB implements it; a Store without it gets no such chart.
type WaitBucketer interface {
	WaitBuckets(ctx context.Context, from, to time.Time, domains []string, bounds []time.Duration) ([]store.WaitBucket, error)
}

// waitBounds are the upper limits of the wait chart's buckets: what a
// reception desk tells apart (a quick pickup, a minute, the default
// two-minute timeout, then a long wait).
var waitBounds = []time.Duration{
	15 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
}

// reportPage is the supervisors' page: the figures of `parkd report` by lot
// and charts drawn by the server as SVG, so it needs no script. It takes
// the from, to, tz and domain parameters of /api/report; a supervisor
// restricted to domains sees theirs only.
func (s *Server) reportPage(w http.ResponseWriter, r *http.Request) {
	p, status, _ := s.authenticate(w, r)
	if status != 0 || p.Token {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	if p.Role != RoleSupervisor {
		s.page(w, http.StatusForbidden, "forbidden.html", nil)
		return
	}
	q := r.URL.Query()
	now := s.now()
	page := reportPageData{Name: p.Name, CSRF: p.session.csrf, From: q.Get("from"), To: q.Get("to"), TZ: q.Get("tz")}
	rq := store.ReportQuery{By: store.ByLot, Location: time.UTC}
	domains, ok := p.domains(q)
	if !ok {
		s.page(w, http.StatusForbidden, "forbidden.html", nil)
		return
	}
	rq.Domains = domains
	var err error
	if page.TZ != "" {
		if rq.Location, err = time.LoadLocation(page.TZ); err != nil || page.TZ == "Local" {
			page.Problem = fmt.Sprintf("tz %q: want an IANA time zone (UTC, Europe/Paris, ...)", page.TZ)
		}
	}
	if rq.From, err = when(q, "from", now); err != nil {
		page.Problem = err.Error()
	}
	if rq.To, err = when(q, "to", now); err != nil {
		page.Problem = err.Error()
	}
	if rq.From.IsZero() {
		rq.From = now.Add(-24 * time.Hour)
	}
	if rq.To.IsZero() {
		rq.To = now
	}
	if page.Problem == "" && !rq.From.Before(rq.To) {
		page.Problem = "from must be before to"
	}
	if page.Problem != "" {
		s.page(w, http.StatusBadRequest, "report.html", page)
		return
	}
	page.Window = rq.From.In(rq.Location).Format("2006-01-02 15:04") + " to " +
		rq.To.In(rq.Location).Format("2006-01-02 15:04") + " (" + rq.Location.String() + ")"
	byLot, err := s.store.Report(r.Context(), rq)
	if err != nil {
		s.reportFailed(w, r, err)
		return
	}
	rq.By = store.ByHour
	byHour, err := s.store.Report(r.Context(), rq)
	if err != nil {
		s.reportFailed(w, r, err)
		return
	}
	for _, g := range byLot.Groups {
		page.Rows = append(page.Rows, figures(dash(g.Group), g))
	}
	page.Total = figures("Total", byLot.Total)
	page.Hours = hourChart(byHour)
	if wb, ok := s.store.(WaitBucketer); ok {
		buckets, err := wb.WaitBuckets(r.Context(), rq.From, rq.To, rq.Domains, waitBounds)
		if err != nil {
			s.reportFailed(w, r, err)
			return
		}
		page.Waits = waitChart(buckets)
	}
	s.page(w, http.StatusOK, "report.html", page)
}

func (s *Server) reportFailed(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error().Err(err).Str("path", r.URL.Path).Msg("report page failed")
	s.page(w, http.StatusInternalServerError, "report.html", reportPageData{Problem: "the report could not be made; the log says why"})
}

type reportPageData struct {
	Name, CSRF   string
	From, To, TZ string // the parameters as given, for the form
	Problem      string
	Window       string
	Rows         []figureRow
	Total        figureRow
	Hours        *barChart
	Waits        *barChart
}

// figureRow is a report row as `parkd report` prints it for people.
type figureRow struct {
	Group                                                   string
	Parked, Retrieved, Recalled, Fallback, Abandoned, Lost  int
	Open                                                    int
	AbandonRate, WaitMedian, WaitP90, WaitMax, BeforeRecall string
}

func figures(group string, r store.ReportRow) figureRow {
	pct := func(v float64) string { return strconv.FormatFloat(v*100, 'f', 1, 64) + "%" }
	wait := func(d time.Duration) string {
		if r.PickedUp() == 0 {
			return "-"
		}
		return d.String()
	}
	return figureRow{
		Group: group, Parked: r.Parked, Retrieved: r.Retrieved, Recalled: r.Recalled, Fallback: r.Fallback,
		Abandoned: r.Abandoned, Lost: r.Lost, Open: r.Open, AbandonRate: pct(r.AbandonRate()),
		WaitMedian: wait(r.WaitMedian), WaitP90: wait(r.WaitP90), WaitMax: wait(r.WaitMax), BeforeRecall: pct(r.BeforeRecallShare()),
	}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
