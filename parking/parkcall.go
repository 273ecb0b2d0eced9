package parking

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// CallPark asks to park the call a phone is talking on, as if the phone had
// blind-transferred it to the park code: the far party is parked and the
// phone is its parker.
type CallPark struct {
	Extension string // the phone, e.g. "1001"
	Lot       string // "" for the default lot of the phone's domain
	Slot      int    // 0 for the lowest free slot
	// Domain, when set, is the only domain the call may be parked in: the
	// domains a web user is restricted to are checked by the caller, and
	// a phone of another domain is refused with ErrNoCall. "" takes the
	// phone's own domain, as the switch reports it.
	Domain string
}

// ParkCall parks the far party of req.Extension's current call and then
// ends the phone's own leg, as a blind transfer would. The far party goes
// through Park like any other call, so the same races are settled the same
// way (two parks for one slot: one wins; a far party that hangs up
// meanwhile is recorded as abandoned), with one difference: a park that is
// refused (ErrSlotTaken, ErrLotFull, ...) leaves the call as it was, still
// talking, since nobody transferred it anywhere yet.
//
// It moves the far party in place (Talks.Remote) rather than sending it
// through the dialplan to the park extension: the slot is claimed while
// the call is still bridged, so a refusal never unbridges it, and the
// caller learns the outcome directly, without waiting for the call to come
// back over a socket. Errors: those of Park, ErrNoCall, ErrSwitchDown,
// ErrUnsupported.
func (s *Service) ParkCall(ctx context.Context, req CallPark) (Occupant, error) {
	talks, ok := s.sw.(Talks)
	if !ok {
		return Occupant{}, fmt.Errorf("park the call of %s: %w", req.Extension, ErrUnsupported)
	}
	if req.Extension == "" {
		return Occupant{}, fmt.Errorf("park a call: no extension: %w", ErrNoCall)
	}
	t, err := talks.Talk(ctx, req.Extension)
	if err != nil {
		return Occupant{}, fmt.Errorf("park the call of %s: %w", req.Extension, err)
	}
	if req.Domain != "" && !strings.EqualFold(req.Domain, t.Domain) {
		return Occupant{}, fmt.Errorf("park the call of %s: %w: the phone is not in domain %s", req.Extension, ErrNoCall, req.Domain)
	}
	occ, err := s.Park(ctx, ParkRequest{
		Leg: talks.Remote(t.Far), Caller: t.Caller, Parker: req.Extension, ParkerDomain: t.Domain,
		Lot: req.Lot, Slot: req.Slot, Domain: t.Domain,
	})
	if err != nil {
		return Occupant{}, fmt.Errorf("park the call of %s: %w", req.Extension, err)
	}
	// The far party hears the music now: the phone's leg ends as a blind
	// transfer ends it. It may have ended already (the bridge it ran
	// ended, and its dialplan hung it up).
	if err := s.sw.Kill(ctx, t.Own, "NORMAL_CLEARING"); err != nil && !errors.Is(err, ErrCallGone) {
		s.Logger.Warn().Err(err).Str("call", string(t.Own)).Str("extension", req.Extension).
			Msg("the parked call's other leg could not be hung up")
	}
	s.Logger.Info().Str("lot", occ.Lot).Int("slot", occ.Slot).Str("call", string(occ.Call)).
		Str("extension", req.Extension).Msg("parked the far party of a phone's call")
	return occ, nil
}
