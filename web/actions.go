package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Actions is what the board's actions on a parked call go through.
// parking.Service implements it; every method answers the sentinel errors
// of package parking (ErrNoCall, ErrMovedOn, ErrPickupFailed,
// ErrSwitchDown, ...), which actionError maps to status codes.
type Actions interface {
	Occupant(call parking.CallID) (parking.Occupant, error)
	Pickup(ctx context.Context, req parking.PickupRequest) (parking.Occupant, error)
	Move(ctx context.Context, call parking.CallID, lot string, slot int, by string) (parking.Occupant, error)
	Extend(ctx context.Context, call parking.CallID, d time.Duration, by string) (parking.Occupant, error)
	HangUpParked(ctx context.Context, call parking.CallID, by string) (parking.Occupant, error)
}

// Notes is where POST /api/calls/{call}/note writes. store.DB implements it.
type Notes interface {
	// AddNote fails with an error wrapping store.ErrInvalid for a bad
	// text, parking.ErrSlotEmpty when the slot is empty.
	AddNote(ctx context.Context, domain, lot string, slot int, text string, at time.Time) (store.Note, error)
}

// callRE is the form of a call ID in a URL: a channel UUID, or anything
// as tame. Others cannot name a parked call.
var callRE = regexp.MustCompile(`^[A-Za-z0-9-]{1,64}$`)

// actionJSON answers an action: the call after it.
type actionJSON struct {
	Event          string `json:"event"` // the history event the action recorded
	Lot            string `json:"lot"`
	Domain         string `json:"domain,omitempty"`
	Slot           int    `json:"slot"`
	Call           string `json:"call"`
	CallerName     string `json:"caller_name"`
	CallerNumber   string `json:"caller_number"`
	Parker         string `json:"parker"`
	ParkedAt       string `json:"parked_at"`
	NextRecall     string `json:"next_recall,omitempty"`
	RecallAttempts int    `json:"recall_attempts"`
	By             string `json:"by"`
}

func occupantJSON(event string, o parking.Occupant, by string) actionJSON {
	a := actionJSON{Event: event, Lot: o.Lot, Domain: o.Domain, Slot: o.Slot, Call: string(o.Call), CallerName: o.Caller.Name,
		CallerNumber: o.Caller.Number, Parker: o.Parker, ParkedAt: o.ParkedAt.UTC().Format(time.RFC3339),
		RecallAttempts: o.Attempts, By: by}
	if !o.Deadline.IsZero() {
		a.NextRecall = o.Deadline.UTC().Format(time.RFC3339)
	}
	return a
}

// actor is who an action names in the history: "web:<user>", or
// "web:token:<name>" for an API token.
func actor(p principal) string { return "web:" + p.Name }

// target finds the call of an action request and checks the principal may
// see it. A call of a lot (or a domain) they cannot see is answered 404
// like a call that does not exist, so that the lots they cannot see do not
// leak.
func (s *Server) target(w http.ResponseWriter, r *http.Request) (parking.Occupant, principal, bool) {
	p := who(r)
	if s.actions == nil {
		writeError(w, http.StatusNotFound, "not found")
		return parking.Occupant{}, p, false
	}
	call := r.PathValue("call")
	if !callRE.MatchString(call) {
		writeError(w, http.StatusNotFound, "no such parked call")
		return parking.Occupant{}, p, false
	}
	o, err := s.actions.Occupant(parking.CallID(call))
	if err != nil || !p.sees(o.Domain, o.Lot) {
		writeError(w, http.StatusNotFound, "no such parked call")
		return parking.Occupant{}, p, false
	}
	return o, p, true
}

// readBody reads a JSON body into v; an empty body leaves v as it is.
func readBody(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "bad JSON body: "+jsonProblem(err))
		return false
	}
	return true
}

