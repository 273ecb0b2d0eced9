package esl

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/percipia/eslgo/command"

	"github.com/parkd/parkd/parking"
)

// Bridge implements parking.Switch with `uuid_bridge <parked> <leg>` on the
// inbound connection, the parked call first
// (docs/freeswitch.md#bridge-argument-order). It returns an error wrapping
// parking.ErrCallGone when FreeSWITCH knows either channel no more.
func (c *Client) Bridge(ctx context.Context, parked, leg parking.CallID) error {
	cmd, err := bridge(string(parked), string(leg))
	if err != nil {
		return fmt.Errorf("bridge %s to %s: %w", parked, leg, err)
	}
	if err := c.control(ctx, cmd); err != nil {
		return fmt.Errorf("bridge %s to %s: %w", parked, leg, err)
	}
	return nil
}

// Kill implements parking.Switch with `uuid_kill <call> <cause>`. An empty
// cause lets FreeSWITCH use NORMAL_CLEARING. It returns an error wrapping
// parking.ErrCallGone when the channel is already gone.
func (c *Client) Kill(ctx context.Context, call parking.CallID, cause string) error {
	cmd, err := kill(string(call), cause)
	if err != nil {
		return fmt.Errorf("kill %s: %w", call, err)
	}
	if err := c.control(ctx, cmd); err != nil {
		return fmt.Errorf("kill %s: %w", call, err)
	}
	return nil
}

// Transfer implements parking.Switch with
// `uuid_transfer <call> <extension> [<dialplan> [<context>]]`. It returns an
// error wrapping parking.ErrCallGone when the channel is gone.
func (c *Client) Transfer(ctx context.Context, call parking.CallID, to parking.Destination) error {
	cmd, err := transferDest(string(call), to)
	if err != nil {
		return fmt.Errorf("transfer %s to %q: %w", call, to, err)
	}
	if err := c.control(ctx, cmd); err != nil {
		return fmt.Errorf("transfer %s to %q: %w", call, to, err)
	}
	return nil
}

// MarkSlot implements parking.Switch with
// `uuid_setvar_multi <call> parkd_lot=<lot>;parkd_slot=<slot>`: the lot and
// slot a moved call now holds, as Survey reads them. It returns an error
// wrapping parking.ErrCallGone when the channel is gone.
func (c *Client) MarkSlot(ctx context.Context, call parking.CallID, lot string, slot int) error {
	cmd, err := markSlot(string(call), lot, slot)
	if err != nil {
		return fmt.Errorf("mark %s as in %s/%d: %w", call, lot, slot, err)
	}
	if err := c.control(ctx, cmd); err != nil {
		return fmt.Errorf("mark %s as in %s/%d: %w", call, lot, slot, err)
	}
	return nil
}

// markSlot builds MarkSlot's command; the lot must be a lot name as conf
// allows it and the slot positive.
func markSlot(uuid, lot string, slot int) (command.API, error) {
	if !lotRE.MatchString(lot) {
		return command.API{}, unsafe("lot", lot)
	}
	if slot <= 0 {
		return command.API{}, unsafe("slot", strconv.Itoa(slot))
	}
	return setVars(uuid, [][2]string{{VarLot, lot}, {VarSlot, strconv.Itoa(slot)}})
}

// control runs an api command whose success reply starts with +OK. A -ERR
// is returned as the *APIError, which matches parking.ErrCallGone when it
// says the channel does not exist.
func (c *Client) control(ctx context.Context, cmd command.API) error {
	reply, err := c.API(ctx, cmd)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(reply, "+OK") {
		return fmt.Errorf("%s: unexpected reply %q", cmd.Command, clip(strings.TrimSpace(reply)))
	}
	return nil
}

// kill builds `uuid_kill <uuid> [<cause>]`.
func kill(uuid, cause string) (command.API, error) {
	if !ValidUUID(uuid) {
		return command.API{}, unsafe("uuid", uuid)
	}
	if cause == "" {
		return apiCommand("uuid_kill", uuid), nil
	}
	if !causeRE.MatchString(cause) {
		return command.API{}, unsafe("cause", cause)
	}
	return apiCommand("uuid_kill", uuid, cause), nil
}

// transferDest builds `uuid_transfer <uuid> <ext> [<dialplan> [<context>]]`
// as parking.Destination.String renders it: the dialplan defaults to XML
// when only a context is given. No part may start with '-', which
// uuid_transfer would read as -bleg or -both.
func transferDest(uuid string, to parking.Destination) (command.API, error) {
	if !ValidUUID(uuid) {
		return command.API{}, unsafe("uuid", uuid)
	}
	args := []string{uuid}
	for _, part := range []struct{ what, v string }{
		{"extension", to.Extension}, {"dialplan", to.Dialplan}, {"context", to.Context},
	} {
		if part.what != "extension" && part.v == "" {
			continue
		}
		if !tokenRE.MatchString(part.v) || strings.HasPrefix(part.v, "-") {
			return command.API{}, unsafe(part.what, part.v)
		}
	}
	args = append(args, to.Extension)
	if to.Dialplan != "" || to.Context != "" {
		args = append(args, cmp.Or(to.Dialplan, "XML"))
	}
	if to.Context != "" {
		args = append(args, to.Context)
	}
	return apiCommand("uuid_transfer", args...), nil
}
