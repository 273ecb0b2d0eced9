package daemon

import (
	"fmt"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl"
)

// lampKeys maps the configured lots to the busy-lamp keys phones subscribe
// to: each lot's slots and, unless blf_lot is "off", its own key.
func lampKeys(c conf.Config) esl.LampKeys {
	keys := make(esl.LampKeys, 0, len(c.Lots))
	for _, l := range c.Lots {
		keys = append(keys, esl.LampKey{Lot: l.Name, First: l.First, Last: l.Last, Prefix: l.BLFPrefix, LotKey: l.LotKey()})
	}
	return keys
}

// startLamps sets up the busy lamps when [blf] is on: presence published
// for every slot and lot on the inbound connection, probes answered, and
// the Service telling every change. It must run before the Service opens
// (the calls it adopts light their keys) and before the Client runs (the
// Client then subscribes to probes).
func (m *Main) startLamps() error {
	c := m.Config
	if !c.BLF.Enabled {
		return nil
	}
	keys := lampKeys(c)
	if err := esl.ValidateLampKeys(keys); err != nil {
		return fmt.Errorf("blf: %w", err)
	}
	m.Presence = esl.NewPresence(m.Client, m.Service, keys, c.BLF.Domains)
	m.Presence.Logger = m.Logger.With().Str("component", "presence").Logger()
	m.Service.Lamps = m.Presence
	return nil
}