// jsonProblem says what is wrong with a body without echoing much of it.
func jsonProblem(err error) string {
	var te *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &te):
		return fmt.Sprintf("field %q: want a %s", te.Field, te.Type)
	case errors.As(err, &mbe):
		return "too large"
	}
	msg := err.Error()
	if len(msg) > 80 {
		msg = msg[:80]
	}
	return msg
}

// actionError answers an action's failure. Each message says whether the
// call is still parked.
func (s *Server) actionError(w http.ResponseWriter, r *http.Request, err error) {
	var cf *parking.CallFailure
	switch {
	case errors.Is(err, parking.ErrSwitchDown):
		writeError(w, http.StatusServiceUnavailable, "not connected to FreeSWITCH; nothing was done and the call is still parked")
	case errors.Is(err, parking.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "parkd is shutting down")
	case errors.Is(err, parking.ErrNoCall):
		writeError(w, http.StatusNotFound, "no such parked call")
	case errors.Is(err, parking.ErrPickupFailed) && errors.As(err, &cf):
		writeError(w, http.StatusConflict, "the phone did not take the call ("+cf.Cause+"); the call is still parked")
	case errors.Is(err, parking.ErrPickupFailed):
		writeError(w, http.StatusConflict, "the phone did not take the call; the call is still parked")
	case errors.Is(err, parking.ErrMovedOn):
		writeError(w, http.StatusConflict, "the call moved on (retrieved, recalled, hung up or busy with another action)")
	case errors.Is(err, parking.ErrSlotTaken):
		writeError(w, http.StatusConflict, "that slot holds another call; the call is still where it was")
	case errors.Is(err, parking.ErrSlotEmpty):
		writeError(w, http.StatusConflict, "the call moved on: its slot is empty")
	case errors.Is(err, parking.ErrBadSlot), errors.Is(err, parking.ErrUnknownLot), errors.Is(err, parking.ErrInvalid),
		errors.Is(err, store.ErrInvalid):
		writeError(w, http.StatusBadRequest, clientMessage(err))
	default:
		s.log.Error().Err(err).Str("path", r.URL.Path).Msg("action failed")
		writeError(w, http.StatusInternalServerError, "internal error")
	}
}

// clientMessage is the text of a bad-input error, for the client: the
// sentinel and what follows it (the value's problem), not the call ID
// chain before it.
func clientMessage(err error) string {
	for _, sentinel := range []error{parking.ErrBadSlot, parking.ErrUnknownLot, parking.ErrInvalid, store.ErrInvalid} {
		if errors.Is(err, sentinel) {
			msg := err.Error()
			if i := strings.Index(msg, sentinel.Error()); i >= 0 {
				return msg[i:]
			}
			return sentinel.Error()
		}
	}
	return "bad request"
}

// apiPickup rings a phone and connects it to the call:
// {"extension": "2002"}, by default the user's own extension. It answers
// once the phone answered and was connected, or did not.
func (s *Server) apiPickup(w http.ResponseWriter, r *http.Request) {
	o, p, ok := s.target(w, r)
	if !ok {
		return
	}
	var body struct {
		Extension string `json:"extension"`
	}
	if !readBody(w, r, &body) {
		return
	}
	ext := body.Extension
	if ext == "" && !p.Token {
		ext = s.users[p.Name].Extension
	}
	switch {
	case ext == "":
		writeError(w, http.StatusBadRequest, "extension: required (no extension is configured for you)")
		return
	case !validExtension(ext):
		writeError(w, http.StatusBadRequest, "extension: want up to 64 digits, letters or + * # . _ - (not starting with -)")
		return
	}
	by := actor(p)
	if _, err := s.actions.Pickup(r.Context(), parking.PickupRequest{Call: o.Call, Extension: ext, By: by}); err != nil {
		s.actionError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Event     string `json:"event"`
		Lot       string `json:"lot"`
		Domain    string `json:"domain,omitempty"`
		Slot      int    `json:"slot"`
		Call      string `json:"call"`
		Extension string `json:"extension"`
		Retriever string `json:"retriever"`
	}{string(parking.EventRetrieved), o.Lot, o.Domain, o.Slot, string(o.Call), ext, by})
}

