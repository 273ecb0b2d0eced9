package parking

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Several FreeSWITCH nodes can share lots: one parkd per node, each with
// its own switch connection and its own calls (their media runs through
// that node), all on one shared store. The store settles who holds a
// slot (SlotClaims) and hands a retriever across nodes (Nodes); each
// Service still decides only for the calls on its own node.

// SlotClaims claims slots in a store shared by several nodes, so that two
// nodes never park calls in one slot of a shared lot. store.DB implements
// it on PostgreSQL.
type SlotClaims interface {
	// ClaimSlot takes o's slot for o.Call on this node before the call is
	// answered. It returns an error wrapping ErrSlotTaken if a call of
	// another node holds the slot; of two nodes claiming one slot at once,
	// exactly one succeeds.
	ClaimSlot(ctx context.Context, o Occupant) error
	// Unclaim gives back the claim of call, whose park did not complete.
	Unclaim(ctx context.Context, call CallID) error
	// MoveClaim moves call's claim to domain's lot and slot (Move),
	// failing with ErrSlotTaken if a call of another node holds it.
	MoveClaim(ctx context.Context, call CallID, domain, lot string, slot int) error
}

// RemoteCall is a call parked on another node of a shared lot.
type RemoteCall struct {
	Node     string
	Call     CallID
	Domain   string
	Lot      string
	Slot     int
	ParkedAt time.Time
}

// Hop is a retrieve that crosses nodes: the retriever, on node From, is
// sent to node To, where Call is parked, carrying Token. The receiving
// parkd bridges it only after consuming the token: once, before Expires,
// for that call.
type Hop struct {
	Token     string
	Call      CallID
	Domain    string
	Lot       string
	Slot      int
	From, To  string
	Retriever string
	Expires   time.Time
}

// HopTokenLen is the length of a hop token: 16 random bytes in lowercase
// hex.
const HopTokenLen = 32

