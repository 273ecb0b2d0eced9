package esl

import (
	"context"
	"fmt"
	"strings"
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