// apiNote attaches a note to the call: {"text": "..."} (see store.CleanNote).
func (s *Server) apiNote(w http.ResponseWriter, r *http.Request) {
	o, _, ok := s.target(w, r)
	if !ok {
		return
	}
	if s.notes == nil {
		writeError(w, http.StatusNotFound, "not found")
		return
	}
	var body struct {
		Text string `json:"text"`
	}
	if !readBody(w, r, &body) {
		return
	}
	n, err := s.notes.AddNote(r.Context(), o.Domain, o.Lot, o.Slot, body.Text, s.now())
	if err != nil {
		s.actionError(w, r, err)
		return
	}
	if n.Call != o.Call {
		// The call left its slot and another took it between the lookup
		// and the write: the note went to the call now there.
		s.log.Warn().Str("lot", n.Lot).Int("slot", n.Slot).Str("call", string(o.Call)).Str("noted", string(n.Call)).
			Msg("a note meant for a call that just left its slot was attached to the call that took it")
		writeError(w, http.StatusConflict, "the call moved on before the note was written")
		return
	}
	writeJSON(w, http.StatusOK, struct {
		At     string `json:"at"`
		Lot    string `json:"lot"`
		Domain string `json:"domain,omitempty"`
		Slot   int    `json:"slot"`
		Call   string `json:"call"`
		Text   string `json:"text"`
	}{n.At.UTC().Format("2006-01-02T15:04:05.000Z"), n.Lot, n.Domain, n.Slot, string(n.Call), n.Text})
}

// apiMove moves the call to another slot: {"slot": 205, "lot": "vip"}
// (lot optional: the call's own).
func (s *Server) apiMove(w http.ResponseWriter, r *http.Request) {
	o, p, ok := s.target(w, r)
	if !ok {
		return
	}
	var body struct {
		Lot  string `json:"lot"`
		Slot int    `json:"slot"`
	}
	if !readBody(w, r, &body) {
		return
	}
	if body.Slot <= 0 {
		writeError(w, http.StatusBadRequest, "slot: required, a positive number")
		return
	}
	if body.Lot != "" && !p.sees(o.Domain, body.Lot) {
		writeError(w, http.StatusBadRequest, clientMessage(fmt.Errorf("%w: %s", parking.ErrUnknownLot, strconv.Quote(body.Lot))))
		return
	}
	by := actor(p)
	after, err := s.actions.Move(r.Context(), o.Call, body.Lot, body.Slot, by)
	if err != nil {
		s.actionError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, occupantJSON(string(parking.EventMoved), after, by))
}

// apiExtend pushes the call's recall back: {"seconds": 120}.
func (s *Server) apiExtend(w http.ResponseWriter, r *http.Request) {
	o, p, ok := s.target(w, r)
	if !ok {
		return
	}
	var body struct {
		Seconds int `json:"seconds"`
	}
	if !readBody(w, r, &body) {
		return
	}
	lo, hi := int(parking.MinExtend/time.Second), int(parking.MaxExtend/time.Second)
	if body.Seconds < lo || body.Seconds > hi {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("seconds: want %d to %d", lo, hi))
		return
	}
	by := actor(p)
	after, err := s.actions.Extend(r.Context(), o.Call, time.Duration(body.Seconds)*time.Second, by)
	if err != nil {
		s.actionError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, occupantJSON(string(parking.EventExtended), after, by))
}

// apiHangup hangs the call up. Supervisors only.
func (s *Server) apiHangup(w http.ResponseWriter, r *http.Request) {
	if who(r).Role != RoleSupervisor {
		writeError(w, http.StatusForbidden, "hanging up a call is for supervisors")
		return
	}
	o, p, ok := s.target(w, r)
	if !ok {
		return
	}
	by := actor(p)
	if _, err := s.actions.HangUpParked(r.Context(), o.Call, by); err != nil {
		s.actionError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, occupantJSON(string(parking.EventHungup), o, by))
}