// ValidHopToken reports whether s has a hop token's form (HopTokenLen
// lowercase hex digits): the form the store issues, the switch's dialplan
// lets through, and a command or a query may carry.
func ValidHopToken(s string) bool {
	if len(s) != HopTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Nodes is what the Service needs of the other nodes sharing its lots.
// store.DB implements it on PostgreSQL.
type Nodes interface {
	// RemoteCall finds the call another node has parked in lot's slot
	// (slot 0: the one of the lot that has waited longest); ok is false
	// if there is none.
	RemoteCall(ctx context.Context, domain, lot string, slot int) (rc RemoteCall, ok bool, err error)
	// IssueHop stores a new single-use token for h and returns h with
	// its Token and Expires set.
	IssueHop(ctx context.Context, h Hop) (Hop, error)
	// ConsumeHop takes the token addressed to this node out of the store
	// and returns its hop; an unknown, used or expired token is an error
	// wrapping ErrHopRefused.
	ConsumeHop(ctx context.Context, token string) (Hop, error)
}

// Hopper is a Leg that can be sent to another node: the esl package's
// socket legs are.
type Hopper interface {
	// Hop sends the leg to node h.To, carrying h.Token; parkd lets go of
	// the leg once the switch has taken it.
	Hop(ctx context.Context, h Hop) error
}

// ErrHopRefused: a cross-node retrieve arrived with a token that is
// unknown, used already, expired or for another call.
var ErrHopRefused = errors.New("cross-node retrieve refused")

// claimShared claims c's slot in the shared store. A slot another node
// holds is skipped as a taken slot is: a park into the next free slot
// tries the next, a directed park is refused (or, with NextIfTaken, moves
// on). It returns the slot the call finally holds, or the refusal, which
// it has recorded. Called without s.mu, with c marked in the slot table.
func (s *Service) claimShared(ctx context.Context, req ParkRequest, c claimed) (claimed, error) {
	skip := map[lotKey]map[int]bool{}
	for {
		// Rows of calls this node let go of may still be queued: written
		// first, they free their slots in the store too.
		_ = s.jour.flush(ctx)
		err := s.Claims.ClaimSlot(ctx, c.entry.occ)
		if err == nil {
			return c, nil
		}
		s.mu.Lock()
		e := c.entry
		s.release(e)
		if errors.Is(err, ErrSlotTaken) && !c.replaces {
			k := e.occ.lotKey()
			if skip[k] == nil {
				skip[k] = map[int]bool{}
			}
			skip[k][e.occ.Slot] = true
			var next claimed
			if next, err = s.claimAvoiding(req.Leg.Call(), req, skip); err == nil {
				c = next
				s.mu.Unlock()
				s.Logger.Info().Str("lot", k.String()).Int("slot", e.occ.Slot).Int("instead", c.entry.occ.Slot).
					Msg("slot held on another node; trying the next")
				continue
			}
		}
		if !errors.Is(err, ErrSlotTaken) && !errors.Is(err, ErrLotFull) && !errors.Is(err, ErrBadSlot) {
			err = fmt.Errorf("claim slot %s/%d: %w", e.occ.Lot, e.occ.Slot, err)
		}
		s.commit(Transition{Event: EventRejected, Reason: err.Error()}, &entry{occ: Occupant{
			Lot: e.occ.Lot, Domain: e.occ.Domain, Slot: req.Slot, Call: e.occ.Call, Caller: req.Caller, Parker: req.Parker,
		}})
		s.mu.Unlock()
		s.flush(ctx)
		return claimed{}, err
	}
}

// claimAvoiding picks and takes a slot for req in its lot, with the slots
// in skip (held on other nodes; nil for none) counted as taken: claim's
// last step, and a retry's when the shared store refused a slot. Called
// with s.mu held.
func (s *Service) claimAvoiding(call CallID, req ParkRequest, skip map[lotKey]map[int]bool) (claimed, error) {
	if s.closed {
		return claimed{}, ErrClosed
	}
	l, err := s.lot(s.domainOf(req.Domain), req.Lot)
	if err != nil {
		return claimed{}, err
	}
	c, err := choose(l, req.Slot, s.byName, skip)
	if err != nil {
		return claimed{}, err
	}
	return s.take1(call, req, c), nil
}

// giveBackClaim gives back call's claim in the shared store, if there is one:
// its park failed before anything was recorded. Called without s.mu.
func (s *Service) giveBackClaim(ctx context.Context, call CallID) {
	if s.Claims == nil {
		return
	}
	if err := s.Claims.Unclaim(ctx, call); err != nil {
		s.Logger.Error().Err(err).Str("call", string(call)).Msg("could not give back a slot claim; the slot stays held in the store until this call's row is cleared")
	}
}

// retrieveRemote sends req's retriever to the node where the call it asks
// for is parked, when another node has one: with a token the store keeps,
// which that node's parkd consumes before it bridges. ok is false when no
// other node holds such a call (or it cannot be looked up), and the
// retrieve goes on here as a local one that found nothing. Called without
// s.mu.
func (s *Service) retrieveRemote(ctx context.Context, req RetrieveRequest) (Occupant, error, bool) {
	if _, can := req.Leg.(Hopper); !can {
		return Occupant{}, nil, false
	}
	rc, ok := s.remoteCall(ctx, req)
	if !ok {
		return Occupant{}, nil, false
	}
	occ, err := s.hop(ctx, req, rc)
	return occ, err, true
}

// remoteCall finds the call another node holds that req asks for.
// Called without s.mu.
func (s *Service) remoteCall(ctx context.Context, req RetrieveRequest) (RemoteCall, bool) {
	s.mu.Lock()
	domain := s.domainOf(req.Domain)
	l, err := s.lot(domain, req.Lot)
	s.mu.Unlock()
	if err != nil {
		return RemoteCall{}, false
	}
	rc, ok, err := s.Nodes.RemoteCall(ctx, l.cfg.Domain, l.cfg.Name, req.Slot)
	if err != nil {
		s.Logger.Error().Err(err).Str("lot", l.cfg.Name).Int("slot", req.Slot).Msg("could not look for the call on other nodes")
		return RemoteCall{}, false
	}
	return rc, ok
}

// olderRemote is, for a retrieve of a lot's longest-waiting call (slot
// 0), the call another node holds when it has waited longer than every
// call parked here. Called without s.mu.
func (s *Service) olderRemote(ctx context.Context, req RetrieveRequest) (RemoteCall, bool) {
	if _, can := req.Leg.(Hopper); !can {
		return RemoteCall{}, false
	}
	rc, ok := s.remoteCall(ctx, req)
	if !ok {
		return RemoteCall{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, err := s.lot(s.domainOf(req.Domain), req.Lot)
	if err != nil {
		return RemoteCall{}, false
	}
	if local := l.longest(); local != nil && !rc.ParkedAt.Before(local.occ.ParkedAt) {
		return RemoteCall{}, false // this node's waited as long: it goes first
	}
	return rc, true
}

// hop sends req's retriever to rc's node with a new token.
func (s *Service) hop(ctx context.Context, req RetrieveRequest, rc RemoteCall) (Occupant, error) {
	hopper := req.Leg.(Hopper)
	h, err := s.Nodes.IssueHop(ctx, Hop{Call: rc.Call, Domain: rc.Domain, Lot: rc.Lot, Slot: rc.Slot, To: rc.Node, Retriever: req.Retriever})
	if err == nil {
		err = hopper.Hop(ctx, h)
	}
	log := s.Logger.With().Str("lot", rc.Lot).Int("slot", rc.Slot).Str("call", string(rc.Call)).Str("node", rc.Node).
		Str("retriever", req.Retriever).Logger()
	if err != nil {
		log.Warn().Err(err).Msg("could not send the retriever to the call's node")
		s.refuse(ctx, req.Leg, "", err)
		return Occupant{}, fmt.Errorf("retrieve %s/%d on node %s: %w", rc.Lot, rc.Slot, rc.Node, err)
	}
	log.Info().Msg("retriever sent to the call's node")
	return Occupant{Lot: rc.Lot, Domain: rc.Domain, Slot: rc.Slot, Call: rc.Call}, nil
}

// RetrieveHop takes a retriever another node sent here with token: the
// token is consumed (once, unexpired, addressed to this node) and the
// retriever bridged to the call it names, as a local retrieve of that
// call would be; the history row names both nodes. Without a valid token
// the retriever hears the error tone and is hung up, so the hop reaches no
// parked call for anyone who did not dial a retrieve on another node.
func (s *Service) RetrieveHop(ctx context.Context, leg Leg, token string) (Occupant, error) {
	if s.Nodes == nil {
		err := fmt.Errorf("%w: this parkd shares no lots with other nodes", ErrHopRefused)
		s.refuse(ctx, leg, "", err)
		return Occupant{}, err
	}
	h, err := s.Nodes.ConsumeHop(ctx, token)
	if err != nil {
		s.Logger.Warn().Err(err).Str("call", string(leg.Call())).Msg("cross-node retrieve refused")
		s.refuse(ctx, leg, "", err)
		return Occupant{}, err
	}
	return s.Retrieve(ctx, RetrieveRequest{
		Leg: leg, Retriever: h.Retriever, Lot: h.Lot, Slot: h.Slot, Domain: h.Domain, Call: h.Call, Via: h.From,
	})
}

// moveShared is Move when lots are shared with other nodes: the call's
// claim moves in the store first, so that a slot another node holds is
// refused (ErrSlotTaken) before anything changes here; if the move then
// fails here, the claim goes back.
func (s *Service) moveShared(ctx context.Context, call CallID, lotName string, slot int, by string) (Occupant, error) {
	s.mu.Lock()
	e, ok := s.calls[call]
	var from Occupant
	if ok {
		from = e.occ
	}
	s.mu.Unlock()
	if !ok {
		return s.move(ctx, call, lotName, slot, by) // its error says why
	}
	to := lotName
	if to == "" {
		to = from.Lot
	}
	if err := s.Claims.MoveClaim(ctx, call, from.Domain, to, slot); err != nil {
		return Occupant{}, fmt.Errorf("move %s: %w", call, err)
	}
	occ, err := s.move(ctx, call, lotName, slot, by)
	if err != nil {
		if berr := s.Claims.MoveClaim(context.WithoutCancel(ctx), call, from.Domain, from.Lot, from.Slot); berr != nil {
			s.Logger.Error().Err(berr).Str("call", string(call)).Msg("a move failed and its slot claim could not go back")
		}
	}
	return occ, err
}
