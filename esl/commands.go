package esl

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/percipia/eslgo/command"
	"github.com/percipia/eslgo/command/call"
)

// Every value spliced into a FreeSWITCH command passes one of these checks
// first: a blank line in a value starts a second command, a quote breaks out
// of an originate variable (docs/freeswitch.md#newlines-split-commands,
// docs/freeswitch.md#quotes-break-out-of-originate-variables).
// Builders refuse what fails them.
var (
	uuidRE  = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	tokenRE = regexp.MustCompile(`^[A-Za-z0-9_.+*#-]{1,64}$`)       // extensions, users, contexts
	lotRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)      // lot names, as conf allows them
	mediaRE = regexp.MustCompile(`^[A-Za-z0-9_./:@%+=~-]{1,256}$`)  // music and tone paths
	varRE   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)   // channel variable names
	textRE  = regexp.MustCompile(`^[^\x00-\x1f\x7f'"{}\[\]\\,^]*$`) // free text as a variable value
	causeRE = regexp.MustCompile(`^[A-Z_]{1,40}$`)                  // hangup causes
)

// ErrUnsafeValue: a value that may not be placed in a FreeSWITCH command.
var ErrUnsafeValue = errors.New("unsafe value for a FreeSWITCH command")

func unsafe(what, v string) error {
	return fmt.Errorf("%w: %s %q", ErrUnsafeValue, what, clip(v))
}

// ValidUUID reports whether s is a channel UUID in FreeSWITCH's canonical form.
func ValidUUID(s string) bool { return uuidRE.MatchString(s) }

// apiCommand is a validated "api ..." line.
func apiCommand(cmd string, args ...string) command.API {
	return command.API{Command: cmd, Arguments: strings.Join(args, " ")}
}

// transferInline builds `uuid_transfer <uuid> endless_playback:<music> inline`,
// the park that outlives parkd's socket (docs/freeswitch.md#inline-transfer-keeps-music).
func transferInline(uuid, music string) (command.API, error) {
	if !ValidUUID(uuid) {
		return command.API{}, unsafe("uuid", uuid)
	}
	if !mediaRE.MatchString(music) {
		return command.API{}, unsafe("music", music)
	}
	return apiCommand("uuid_transfer", uuid, "endless_playback:"+music, "inline"), nil
}

// transferTo builds `uuid_transfer <uuid> <extension> XML <context>`.
func transferTo(uuid, ext, context string) (command.API, error) {
	if !ValidUUID(uuid) {
		return command.API{}, unsafe("uuid", uuid)
	}
	// No part may start with '-': uuid_transfer reads -bleg or -both there
	// as a flag and would move the caller's partner instead.
	if !tokenRE.MatchString(ext) || strings.HasPrefix(ext, "-") {
		return command.API{}, unsafe("extension", ext)
	}
	if !tokenRE.MatchString(context) || strings.HasPrefix(context, "-") {
		return command.API{}, unsafe("context", context)
	}
	return apiCommand("uuid_transfer", uuid, ext, "XML", context), nil
}

// bridge builds `uuid_bridge <a> <b>`.
func bridge(a, b string) (command.API, error) {
	if !ValidUUID(a) {
		return command.API{}, unsafe("uuid", a)
	}
	if !ValidUUID(b) {
		return command.API{}, unsafe("uuid", b)
	}
	if a == b {
		return command.API{}, fmt.Errorf("%w: cannot bridge %s to itself", ErrUnsafeValue, a)
	}
	return apiCommand("uuid_bridge", a, b), nil
}

// setVars builds `uuid_setvar_multi <uuid> <name>=<value>;...`: every
// variable in one command, set in order. A value is free text without
// line breaks, quotes, braces, commas or semicolons (FreeSWITCH splits the
// list at ';', honouring quotes and backslashes), and without leading or
// trailing spaces, which it would trim.
func setVars(uuid string, vars [][2]string) (command.API, error) {
	if !ValidUUID(uuid) {
		return command.API{}, unsafe("uuid", uuid)
	}
	if len(vars) == 0 || len(vars) > 32 {
		return command.API{}, fmt.Errorf("%w: %d variables", ErrUnsafeValue, len(vars))
	}
	var b strings.Builder
	for i, v := range vars {
		name, value := v[0], v[1]
		if !varRE.MatchString(name) {
			return command.API{}, unsafe("variable", name)
		}
		if value == "" || len(value) > 256 || !textRE.MatchString(value) ||
			strings.ContainsRune(value, ';') || strings.TrimSpace(value) != value {
			return command.API{}, unsafe("value of "+name, value)
		}
		if i > 0 {
			b.WriteByte(';')
		}
		b.WriteString(name)
		b.WriteByte('=')
		b.WriteString(value)
	}
	return apiCommand("uuid_setvar_multi", uuid, b.String()), nil
}

// execute builds a sendmsg that runs app with arg on the channel, tagged with
// appUUID so its CHANNEL_EXECUTE_COMPLETE can be recognised, and event-locked
// so later messages wait for it.
func execute(uuid, app, arg, appUUID string) (*call.Execute, error) {
	if !ValidUUID(uuid) {
		return nil, unsafe("uuid", uuid)
	}
	if !ValidUUID(appUUID) {
		return nil, unsafe("application uuid", appUUID)
	}
	if !varRE.MatchString(app) {
		return nil, unsafe("application", app)
	}
	if strings.ContainsAny(arg, "\r\n") || len(arg) > 1024 {
		return nil, unsafe("application argument", arg)
	}
	return &call.Execute{UUID: uuid, AppName: app, AppArgs: arg, AppUUID: appUUID, Sync: true}, nil
}

// hangup builds a sendmsg hangup with a FreeSWITCH cause name.
func hangup(uuid, cause string) (call.Hangup, error) {
	if !ValidUUID(uuid) {
		return call.Hangup{}, unsafe("uuid", uuid)
	}
	if !causeRE.MatchString(cause) {
		return call.Hangup{}, unsafe("cause", cause)
	}
	return call.Hangup{UUID: uuid, Cause: cause}, nil
}

// sayDigits is the `say` argument that speaks a slot digit by digit.
func sayDigits(slot int) string { return "en number iterated " + strconv.Itoa(slot) }
