package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/parkd/parkd/parking"
)

// CallParker parks the call a phone is talking on (the board's "Park my
// call"). parking.Service implements it.
type CallParker interface {
	ParkCall(ctx context.Context, req parking.CallPark) (parking.Occupant, error)
}

// parkRequest is the body of POST /api/park.
type parkRequest struct {
	Extension string `json:"extension"`
	Lot       string `json:"lot"`
	Slot      int    `json:"slot"`
	// Domain is the domain the phone (and so the lot) must be in: needed
	// from a user restricted to several domains, implied for one
	// restricted to one; "" otherwise takes the phone's own.
	Domain string `json:"domain"`
}

// parkReply is its answer: where the call went.
type parkReply struct {
	Lot    string `json:"lot"`
	Slot   int    `json:"slot"`
	Call   string `json:"call"`
	Parker string `json:"parker"`
}

// apiPark parks the far party of an extension's current call, as if the
// phone had blind-transferred it to the park code. The extension defaults
// to the logged-in user's own; a token must name one. An agent limited to
// some lots parks into those only (the first of them when no lot is named).
func (s *Server) apiPark(w http.ResponseWriter, r *http.Request) {
	if s.parker == nil {
		writeError(w, http.StatusServiceUnavailable, "parking calls from the board is not available")
		return
	}
	p := who(r)
	var req parkRequest
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "body: want {\"extension\": \"1001\", \"lot\": \"...\", \"slot\": 202}")
		return
	}
	if req.Extension == "" && p.session != nil {
		req.Extension = s.users[p.Name].Extension
	}
	switch {
	case req.Extension == "":
		writeError(w, http.StatusBadRequest, "extension: name the phone whose call to park")
		return
	case !validExtension(req.Extension):
		writeError(w, http.StatusBadRequest, "extension: digits, letters, * # + - . _ only")
		return
	case req.Slot < 0:
		writeError(w, http.StatusBadRequest, "slot: want a positive number")
		return
	}
	if req.Lot == "" && p.Role != RoleSupervisor && len(p.Lots) > 0 {
		req.Lot = p.Lots[0]
	}
	if req.Domain == "" && len(p.Domains) == 1 {
		req.Domain = p.Domains[0]
	}
	switch {
	case req.Domain == "" && len(p.Domains) > 1:
		writeError(w, http.StatusBadRequest, "domain: say which of your domains the phone is in")
		return
	case req.Domain != "" && !p.seesDomain(req.Domain):
		writeError(w, http.StatusForbidden, "you may not park in domain "+strconv.Quote(req.Domain))
		return
	case req.Lot != "" && !p.sees(req.Domain, req.Lot):
		writeError(w, http.StatusForbidden, "you may not park into lot "+strconv.Quote(req.Lot))
		return
	}
	occ, err := s.parker.ParkCall(r.Context(), parking.CallPark{Extension: req.Extension, Lot: req.Lot, Slot: req.Slot, Domain: req.Domain})
	if err != nil {
		status, msg := parkError(req, err)
		if status == http.StatusInternalServerError {
			s.internal(w, r, err)
			return
		}
		s.log.Info().Err(err).Str("user", p.Name).Str("extension", req.Extension).Msg("park from the API refused")
		writeError(w, status, msg)
		return
	}
	s.log.Info().Str("user", p.Name).Str("extension", req.Extension).Str("lot", occ.Lot).Int("slot", occ.Slot).
		Str("call", string(occ.Call)).Msg("parked a phone's call from the API")
	writeJSON(w, http.StatusOK, parkReply{Lot: occ.Lot, Slot: occ.Slot, Call: string(occ.Call), Parker: occ.Parker})
}

// parkError is the status and message for a refused park.
func parkError(req parkRequest, err error) (int, string) {
	switch {
	case errors.Is(err, parking.ErrNoCall):
		return http.StatusNotFound, "extension " + req.Extension + " has no call"
	case errors.Is(err, parking.ErrSlotTaken):
		return http.StatusConflict, "slot " + strconv.Itoa(req.Slot) + " is taken"
	case errors.Is(err, parking.ErrLotFull):
		return http.StatusConflict, "the lot is full"
	case errors.Is(err, parking.ErrCallGone), errors.Is(err, parking.ErrAlreadyParked):
		return http.StatusConflict, "the call moved on"
	case errors.Is(err, parking.ErrUnknownLot):
		return http.StatusBadRequest, "lot: no such lot"
	case errors.Is(err, parking.ErrBadSlot):
		return http.StatusBadRequest, "slot: outside the lot's range"
	case errors.Is(err, parking.ErrSwitchDown), errors.Is(err, parking.ErrClosed):
		return http.StatusServiceUnavailable, "not connected to FreeSWITCH"
	case errors.Is(err, parking.ErrUnsupported):
		return http.StatusServiceUnavailable, "parking calls from the board is not available"
	case errors.Is(err, parking.ErrAmbiguousCall):
		return http.StatusConflict, "extension " + req.Extension + " has several calls; hang up or hold all but one"
	default:
		return http.StatusInternalServerError, ""
	}
}

// validExtension is what a phone's extension may be: a dial-plan token.
func validExtension(s string) bool {
	if len(s) > 64 || s[0] == '-' {
		return false
	}
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '*', c == '#', c == '+', c == '-', c == '.', c == '_':
		default:
			return false
		}
	}
	return true
}
