package esl

import (
	"context"
	"fmt"
	"time"

	"github.com/percipia/eslgo/command"
	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
)

// A retrieve dialled on one node for a call parked on another (lots shared
// by several nodes, parking/nodes.go) crosses over SIP. On the retriever's
// node, parkd writes the token on the retriever's channel (VarHopOut) and
// transfers it to the extension parkd_hop_<node> that `parkd fsconf`
// writes: it bridges the channel to the call's node with the token in the
// INVITE's X-Parkd-Token header (sip_h_X-Parkd-Token). There, the
// extension parkd_hop sends the incoming call to parkd with parkd_action
// hop, and parkd reads the header back (VarHopToken) and bridges the call
// only if the shared store still has the token for that call and node.

const (
	// VarHopOut carries the token on the retriever's channel to the
	// dialplan that bridges it to the other node.
	VarHopOut = "parkd_hop_token"
	// VarHopToken is the X-Parkd-Token header of an incoming INVITE, as
	// FreeSWITCH presents an X- header: a channel variable sip_h_<name>.
	VarHopToken = "sip_h_X-Parkd-Token"
	// HopExtensionPrefix + node name is the extension that sends a
	// retriever to that node; HopExtension receives one.
	HopExtensionPrefix = "parkd_hop_"
	HopExtension       = "parkd_hop"
)

var nodeRE = lotRE // conf gives node names the rule of lot names

// hopCommands builds what sends the channel uuid to node with token: the
// token set on the channel, then the transfer to parkd_hop_<node> in
// context.
func hopCommands(uuid, node, token, context string) (set, transfer command.API, err error) {
	if !parking.ValidHopToken(token) {
		return set, transfer, unsafe("hop token", token)
	}
	if !nodeRE.MatchString(node) {
		return set, transfer, unsafe("node", node)
	}
	if set, err = setVars(uuid, [][2]string{{VarHopOut, token}}); err != nil {
		return set, transfer, err
	}
	if transfer, err = transferTo(uuid, HopExtensionPrefix+node, context); err != nil {
		return set, transfer, err
	}
	return set, transfer, nil
}

// Hop implements parking.Hopper: the leg goes to node h.To carrying
// h.Token. Once transferred it leaves parkd's socket; the switch's
// dialplan and the other node take it from there.
func (l *callLeg) Hop(ctx context.Context, h parking.Hop) error {
	set, transfer, err := hopCommands(l.uuid, h.To, h.Token, l.context)
	if err != nil {
		return fmt.Errorf("hop: %w", err)
	}
	for _, cmd := range []command.API{set, transfer} {
		reply, err := l.api(ctx, cmd.Command, cmd.Arguments)
		if err != nil {
			return fmt.Errorf("hop to node %s: %w", h.To, err)
		}
		if len(reply) < 3 || reply[:3] != "+OK" {
			return fmt.Errorf("hop to node %s: %s: unexpected reply %q", h.To, cmd.Command, clip(reply))
		}
	}
	return nil
}

// HopParking is what a hop needs of Parking; parking.Service implements
// it. A Parking without it refuses hops.
type HopParking interface {
	RetrieveHop(ctx context.Context, leg parking.Leg, token string) (parking.Occupant, error)
}

// hop takes a retriever another node sent here.
func (s *Server) hop(ctx context.Context, leg *callLeg, req Request, start time.Time, log zerolog.Logger) {
	hp, ok := s.parking.(HopParking)
	if !ok {
		log.Warn().Msg("cross-node retrieve refused: this parkd does not take them")
		_ = leg.Refuse(ctx, "")
		return
	}
	occ, err := hp.RetrieveHop(ctx, leg, req.Token)
	if err != nil {
		log.Info().Err(err).Msg("cross-node retrieve failed")
		return
	}
	s.observe("retrieve", occ.Lot, start, leg)
	leg.waitGone(s.stop)
}
