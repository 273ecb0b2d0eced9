package esl

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// setPresence makes c subscribe to PRESENCE_PROBE and hand probes and
// reconnects to p. It takes effect from the next connection.
func (c *Client) setPresence(p *Presence) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.presence = p
}

func (c *Client) presenceHook() *Presence {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.presence
}

// eventNames are the events to subscribe to: PRESENCE_PROBE only with a
// Presence, since a switch sends one for every SUBSCRIBE of every phone.
func (c *Client) eventNames() []string {
	if c.presenceHook() == nil {
		return subscribed
	}
	return append(append([]string(nil), subscribed...), "PRESENCE_PROBE")
}

// ValetLoaded reports whether mod_valet_parking is loaded: it answers every
// probe for park+ keys itself ("Empty"), racing parkd's answers
// (docs/freeswitch.md#presence), so the daemon warns about it.
func (c *Client) ValetLoaded(ctx context.Context) (bool, error) {
	conn, err := c.current()
	if err != nil {
		return false, fmt.Errorf("module_exists mod_valet_parking: %w", err)
	}
	body, err := conn.API(ctx, "module_exists", "mod_valet_parking")
	if err != nil {
		return false, fmt.Errorf("module_exists mod_valet_parking: %w", err)
	}
	switch strings.TrimSpace(body) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	}
	return false, fmt.Errorf("module_exists mod_valet_parking: %w: %q", ErrProtocol, clip(body))
}

// valetWarning is logged when mod_valet_parking is loaded beside parkd's
// busy lamps.
const valetWarning = "mod_valet_parking is loaded: it answers phones' park+ busy-lamp probes itself, " +
	"so keys may show its state instead of parkd's; unload it (fs_cli -x 'unload mod_valet_parking') " +
	"and remove it from modules.conf.xml"

// warnIfValet warns, on a connection that serves busy lamps, when the
// switch has mod_valet_parking loaded (its probe answers race parkd's). It
// runs at every connection, since the module can be loaded while parkd is
// away.
func (c *Client) warnIfValet(ctx context.Context) {
	loaded, err := c.ValetLoaded(ctx)
	switch {
	case err != nil:
		c.Logger.Debug().Err(err).Msg("could not ask whether mod_valet_parking is loaded")
	case loaded:
		c.Logger.Warn().Str("freeswitch", c.Addr).Msg(valetWarning)
	}
}

// SwitchFacts is what `parkd check` learns from a running switch.
type SwitchFacts struct {
	// ValetLoaded: mod_valet_parking is loaded (see warnIfValet).
	ValetLoaded bool
}

// ValetWarning is the advice given when SwitchFacts.ValetLoaded.
const ValetWarning = valetWarning

// InspectSwitch connects once to the inbound event socket at addr,
// authenticates, asks what `parkd check` reports, and hangs up. It
// subscribes to no events and changes nothing on the switch.
func InspectSwitch(ctx context.Context, addr, password string, timeout time.Duration) (SwitchFacts, error) {
	c := NewClient(addr, password)
	if timeout > 0 {
		c.Timeout = timeout
	}
	conn, err := c.connect(ctx, nil, nil)
	if err != nil {
		return SwitchFacts{}, fmt.Errorf("connect to FreeSWITCH at %s: %w", addr, err)
	}
	defer conn.Close()
	c.setConn(conn)
	defer c.setConn(nil)
	var f SwitchFacts
	if f.ValetLoaded, err = c.ValetLoaded(ctx); err != nil {
		return f, err
	}
	return f, nil
}
