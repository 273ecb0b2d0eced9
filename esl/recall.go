package esl

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/parkd/parkd/parking"
)

// Values a recall originate accepts (docs/freeswitch.md#recall-originate,
// docs/freeswitch.md#quotes-break-out-of-originate-variables). The dial string and
// the Alert-Info come from parkd's configuration; they are refused, not
// repaired, when they could break the command.
var (
	dialRE  = regexp.MustCompile(`^[A-Za-z0-9_./@:+*#=%-]{1,256}$`)
	alertRE = regexp.MustCompile(`^[^'"{}\[\]^\\,\x00-\x20\x7f-\x{10FFFF}]{1,256}$`) // printable ASCII
)

// Caller-ID limits, in runes (name) and characters (number).
const (
	maxCallerIDName   = 64
	maxCallerIDNumber = 32
)

// jobGrace is how long past the ring time Originate waits for the
// BACKGROUND_JOB before it gives up on a FreeSWITCH that never reports.
const jobGrace = 15 * time.Second

// originateCommand is `bgapi originate <args>` followed by a Job-UUID header
// line: FreeSWITCH then uses parkd's job UUID (docs/eslgo.md#bgapi-job-uuid), so the
// waiter for its BACKGROUND_JOB is registered before the command is sent.
type originateCommand struct {
	Job  string // the Job-UUID parkd chose
	Args string // everything after "originate ", validated
}

// BuildMessage implements eslgo's command.Command.
func (c originateCommand) BuildMessage() string {
	return "bgapi originate " + c.Args + "\r\nJob-UUID: " + c.Job
}

// recallOriginate builds the recall originate for o
// (docs/freeswitch.md#recall-originate):
//
//	bgapi originate {origination_uuid=…,origination_caller_id_name='…',…}<dial> &park()
//	Job-UUID: <job>
//
// Identifiers and configuration are validated (ErrUnsafeValue); the caller-ID
// name and number, which come from outside callers, are sanitised instead.
func recallOriginate(o parking.Origination, job, instance string) (originateCommand, error) {
	switch {
	case ValidateInstance(instance) != nil:
		return originateCommand{}, unsafe("instance", instance)
	case !ValidUUID(job):
		return originateCommand{}, unsafe("job uuid", job)
	case !ValidUUID(string(o.Leg)):
		return originateCommand{}, unsafe("recall leg uuid", string(o.Leg))
	case !ValidUUID(string(o.Parked)):
		return originateCommand{}, unsafe("parked call uuid", string(o.Parked))
	case !lotRE.MatchString(o.Lot):
		return originateCommand{}, unsafe("lot", o.Lot)
	case o.Slot < 0:
		return originateCommand{}, unsafe("slot", strconv.Itoa(o.Slot))
	case !dialRE.MatchString(o.Dial):
		return originateCommand{}, unsafe("dial string", o.Dial)
	case o.AlertInfo != "" && !alertRE.MatchString(o.AlertInfo):
		return originateCommand{}, unsafe("alert info", o.AlertInfo)
	}
	number := SafeCallerIDNumber(o.CallerIDNumber)
	name := SafeCallerIDName(o.CallerIDName)
	if name == "" {
		name = number
	}

	vars := make([]string, 0, 10)
	vars = append(vars,
		"origination_uuid="+string(o.Leg),
		"origination_caller_id_name='"+name+"'",
		"origination_caller_id_number="+number,
	)
	if o.AlertInfo != "" {
		vars = append(vars, "alert_info='"+o.AlertInfo+"'")
	}
	vars = append(vars,
		"originate_timeout="+strconv.Itoa(ringSeconds(o)),
		VarInstance+"="+instance,
		VarRecall+"=true",
		VarRecallFor+"="+string(o.Parked),
		VarLot+"="+o.Lot,
		VarSlot+"="+strconv.Itoa(o.Slot),
	)
	return originateCommand{Job: job, Args: "{" + strings.Join(vars, ",") + "}" + o.Dial + " &park()"}, nil
}

// ringSeconds is originate_timeout for o: RingFor in whole seconds, at least 1.
func ringSeconds(o parking.Origination) int { return max(int(o.RingFor/time.Second), 1) }

