package web

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// slotJSON is one parked call in /api/slots.
type slotJSON struct {
	Lot            string     `json:"lot"`
	Domain         string     `json:"domain,omitempty"`
	Slot           int        `json:"slot"`
	Call           string     `json:"call"`
	CallerName     string     `json:"caller_name"`
	CallerNumber   string     `json:"caller_number"`
	Parker         string     `json:"parker"`
	ParkedAt       string     `json:"parked_at"`
	WaitingSeconds int64      `json:"waiting_seconds"`
	State          string     `json:"state"`
	NextRecall     string     `json:"next_recall,omitempty"`
	RecallAttempts int        `json:"recall_attempts"`
	Notes          []noteJSON `json:"notes"`
	// Node is the FreeSWITCH node holding the call when lots are shared
	// by several; Remote marks another node's call (seen, not acted on,
	// here).
	Node   string `json:"node,omitempty"`
	Remote bool   `json:"remote,omitempty"`
}

type noteJSON struct {
	At   string `json:"at"`
	Text string `json:"text"`
}

// apiSlots lists the parked calls the caller may see, with their notes;
// ?domain= keeps one domain's.
//
// State is "recalling" while a recall rings the parker for the call (its
// slot's lamp blinks), else "parked"; recall_attempts counts the recalls
// placed.
func (s *Server) apiSlots(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	domains, ok := p.domains(r.URL.Query())
	if !ok {
		writeError(w, http.StatusForbidden, "you may not see that domain")
		return
	}
	now := s.now()
	oldest := time.Time{}
	calls := s.slots.ParkedCalls()
	nodeOf := map[parking.CallID]string{}
	if s.otherNodes != nil {
		remote, err := s.otherNodes(r.Context())
		if err != nil {
			s.internal(w, r, err)
			return
		}
		for _, rc := range remote {
			calls = append(calls, parking.ParkedCall{Occupant: rc.Occupant})
			nodeOf[rc.Call] = rc.Node
		}
	}
	out := make([]slotJSON, 0, len(calls))
	for _, o := range calls {
		if !p.sees(o.Domain, o.Lot) || (domains != nil && !slices.Contains(domains, o.Domain)) {
			continue
		}
		if oldest.IsZero() || o.ParkedAt.Before(oldest) {
			oldest = o.ParkedAt
		}
		sj := slotJSON{
			Lot: o.Lot, Domain: o.Domain, Slot: o.Slot, Call: string(o.Call), CallerName: o.Caller.Name, CallerNumber: o.Caller.Number,
			Parker: o.Parker, ParkedAt: o.ParkedAt.UTC().Format(time.RFC3339),
			WaitingSeconds: int64(o.Waited(now) / time.Second), State: slotState(o), RecallAttempts: o.Attempts,
			Notes: []noteJSON{},
		}
		if !o.Deadline.IsZero() {
			sj.NextRecall = o.Deadline.UTC().Format(time.RFC3339)
		}
		if node, remote := nodeOf[o.Call]; remote {
			sj.Node, sj.Remote, sj.State = node, true, "parked"
		} else {
			sj.Node = s.node
		}
		out = append(out, sj)
	}
	if len(out) > 0 {
		// One query for the notes of every call shown: the notes written
		// since the longest-parked of them was parked.
		notes, err := s.store.Notes(r.Context(), store.HistoryFilter{Since: oldest, Domains: domains})
		if err != nil {
			s.internal(w, r, err)
			return
		}
		placeNotes(out, notes)
	}
	writeSlots(w, out)
}

// placeNotes adds each note to the listed call it is about. Most calls
// have none: the calls are indexed only when there are notes to place.
func placeNotes(out []slotJSON, notes []store.Note) {
	if len(notes) == 0 {
		return
	}
	idx := make(map[string]int, len(out))
	for i, sj := range out {
		idx[sj.Call] = i
	}
	for _, n := range notes {
		if i, ok := idx[string(n.Call)]; ok {
			out[i].Notes = append(out[i].Notes, noteJSON{At: n.At.UTC().Format(time.RFC3339), Text: n.Text})
		}
	}
}

// historyEntry is a history row, or a note (event "note").
type historyEntry struct {
	store.HistoryRow
	note *store.Note
}

// noteEntryJSON is a note in /api/history, shaped like a history row.
type noteEntryJSON struct {
	At           string `json:"at"`
	Event        string `json:"event"`
	Lot          string `json:"lot"`
	Domain       string `json:"domain,omitempty"`
	Slot         int    `json:"slot"`
	Call         string `json:"call"`
	CallerNumber string `json:"caller_number"`
	CallerName   string `json:"caller_name"`
	Parker       string `json:"parker"`
	Note         string `json:"note"`
}

