package daemon

import (
	"errors"
	"fmt"

	"github.com/parkd/parkd/conf"
)

// Reload reads the configuration again with Load and applies what can
// change while parkd runs (SIGHUP in `parkd serve`). The new file is read
// and checked whole first: if it has problems, each is logged at error
// level and parkd runs on with the configuration it had. Lots, their
// recall and their music apply to new calls at once, as
// parking.Service.Reconfigure describes (calls already parked keep their
// slot and deadline; a removed lot keeps its calls until they leave).
// Settings that are set up once at start (conf.NeedsRestart: listen
// address, FreeSWITCH address, password, store, instance, logging) are
// named in a warning and keep their running values until a restart. It returns the reason a reload
// was refused, already logged.
func (m *Main) Reload() error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	log := m.Logger.With().Str("component", "reload").Logger()
	if m.Load == nil {
		log.Error().Msg("configuration not reloaded: this daemon has no configuration file to read")
		return errors.New("reload: no Load function")
	}
	next, err := m.Load()
	if err != nil {
		problems := splitJoined(err)
		for _, p := range problems {
			log.Error().Str("problem", p.Error()).Msg("configuration problem")
		}
		log.Error().Int("problems", len(problems)).
			Msg("configuration not reloaded: parkd runs on with the configuration it had")
		return fmt.Errorf("reload: %w", err)
	}
	if err := m.Service.Reconfigure(lotConfigs(next)); err != nil {
		log.Error().Err(err).Msg("configuration not reloaded: parkd runs on with the configuration it had")
		return fmt.Errorf("reload: %w", err)
	}
	if m.Presence != nil {
		// The lots are the Service's now; a key set the lamps refuse
		// (conf checked it, so this is a bug) keeps the old keys lit.
		if err := m.Presence.SetKeys(lampKeys(next)); err != nil {
			log.Error().Err(err).Msg("busy-lamp keys not changed")
		}
	}
	if keys := conf.NeedsRestart(m.Config, next); len(keys) > 0 {
		log.Warn().Strs("keys", keys).
			Msg("these settings changed but apply only when parkd restarts; it runs on with their old values")
	}
	m.Config.Lots = next.Lots
	m.Metrics.SetLots(lotNames(next))
	log.Info().Int("lots", len(next.Lots)).Msg("configuration reloaded: lots, recall and music apply to new calls now")
	return nil
}

// splitJoined returns the errors joined in err (conf reports one per
// problem), or err alone.
func splitJoined(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}
