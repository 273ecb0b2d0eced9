package fstest

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// pagd is a play_and_get_digits running on a channel, modelled on
// switch_play_and_get_digits in FreeSWITCH's switch_ivr_play_say.c (no
// transcript of ours covers it): each try flushes the DTMF queued before
// it, plays the prompt (a digit interrupts it and is kept), then collects
// until the terminator, max digits or the timeout. Digits that match the
// regex go to the variable; an entry the regex refuses goes to
// <var>_invalid instead; a try without enough digits plays the bad-input
// file and prompts again. When the tries run out the variable is left
// unset. The variables are set before CHANNEL_EXECUTE_COMPLETE, which so
// carries them.
type pagd struct {
	min, max, tries    int
	timeout            time.Duration
	terms              string
	prompt, bad, vname string
	re                 *regexp.Regexp
	buf                strings.Builder
}

// parsePAGD reads play_and_get_digits' arguments as mod_dptools splits
// them (on spaces): min max tries timeout terminators file invalid_file
// var_name regexp [digit_timeout].
func parsePAGD(data string) (*pagd, bool) {
	f := strings.Fields(data)
	if len(f) < 9 {
		return nil, false
	}
	p := &pagd{terms: f[4], prompt: f[5], bad: f[6], vname: f[7]}
	var err error
	nums := []*int{&p.min, &p.max, &p.tries}
	for i, n := range nums {
		if *n, err = strconv.Atoi(f[i]); err != nil {
			return nil, false
		}
	}
	ms, err := strconv.Atoi(f[3])
	if err != nil {
		return nil, false
	}
	p.timeout = time.Duration(ms) * time.Millisecond
	if p.re, err = regexp.Compile(f[8]); err != nil {
		return nil, false
	}
	return p, true
}

// startPAGD begins a play_and_get_digits. Called with s.mu held.
func (ch *Channel) startPAGD(a *app) {
	p, ok := parsePAGD(a.data)
	if !ok {
		ch.finishApp(a, "_none_")
		return
	}
	ch.vars.unset(p.vname + "_invalid")
	a.pagd = p
	ch.pagdTry(a)
}

// pagdTry starts one try: the prompt, then the wait for digits.
func (ch *Channel) pagdTry(a *app) {
	p := a.pagd
	p.buf.Reset()
	a.media, _ = mediaOf(p.prompt)
	ch.played = append(ch.played, p.prompt)
	a.timer = ch.s.after(ch.s.opts.PlaybackTime+p.timeout, func() { ch.pagdTimeout(a) })
	ch.notify()
}

// pagdTimeout ends a try that saw no terminator and not max digits.
func (ch *Channel) pagdTimeout(a *app) {
	a.timer = nil
	if a.pagd.buf.Len() >= a.pagd.min {
		ch.pagdDone(a)
		return
	}
	ch.pagdRetry(a)
}

// pagdRetry plays the bad-input file and prompts again, or gives up.
func (ch *Channel) pagdRetry(a *app) {
	p := a.pagd
	if p.tries--; p.tries <= 0 {
		ch.vars.unset(p.vname)
		ch.finishApp(a, "_none_")
		return
	}
	ch.played = append(ch.played, p.bad)
	ch.pagdTry(a)
}

// pagdDone checks the entry against the regex and ends the app, or the try.
func (ch *Channel) pagdDone(a *app) {
	p := a.pagd
	d := p.buf.String()
	if d == "" || p.re.MatchString(d) {
		if d != "" {
			ch.vars.set(p.vname, d)
			ch.s.cancel(a.timer)
			a.timer = nil
			ch.finishApp(a, "_none_")
			return
		}
	} else {
		ch.vars.unset(p.vname)
		ch.vars.set(p.vname+"_invalid", d)
	}
	ch.s.cancel(a.timer)
	a.timer = nil
	ch.pagdRetry(a)
}

// SendDTMF has the caller press digits, as RFC 2833 or SIP INFO would
// deliver them. A play_and_get_digits running takes them (a digit during
// its prompt interrupts the prompt); with none running they are dropped,
// as the next play_and_get_digits flushes queued DTMF.
func (ch *Channel) SendDTMF(digits string) {
	s := ch.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, d := range digits {
		a := ch.runningPAGD()
		if a == nil || !ch.alive {
			return
		}
		ch.vars.set("last_dtmf", string(d)) // harmless marker for tests of what the switch saw
		if strings.ContainsRune(a.pagd.terms, d) {
			s.cancel(a.timer)
			a.timer = nil
			if a.pagd.buf.Len() >= a.pagd.min {
				ch.pagdDone(a)
			} else {
				ch.pagdRetry(a)
			}
			continue
		}
		a.media = "silence" // the prompt stops at the first digit
		a.pagd.buf.WriteRune(d)
		if a.pagd.buf.Len() >= a.pagd.max {
			s.cancel(a.timer)
			a.timer = nil
			ch.pagdDone(a)
		}
	}
	ch.notify()
}

// runningPAGD returns the play_and_get_digits running on the channel, or nil.
func (ch *Channel) runningPAGD() *app {
	for i := len(ch.stack) - 1; i >= 0; i-- {
		if ch.stack[i].pagd != nil {
			return ch.stack[i]
		}
	}
	return nil
}
