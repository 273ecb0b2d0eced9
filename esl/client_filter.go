package esl

import (
	"regexp"
	"strings"

	"github.com/percipia/eslgo/command"
)

// hangupEvent is the one channel event the inbound connection listens to.
const hangupEvent = "CHANNEL_HANGUP_COMPLETE"

// eventFilters keep the inbound connection to the events parkd acts on.
// Subscribed to CHANNEL_HANGUP_COMPLETE alone, a switch sends the hangup of
// every channel it carries, and on a busy switch nearly all of them have
// nothing to do with parking. With filters set, mod_event_socket passes an
// event when any of them matches (event_handler in mod_event_socket.c: the
// positive filters are alternatives), so the list is: every subscribed
// event but the hangup by name, and the hangup only of channels that carry
// this parkd's VarInstance, which it writes on every call it parks and on
// every leg it originates. A hangup event carries the channel's variables
// as variable_* headers (switch_channel_event_set_data always extends
// CHANNEL_HANGUP_COMPLETE).
func eventFilters(names []string, instance string) []command.Filter {
	fs := make([]command.Filter, 0, len(names)+1)
	for _, n := range names {
		if n == hangupEvent {
			fs = append(fs, command.Filter{EventHeader: "variable_" + VarInstance, FilterValue: instanceFilterValue(instance)})
			continue
		}
		fs = append(fs, command.Filter{EventHeader: "Event-Name", FilterValue: n})
	}
	return fs
}

// instanceFilterValue is a filter value that matches exactly instance (a
// name ValidateInstance accepts). mod_event_socket reads leading '+', '-'
// and spaces in a filter value as the filter's sign, so a name starting
// with '-' goes out as an anchored regular expression instead, which the
// switch recognises by its leading '/'. Plain values are compared without
// regard to case; the regular expression keeps that.
func instanceFilterValue(instance string) string {
	if !strings.HasPrefix(instance, "-") {
		return instance
	}
	return "/^" + regexp.QuoteMeta(instance) + "$/i"
}
