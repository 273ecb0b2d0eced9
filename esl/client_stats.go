package esl

import "sync/atomic"

// ClientStats is the inbound connection's state and counters, for the
// metrics and the readiness check. Counters only grow.
type ClientStats struct {
	// Connected: the connection to FreeSWITCH is up now.
	Connected bool
	// Reconciled: the connection is up and the last Reconcile on it
	// succeeded, so parkd's view of the parked calls is the switch's.
	Reconciled bool
	// Reconnects counts the connections lost while Run went on: each
	// started a reconnection.
	Reconnects uint64
	// CommandErrors counts commands on the inbound connection that got no
	// reply (timed out, connection lost or not up, write failed). A -ERR
	// reply is an answer, not counted: it is often an outcome parkd
	// expects (the channel is gone).
	CommandErrors uint64
	// Events counts the events received on the inbound connection. The
	// switch filters them to parkd's own calls (eventFilters), so it
	// grows with parks and recalls, not with the switch's other traffic.
	Events uint64
}

// clientStats holds the counters behind ClientStats.
type clientStats struct {
	reconciled    atomic.Bool
	reconnects    atomic.Uint64
	commandErrors atomic.Uint64
	events        atomic.Uint64
}

// Stats returns the connection's state and counters now. It is cheap and
// safe to call from any goroutine (a metrics scrape).
func (c *Client) Stats() ClientStats {
	c.mu.Lock()
	connected := c.conn != nil
	c.mu.Unlock()
	return ClientStats{
		Connected:     connected,
		Reconciled:    connected && c.stats.reconciled.Load(),
		Reconnects:    c.stats.reconnects.Load(),
		CommandErrors: c.stats.commandErrors.Load(),
		Events:        c.stats.events.Load(),
	}
}
