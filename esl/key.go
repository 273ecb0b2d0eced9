package esl

import (
	"context"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
)

// keyRequest turns a busy-lamp key dialled (ActionKey) into the park or
// the retrieve it stands for. One key does both, the way phones are set up
// for valet parking:
//   - a call transferred to the key (it carries the REFER's traces) is
//     parked there: in the key's slot, or for a lot's key in the lot's
//     lowest free slot;
//   - a phone dialling the key itself retrieves: the call in the slot, or
//     for a lot's key the lot's longest-waiting call. An empty slot gives
//     the failed retrieve's error tone; the person dialling is never parked.
//
// A slot's key names no lot (park+<slot>): the lot is the one whose range
// holds the slot (Parking.LotOfSlot). When none does, the lot is left to
// the default and parking refuses the slot as out of range.
func keyRequest(req Request, lotOfSlot func(string, int) (string, bool)) (park bool, lot string, slot int) {
	lot, slot = req.Lot, req.Slot
	if lot == "" && slot != 0 {
		if l, ok := lotOfSlot(req.Domain, slot); ok {
			lot = l
		}
	}
	return req.Transferred, lot, slot
}

// key serves ActionKey: a park for a transferred call, else a retrieve.
func (s *Server) key(ctx context.Context, leg *callLeg, req Request, start time.Time, log zerolog.Logger) {
	park, lot, slot := keyRequest(req, s.parking.LotOfSlot)
	log = log.With().Bool("transferred", park).Str("key_lot", lot).Logger()
	if park {
		s.park(ctx, leg, req, lot, slot, start, log)
		return
	}
	s.retrieve(ctx, leg, req, lot, slot, start, log)
}

// park hands a park request to Parking; start is when the call's socket
// connected, for Observe.
func (s *Server) park(ctx context.Context, leg *callLeg, req Request, lot string, slot int, start time.Time, log zerolog.Logger) {
	occ, err := s.parking.Park(ctx, parking.ParkRequest{
		Leg: leg, Caller: req.Caller, Parker: req.Parker, ParkerDomain: req.ParkerDomain,
		Lot: lot, Slot: slot, Domain: req.Domain, Dialog: req.Dialog, Replaces: req.Replaces, SelfPark: !req.Transferred,
	})
	if err != nil {
		// parking has logged the outcome; this only ties it to the socket.
		log.Debug().Err(err).Msg("park failed")
		return
	}
	s.observe("park", occ.Lot, start, leg)
}

// retrieve hands a retrieve request to Parking and, when the retriever is
// bridged, keeps its socket until its call ends or Shutdown: the bridge is
// FreeSWITCH's from there on.
func (s *Server) retrieve(ctx context.Context, leg *callLeg, req Request, lot string, slot int, start time.Time, log zerolog.Logger) {
	occ, err := s.parking.Retrieve(ctx, parking.RetrieveRequest{
		Leg: leg, Retriever: req.Caller.Number, Lot: lot, Slot: slot, Domain: req.Domain,
	})
	if err != nil {
		log.Debug().Err(err).Msg("retrieve failed")
		return
	}
	s.observe("retrieve", occ.Lot, start, leg)
	if leg.isReleased() {
		return // a sync socket: the channel went on at the bridge
	}
	leg.waitGone(s.stop)
}
