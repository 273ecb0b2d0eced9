package store

import "time"

// ReportJSON is a report as `parkd report --json` and GET /api/report give
// it: times in UTC to the millisecond, waits in milliseconds, null where a
// figure is undefined (no pickups, no recalled calls).
type ReportJSON struct {
	From   string          `json:"from"`
	To     string          `json:"to"`
	TZ     string          `json:"tz"`
	By     ReportBy        `json:"by"`
	Groups []ReportRowJSON `json:"groups"`
	Total  ReportRowJSON   `json:"total"`
	// Outside is each lot's refusals of outside pick-up in the window;
	// absent when there were none.
	Outside []PINRowJSON `json:"outside_pickup,omitempty"`
}

// PINRowJSON is a lot's outside pick-up refusals in a ReportJSON.
type PINRowJSON struct {
	Domain    string `json:"domain,omitempty"`
	Lot       string `json:"lot"`
	WrongPINs int    `json:"wrong_pins"`
	Lockouts  int    `json:"lockouts"`
}

// ReportRowJSON is one row of a ReportJSON; Group is absent on the total.
type ReportRowJSON struct {
	Group               *string  `json:"group,omitempty"`
	Parked              int      `json:"parked"`
	Retrieved           int      `json:"retrieved"`
	Recalled            int      `json:"recalled"`
	Fallback            int      `json:"fallback"`
	Abandoned           int      `json:"abandoned"`
	Lost                int      `json:"lost"`
	Open                int      `json:"open"`
	AbandonRate         float64  `json:"abandon_rate"`
	WaitMedianMS        *int64   `json:"wait_median_ms"`
	WaitP90MS           *int64   `json:"wait_p90_ms"`
	WaitMaxMS           *int64   `json:"wait_max_ms"`
	AttemptsPerRecalled *float64 `json:"attempts_per_recalled"`
	BeforeRecall        float64  `json:"before_recall"`
}

// reportTimeFormat is the JSON's time format, the CLI's everywhere.
const reportTimeFormat = "2006-01-02T15:04:05.000Z"

// JSON returns the report in its JSON shape, one for every output.
func (rep Report) JSON() ReportJSON {
	q := rep.Query
	loc := q.Location
	if loc == nil {
		loc = time.UTC
	}
	out := ReportJSON{
		From: q.From.UTC().Format(reportTimeFormat), To: q.To.UTC().Format(reportTimeFormat), TZ: loc.String(), By: q.By,
		Groups: []ReportRowJSON{}, Total: rep.Total.json(nil),
	}
	for _, g := range rep.Groups {
		out.Groups = append(out.Groups, g.json(&g.Group))
	}
	for _, p := range rep.Outside {
		out.Outside = append(out.Outside, PINRowJSON{Domain: p.Domain, Lot: p.Lot, WrongPINs: p.Failed, Lockouts: p.Locked})
	}
	return out
}

func (r ReportRow) json(group *string) ReportRowJSON {
	out := ReportRowJSON{
		Group: group, Parked: r.Parked, Retrieved: r.Retrieved, Recalled: r.Recalled, Fallback: r.Fallback,
		Abandoned: r.Abandoned, Lost: r.Lost, Open: r.Open, AbandonRate: r.AbandonRate(), BeforeRecall: r.BeforeRecallShare(),
	}
	if r.PickedUp() > 0 {
		med, p90, mx := r.WaitMedian.Milliseconds(), r.WaitP90.Milliseconds(), r.WaitMax.Milliseconds()
		out.WaitMedianMS, out.WaitP90MS, out.WaitMaxMS = &med, &p90, &mx
	}
	if v, ok := r.AttemptsPerRecalled(); ok {
		out.AttemptsPerRecalled = &v
	}
	return out
}
