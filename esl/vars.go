package esl

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"unicode/utf8"
)

// Channel variables parkd reads from the dialplan and writes on the
// channels it parks. All carry the parkd_ prefix: other park
// implementations on the same switch use park_* names of their own
// (FusionPBX's valet park sets park_lot), and a call parked by something
// else must never be taken for parkd's.
const (
	// VarAction, VarLot and VarSlot carry a request from the dialplan:
	// the action (ActionPark or ActionRetrieve), the lot and the slot.
	// VarLot and VarSlot are also written on a parked call and a recall
	// leg as the slot it holds.
	VarAction = "parkd_action"
	VarLot    = "parkd_lot"
	VarSlot   = "parkd_slot"
	// VarParker and VarParkedAt are written on a parked call: who parked
	// it and when (RFC 3339, UTC, milliseconds).
	VarParker   = "parkd_parker"
	VarParkedAt = "parkd_parked_at"
	// VarDomain is written on a parked call whose lot has a domain: the
	// lot's domain, so a survey re-adopts it in its own tenant's lot.
	VarDomain = "parkd_domain"
	// VarInstance names the parkd that parked a call or placed a recall
	// leg; reconciliation adopts only channels that carry its own.
	VarInstance = "parkd_instance"
	// VarRecall and VarRecallFor mark a recall leg and the parked call it
	// rings for.
	VarRecall    = "parkd_recall"
	VarRecallFor = "parkd_recall_for"
	// VarReturn is set by the generated dialplan before the socket
	// application: who transferred the call to the park code, so the
	// dialplan's own fallback can send the caller back when parkd is not
	// there to do it.
	VarReturn = "parkd_return"
	// VarRefused is set to RefusedNotAllowed on a call parkd refused
	// because its switch is outside esl.allow, so that the switch's logs
	// (and the load tool's probe) can tell it from other refusals.
	VarRefused = "parkd_refused"
)

// ReturnExtension is the extension the generated dialplan (fsconf) has for
// a call parkd cannot take: it goes back to whoever transferred it
// (VarReturn), after the error tone.
const ReturnExtension = "parkd_return"

// RefusedNotAllowed is VarRefused's value for a switch outside esl.allow.
const RefusedNotAllowed = "not_allowed"

// ErrBadInstance: an instance name parkd may not write on a channel.
var ErrBadInstance = errors.New("bad parkd instance name")

// instanceRE is what an instance name may be made of (the same rule as
// parkd's configuration): a host name's characters and '_', nothing that
// could end a value in uuid_setvar_multi (';'), an originate {…} block (',',
// quotes) or a command line (spaces, line breaks).
var instanceRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidateInstance reports whether name can be a parkd instance name: 1 to
// 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'.
func ValidateInstance(name string) error {
	if !instanceRE.MatchString(name) {
		return fmt.Errorf("%w: %q: want 1 to 64 characters from A-Z, a-z, 0-9, '.', '_' and '-'", ErrBadInstance, clip(name))
	}
	return nil
}

// DefaultInstance is the instance name a Server or Client starts with: the
// host name, each character an instance name may not hold replaced by '-',
// cut to 64 characters; "parkd" if the host name is unknown.
func DefaultInstance() string {
	h, _ := os.Hostname()
	return instanceFromHost(h)
}

// instanceFromHost is DefaultInstance for the host name h.
func instanceFromHost(h string) string {
	if h == "" {
		return "parkd"
	}
	h = strings.Map(func(r rune) rune {
		if r < utf8.RuneSelf && instanceRE.MatchString(string(r)) {
			return r
		}
		return '-'
	}, h)
	return h[:min(len(h), 64)]
}
