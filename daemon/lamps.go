package daemon

import (
	"fmt"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl"
	"github.com/parkd/parkd/parking"
)

// lampKeys maps the configured lots to the busy-lamp keys phones subscribe
// to: each lot's slots and, unless blf_lot is "off", its own key.
func lampKeys(c conf.Config) esl.LampKeys {
	keys := make(esl.LampKeys, 0, len(c.Lots))
	for _, l := range c.Lots {
		keys = append(keys, esl.LampKey{Lot: l.Name, Domain: l.Domain, First: l.First, Last: l.Last, Prefix: l.BLFPrefix, LotKey: l.LotKey()})
	}
	return keys
}

// startLamps sets up who the Service tells every lamp change: the board's
// live events when [http] is on, and the busy lamps when [blf] is on
// (presence published for every slot and lot on the inbound connection,
// probes answered). It must run before the Service opens (the calls it
// adopts light their keys) and before the Client runs (the Client then
// subscribes to probes).
func (m *Main) startLamps() error {
	c := m.Config
	var fan lampFan
	var src esl.LampSource = m.Service
	if self, ok := c.Self(); ok && (c.BLF.Enabled || m.events != nil) {
		// Lots shared by nodes: the lamps and the board's live events
		// show every node's calls (nodelamps.go). Every change, this
		// node's and the others', reaches them through nodeLamps.
		m.nodeLamps = newNodeLamps(self.Name, m.Service, m.Logger.With().Str("component", "nodelamps").Logger())
		src = m.nodeLamps
	}
	if c.BLF.Enabled {
		keys := lampKeys(c)
		if err := esl.ValidateLampKeys(keys); err != nil {
			return fmt.Errorf("blf: %w", err)
		}
		m.Presence = esl.NewPresence(m.Client, src, keys, c.BLF.Domains)
		m.Presence.Logger = m.Logger.With().Str("component", "presence").Logger()
		fan = append(fan, m.Presence)
	}
	if m.events != nil {
		fan = append(fan, m.events)
	}
	if m.nodeLamps != nil {
		m.nodeLamps.out = fan
		fan = lampFan{m.nodeLamps}
	}
	switch len(fan) {
	case 0:
	case 1:
		m.Service.Lamps = fan[0]
	default:
		m.Service.Lamps = fan
	}
	return nil
}

// lampFan tells every lamp change to each of its Lamps in turn. Each
// returns at once (parking.Lamps's rule), so the fan does too.
type lampFan []parking.Lamps

// Light implements parking.Lamps.
func (f lampFan) Light(l parking.Lamp) {
	for _, to := range f {
		to.Light(l)
	}
}