// SafeCallerIDName makes caller-supplied text fit to be shown as a recall's
// caller-ID name. It never refuses: control and format characters (line
// breaks, bidi overrides) and invalid UTF-8 are dropped; the characters
// mod_sofia cuts at (':', '/', '@': docs/freeswitch.md#caller-id-name-mangling)
// and those that could break out of originate's {var='…'} quoting (quotes,
// braces, brackets, '^', '\', ';', '$':
// docs/freeswitch.md#quotes-break-out-of-originate-variables) become spaces; runs of spaces collapse; the text is
// trimmed and capped at 64 runes; then every comma is written "\," as
// originate's {…} block requires. The cap counts an escaped comma as one rune
// and never splits an escape.
func SafeCallerIDName(s string) string {
	var b strings.Builder
	space := false
	n := 0
	for _, r := range strings.ToValidUTF8(s, "") {
		switch {
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError:
			continue
		case unicode.IsSpace(r) || strings.ContainsRune(`'"{}[]^\:/@;$`, r):
			space = b.Len() > 0
			continue
		}
		if n == maxCallerIDName {
			break
		}
		if space {
			if n+1 == maxCallerIDName {
				break
			}
			b.WriteByte(' ')
			n++
			space = false
		}
		if r == ',' {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
		n++
	}
	return b.String()
}

// SafeCallerIDNumber keeps only the characters of a dialable number (digits,
// '+', '*', '#'), at most 32, for a recall's caller-ID number. It returns "0"
// when nothing is left.
func SafeCallerIDNumber(s string) string {
	b := make([]byte, 0, maxCallerIDNumber)
	for i := 0; i < len(s) && len(b) < maxCallerIDNumber; i++ {
		if c := s[i]; c >= '0' && c <= '9' || c == '+' || c == '*' || c == '#' {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "0"
	}
	return string(b)
}

// NewCallID names a recall leg before it is placed (its origination_uuid).
func (c *Client) NewCallID() parking.CallID { return parking.CallID(NewUUID()) }

// Originate implements parking.Switch: it places the recall leg o.Leg with
// bgapi originate on the inbound connection and waits for its
// BACKGROUND_JOB. It returns nil once the phone answered (the leg then runs
// park), or a *parking.CallFailure with FreeSWITCH's cause. Any other error
// (not connected, connection lost while it rang, ctx ended, no job result)
// means the outcome is unknown: the leg may still ring or be up, so the
// caller should kill o.Leg.
func (c *Client) Originate(ctx context.Context, o parking.Origination) error {
	err := c.originate(ctx, o)
	if c.Elsewhere == nil || o.Parker == "" || !notRegistered(err) {
		return err
	}
	// Lots shared by several nodes: the parker may be registered on
	// another node, reached over SIP through the same leg (its UUID is
	// free again once the switch gave up on it).
	for _, dial := range c.Elsewhere(o) {
		if ctx.Err() != nil {
			return err
		}
		alt := o
		alt.Dial = dial
		if err = c.originate(ctx, alt); !notRegistered(err) {
			return err
		}
	}
	return err
}

// notRegistered reports whether err is the switch saying the phone is not
// registered there.
func notRegistered(err error) bool {
	var f *parking.CallFailure
	return errors.As(err, &f) && f.Cause == "USER_NOT_REGISTERED"
}

// originate places one recall leg (Originate).
func (c *Client) originate(ctx context.Context, o parking.Origination) error {
	job := NewUUID()
	cmd, err := recallOriginate(o, job, c.Instance)
	if err != nil {
		return fmt.Errorf("originate recall leg: %w", err)
	}
	conn, err := c.current()
	if err != nil {
		return fmt.Errorf("originate recall leg %s: %w", o.Leg, err)
	}
	result := c.jobs.add(job)
	defer c.jobs.remove(job)

	reply, err := conn.Send(ctx, cmd)
	if err != nil {
		return fmt.Errorf("originate recall leg %s: %w", o.Leg, err)
	}
	if text := reply.Headers.Get("Reply-Text"); text != "+OK Job-UUID: "+job {
		return fmt.Errorf("originate recall leg %s: FreeSWITCH answered bgapi with %q", o.Leg, clip(text))
	}

	wait := time.Duration(ringSeconds(o))*time.Second + c.Timeout + jobGrace
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case ev := <-result:
		return jobOutcome(o, ev)
	case <-conn.Done():
		select { // a result delivered as the connection closed still counts
		case ev := <-result:
			return jobOutcome(o, ev)
		default:
		}
		return fmt.Errorf("originate recall leg %s: connection lost while it rang: %w: %w", o.Leg, ErrNotConnected, conn.Err())
	case <-ctx.Done():
		return fmt.Errorf("originate recall leg %s: %w", o.Leg, ctx.Err())
	case <-timer.C:
		return fmt.Errorf("originate recall leg %s: no BACKGROUND_JOB after %v: %w", o.Leg, wait, context.DeadlineExceeded)
	}
}

// jobOutcome reads an originate's BACKGROUND_JOB body: "+OK <uuid>" or
// "-ERR <CAUSE>".
func jobOutcome(o parking.Origination, ev Event) error {
	body := strings.TrimSpace(string(ev.Body))
	switch {
	case body == "+OK" || strings.HasPrefix(body, "+OK "):
		if uuid := strings.TrimSpace(body[len("+OK"):]); uuid != "" && uuid != string(o.Leg) {
			return fmt.Errorf("originate recall leg %s: FreeSWITCH answered leg %q instead", o.Leg, clip(uuid))
		}
		return nil
	case strings.HasPrefix(body, "-ERR"):
		cause := strings.TrimSpace(body[len("-ERR"):])
		if cause == "" {
			cause = "UNKNOWN"
		}
		return &parking.CallFailure{Cause: clip(cause)}
	}
	return fmt.Errorf("originate recall leg %s: unexpected job result %q", o.Leg, clip(body))
}

// jobTable routes BACKGROUND_JOB events to the commands awaiting them, by
// Job-UUID. The zero value is ready to use.
type jobTable struct {
	mu sync.Mutex
	m  map[string]chan Event
}

// add registers a waiter for job; its channel receives the job's event once.
func (t *jobTable) add(job string) <-chan Event {
	ch := make(chan Event, 1)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[string]chan Event{}
	}
	t.m[job] = ch
	return ch
}

// remove forgets the waiter for job.
func (t *jobTable) remove(job string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, job)
}

// deliver hands ev to the waiter for job, if any, and reports whether there
// was one. It never blocks.
func (t *jobTable) deliver(job string, ev Event) bool {
	t.mu.Lock()
	ch, ok := t.m[job]
	delete(t.m, job)
	t.mu.Unlock()
	if ok {
		ch <- ev // buffered, and removed from the table: sent at most once
	}
	return ok
}
