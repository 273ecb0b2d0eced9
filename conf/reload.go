package conf

import (
	"reflect"
	"slices"
)

// NeedsRestart returns the keys whose value differs between running, the
// configuration parkd runs with, and next, a reloaded one, but that a running
// parkd cannot change: the listener and its allow list, the connection to
// FreeSWITCH, the database, the instance name and logging are set up once at
// start. Lots, their recall and their music apply to new calls at once, so
// they are never listed. The keys are named, never their values (one is the
// password).
func NeedsRestart(running, next Config) []string {
	var keys []string
	for _, k := range []struct {
		key     string
		changed bool
	}{
		{"instance", running.Instance != next.Instance},
		{"esl.listen", running.ESL.Listen != next.ESL.Listen},
		{"esl.allow", !slices.Equal(running.ESL.Allow, next.ESL.Allow)},
		{"esl.freeswitch", running.ESL.FreeSWITCH != next.ESL.FreeSWITCH},
		{"esl.password", running.ESL.Password != next.ESL.Password},
		{"esl.command_timeout", running.ESL.CommandTimeout != next.ESL.CommandTimeout},
		{"store.driver", running.Store.Driver != next.Store.Driver},
		{"store.path", running.Store.Path != next.Store.Path},
		{"store.dsn", running.Store.DSN != next.Store.DSN},
		{"store.keep", running.Store.Keep != next.Store.Keep},
		{"ha", !reflect.DeepEqual(running.HA, next.HA)},
		{"log.level", running.Log.Level != next.Log.Level},
		{"log.format", running.Log.Format != next.Log.Format},
		// Presence is set up at start: whether it is published and for
		// which domains. A lot's blf_prefix and blf_lot apply like the rest
		// of the lot (and need the dialplan regenerated).
		{"blf.enabled", running.BLF.Enabled != next.BLF.Enabled},
		{"blf.domains", !slices.Equal(running.BLF.Domains, next.BLF.Domains)},
		// The board's listener is set up at start, and so, for now, are
		// its users and tokens.
		{"http.listen", running.HTTP.Listen != next.HTTP.Listen},
		{"http.tls_cert", running.HTTP.TLSCert != next.HTTP.TLSCert},
		{"http.tls_key", running.HTTP.TLSKey != next.HTTP.TLSKey},
		{"http.user", !reflect.DeepEqual(running.HTTP.Users, next.HTTP.Users)},
		{"http.token", !reflect.DeepEqual(running.HTTP.Tokens, next.HTTP.Tokens)},
		// The store learns the webhooks and their events at Open, and a
		// worker per webhook starts with the daemon.
		{"webhook", !reflect.DeepEqual(running.Webhooks, next.Webhooks)},
		// A parkd's node and the nodes it reaches are wired at start.
		{"esl.node", running.ESL.Node != next.ESL.Node},
		{"node", !reflect.DeepEqual(running.Nodes, next.Nodes)},
	} {
		if k.changed {
			keys = append(keys, k.key)
		}
	}
	return keys
}