// apiHistory answers the rows and notes `parkd history` would show for
// the same filters: lot, domain, slot, call, parker, caller, since, until,
// event (or "note"), limit (the most recent N, oldest first).
func (s *Server) apiHistory(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	q := r.URL.Query()
	f, event, err := historyFilter(q, s.now())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var ok bool
	if f.Domains, ok = p.domains(q); !ok {
		writeError(w, http.StatusForbidden, "you may not see domain "+strconv.Quote(q.Get("domain")))
		return
	}
	lots := []string{f.Lot}
	switch {
	case f.Lot != "" && p.Role != RoleSupervisor && len(p.Lots) > 0 && !slices.Contains(p.Lots, f.Lot):
		writeError(w, http.StatusForbidden, "you may not see lot "+strconv.Quote(f.Lot))
		return
	case f.Lot == "" && p.Role != RoleSupervisor && len(p.Lots) > 0:
		lots = p.Lots
	}
	var entries []historyEntry
	for _, lot := range lots {
		lf := f
		lf.Lot = lot
		if event == "" || event == "note" {
			notes, err := s.store.Notes(r.Context(), lf)
			if err != nil {
				s.storeError(w, r, err)
				return
			}
			for i := range notes {
				n := notes[i]
				entries = append(entries, historyEntry{HistoryRow: store.HistoryRow{At: n.At}, note: &n})
			}
		}
		if event != "note" {
			lf.Event = parking.Event(event)
			rows, err := s.store.History(r.Context(), lf)
			if err != nil {
				s.storeError(w, r, err)
				return
			}
			for _, row := range rows {
				entries = append(entries, historyEntry{HistoryRow: row})
			}
		}
	}
	// Oldest first; a note written at the millisecond of a row after it.
	sort.SliceStable(entries, func(i, j int) bool {
		a, b := entries[i], entries[j]
		if !a.At.Equal(b.At) {
			return a.At.Before(b.At)
		}
		if (a.note == nil) != (b.note == nil) {
			return a.note == nil
		}
		return a.ID < b.ID
	})
	if f.Limit > 0 && len(entries) > f.Limit {
		entries = entries[len(entries)-f.Limit:]
	}
	out := make([]any, 0, len(entries))
	for _, e := range entries {
		if n := e.note; n != nil {
			out = append(out, noteEntryJSON{At: n.At.UTC().Format("2006-01-02T15:04:05.000Z"), Event: "note", Lot: n.Lot, Domain: n.Domain,
				Slot: n.Slot, Call: string(n.Call), CallerNumber: n.Caller.Number, CallerName: n.Caller.Name,
				Parker: n.Parker, Note: n.Text})
			continue
		}
		out = append(out, e.HistoryRow)
	}
	writeJSON(w, http.StatusOK, out)
}

// historyFilter reads the query parameters of /api/history.
func historyFilter(q url.Values, now time.Time) (store.HistoryFilter, string, error) {
	f := store.HistoryFilter{
		Lot: q.Get("lot"), Call: parking.CallID(q.Get("call")), Parker: q.Get("parker"), Caller: q.Get("caller"),
		Newest: true,
	}
	var err error
	if f.Slot, err = nonNegative(q, "slot"); err != nil {
		return f, "", err
	}
	if f.Limit, err = nonNegative(q, "limit"); err != nil {
		return f, "", err
	}
	if f.Since, err = when(q, "since", now); err != nil {
		return f, "", err
	}
	if f.Until, err = when(q, "until", now); err != nil {
		return f, "", err
	}
	event := q.Get("event")
	if event != "" && event != "note" && !parking.Event(event).Valid() {
		return f, "", fmt.Errorf("event %q: want one of %v or note", event, parking.Events)
	}
	return f, event, nil
}

func nonNegative(q url.Values, key string) (int, error) {
	v := q.Get(key)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: want a whole number, 0 or more", key, v)
	}
	return n, nil
}

// when reads a time parameter: RFC 3339 ("2026-12-05T08:00:00Z") or a
// duration before now ("90m", "24h"). Absent: the zero time.
func when(q url.Values, key string, now time.Time) (time.Time, error) {
	v := q.Get(key)
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%s %q: want an RFC 3339 time (2026-12-05T08:00:00Z) or a duration ago (90m, 24h)", key, v)
}

// apiReport answers `parkd report --json` for the same parameters: from
// (default 24h ago), to (default now), by (lot, parker, retriever, hour,
// day, domain, node), domain (one domain's lots) and tz (an IANA zone, default
// UTC). Supervisors only; one restricted to domains gets theirs only.
func (s *Server) apiReport(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	if p.Role != RoleSupervisor {
		writeError(w, http.StatusForbidden, "reports are for supervisors")
		return
	}
	q := r.URL.Query()
	now := s.now()
	rq := store.ReportQuery{By: store.ReportBy(q.Get("by")), Location: time.UTC}
	if rq.By == "" {
		rq.By = store.ByLot
	}
	if !rq.By.Valid() {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("by %q: want lot, parker, retriever, hour, day, domain or node", rq.By))
		return
	}
	var ok bool
	if rq.Domains, ok = p.domains(q); !ok {
		writeError(w, http.StatusForbidden, "you may not see domain "+strconv.Quote(q.Get("domain")))
		return
	}
	if tz := q.Get("tz"); tz != "" {
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "Local" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("tz %q: want an IANA time zone (UTC, Europe/Paris, ...)", tz))
			return
		}
		rq.Location = loc
	}
	var err error
	if rq.From, err = when(q, "from", now); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if rq.To, err = when(q, "to", now); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if rq.From.IsZero() {
		rq.From = now.Add(-24 * time.Hour)
	}
	if rq.To.IsZero() {
		rq.To = now
	}
	if !rq.From.Before(rq.To) {
		writeError(w, http.StatusBadRequest, "from must be before to")
		return
	}
	rep, err := s.store.Report(r.Context(), rq)
	if err != nil {
		s.storeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, rep.JSON())
}

// storeError answers 400 for a filter the store refused, else 500.
func (s *Server) storeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, store.ErrInvalid) {
		writeError(w, http.StatusBadRequest, "invalid filter")
		return
	}
	s.internal(w, r, err)
}

// internal logs err and answers 500 without its text.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.log.Error().Err(err).Str("path", r.URL.Path).Msg("API request failed")
	writeError(w, http.StatusInternalServerError, "internal error")
}

// slotState names what is happening to a parked call.
func slotState(c parking.ParkedCall) string {
	if c.Recalling {
		return "recalling"
	}
	return "parked"
}
