package parking

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Recall on timeout. A parked call's deadline arms a timer; when it fires
// and the call is still parked, the parker's phone is rung (Switch.Originate)
// with the lot's distinctive ring. An answer is bridged to the caller; a
// failure is recorded and retried after retry_after, and after the last
// attempt (or at once when nobody is known to recall) the call goes to the
// lot's fallback. Without a fallback the call stays parked and recalls go
// on: a caller is never hung up on.
//
// Every step re-checks, under the lock, that the call is still in the state
// and generation it left: a retrieve, a hangup or a shutdown that came in
// between wins, and the step cancels itself (hanging up a recall leg that
// answered too late) instead of bridging a call twice.

// bridgeSlack is how long past the ring time a recall may take to report.
const bridgeSlack = 15 * time.Second

// arm (re)starts e's timer for its deadline. Called with s.mu held.
func (s *Service) arm(e *entry) {
	if e.timer != nil {
		e.timer.Stop()
		e.timer = nil
	}
	cfg := s.cfgOf(e)
	if s.closed || (!cfg.Recall.Enabled && cfg.Fallback.IsZero()) {
		return // nothing happens at the timeout: the call waits to be retrieved
	}
	gen := e.gen
	d := e.occ.Deadline.Sub(time.Now())
	e.timer = time.AfterFunc(max(d, 0), func() { s.expire(e, gen) })
}

// current reports whether e is still the call in its slot, in state st and
// generation gen. Called with s.mu held.
func (s *Service) current(e *entry, gen uint64, st state) bool {
	return s.calls[e.occ.Call] == e && e.gen == gen && e.state == st
}

// expire is e's timer: recall the parker, or send the call to the fallback.
func (s *Service) expire(e *entry, gen uint64) {
	s.mu.Lock()
	if s.closed || !s.current(e, gen, stateParked) {
		s.mu.Unlock()
		return
	}
	cfg := s.cfgOf(e)
	switch {
	case cfg.Recall.Enabled && e.occ.Parker != "":
		o := s.startRecall(e, cfg)
		gen, stop := e.gen, e.recallStop
		s.mu.Unlock()
		if s.RecordRecallFirst {
			s.recallRecorded(e, gen, o, stop)
			return
		}
		// The phone rings first, then the recall's row is written: the
		// row's place in the history is fixed already (it was queued
		// under the lock), and waiting for SQLite before ringing made
		// recalls late by a commit, tens of milliseconds when a WAL
		// checkpoint fell in it (issue 16: p99 57 ms with 50,000 parked).
		go s.recall(e, gen, o, stop)
		s.flush(s.bgCtx)
	case !cfg.Fallback.IsZero():
		why := "nobody to recall: the parker is unknown"
		if !cfg.Recall.Enabled {
			why = "timeout; recall is off for this lot"
		}
		s.startFallback(e, cfg, why)
		s.mu.Unlock()
	default:
		s.Logger.Warn().Str("lot", e.occ.Lot).Int("slot", e.occ.Slot).Str("call", string(e.occ.Call)).
			Msg("timeout: the parker is unknown and the lot has no fallback; the call stays parked until retrieved")
		s.mu.Unlock()
	}
}

// startRecall moves e to recalling and returns the leg to place. Called
// with s.mu held.
func (s *Service) startRecall(e *entry, cfg LotConfig) Origination {
	e.gen++
	e.state = stateRecalling
	e.occ.Attempts++
	e.recallLeg = s.sw.NewCallID()
	e.recallStop = make(chan struct{})
	occ := e.occ
	s.commit(Transition{Event: EventRecall, Reason: fmt.Sprintf("attempt %d", e.occ.Attempts), Occupancy: &occ}, e)
	s.bg.Add(1)
	r := cfg.Recall
	vals := templateValues(e.occ, cfg)
	return Origination{
		Leg: e.recallLeg, Parked: e.occ.Call, Lot: e.occ.Lot, Slot: e.occ.Slot,
		Dial:           expand(r.Dial, vals),
		Parker:         e.occ.Parker,
		AlertInfo:      r.AlertInfo,
		CallerIDName:   expand(r.CallerIDName, vals),
		CallerIDNumber: expand(r.CallerIDNumber, vals),
		RingFor:        r.RingFor,
	}
}

// recall rings the parker and settles the outcome.
func (s *Service) recall(e *entry, gen uint64, o Origination, stop <-chan struct{}) {
	defer s.bg.Done()
	ctx, cancel := context.WithTimeout(s.bgCtx, o.RingFor+bridgeSlack)
	defer cancel()
	done := make(chan struct{})
	go s.killWhenStopped(o.Leg, stop, done)
	err := s.sw.Originate(ctx, o)
	close(done)

	s.mu.Lock()
	if !s.current(e, gen, stateRecalling) {
		// Retrieved, hung up or shut down while it rang: whoever did that
		// cancelled the ring; an answer that raced them is hung up here.
		s.mu.Unlock()
		if err == nil {
			s.kill(ctx, o.Leg, "ORIGINATOR_CANCEL")
		}
		return
	}
	if err != nil {
		s.recallFailed(e, failureCause(err))
		s.mu.Unlock()
		s.flush(ctx)
		if !isFailure(err) {
			// The outcome was lost (connection dropped, timeout): make sure
			// the phone is not left ringing or answered into silence.
			s.kill(ctx, o.Leg, "NORMAL_CLEARING")
		}
		return
	}
	e.state = stateRecallBridge // recallLeg stays: it is the leg being bridged
	s.bg.Add(1)
	s.mu.Unlock()
	s.bridgeRecall(e, gen, o.Leg)
}

// bridgeRecall connects an answered recall leg to its parked caller and
// settles the outcome. e is in stateRecallBridge at generation gen, and
// s.bg was incremented for this call.
func (s *Service) bridgeRecall(e *entry, gen uint64, leg CallID) {
	defer s.bg.Done()
	ctx, cancel := context.WithTimeout(s.bgCtx, bridgeSlack)
	defer cancel()
	err := s.sw.Bridge(ctx, e.occ.Call, leg)

	s.mu.Lock()
	if !s.current(e, gen, stateRecallBridge) {
		s.mu.Unlock()
		if err == nil {
			return // settled by someone else (a switch shutdown); the bridge stands
		}
		s.kill(ctx, leg, "NORMAL_CLEARING")
		return
	}
	switch {
	case err == nil:
		s.release(e)
		s.commit(Transition{Event: EventRecalled, Retriever: e.occ.Parker}, e)
		s.mu.Unlock()
	case e.hungUp != "":
		s.release(e)
		s.commit(Transition{Event: EventAbandoned, Reason: e.hungUp}, e)
		s.mu.Unlock()
		s.kill(ctx, leg, "ORIGINATOR_CANCEL")
	default:
		// The parker hung up right after answering, or the bridge failed:
		// a failed attempt like any other.
		s.recallFailed(e, "bridge failed: "+err.Error())
		s.mu.Unlock()
		s.kill(ctx, leg, "NORMAL_CLEARING")
	}
	s.flush(ctx)
}

// killWhenStopped hangs the recall leg up once stop is closed, and keeps
// trying until Originate returns (done): a cancel can come before
// FreeSWITCH has created the leg, when uuid_kill finds no such channel.
func (s *Service) killWhenStopped(leg CallID, stop <-chan struct{}, done <-chan struct{}) {
	select {
	case <-stop:
	case <-done:
		return
	}
	for {
		if s.kill(s.bgCtx, leg, "ORIGINATOR_CANCEL") {
			return // hung up: Originate returns with the leg's cause
		}
		retry := make(chan struct{})
		t := time.AfterFunc(250*time.Millisecond, func() { close(retry) })
		select {
		case <-done:
			t.Stop()
			return
		case <-retry:
		}
	}
}

// recallFailed records a failed attempt, then retries or falls back.
// Called with s.mu held, e recalling or being bridged.
func (s *Service) recallFailed(e *entry, cause string) {
	cfg := s.cfgOf(e)
	e.recallLeg = ""
	e.recallStop = nil
	e.state = stateParked
	e.gen++
	if e.hungUp != "" {
		s.release(e)
		s.commit(Transition{Event: EventAbandoned, Reason: e.hungUp}, e)
		return
	}
	e.occ.Deadline = time.Now().Add(s.retryAfter(e))
	occ := e.occ
	s.commit(Transition{Event: EventRecallFailed, Reason: cause, Occupancy: &occ}, e)
	if e.occ.Attempts >= cfg.Recall.Attempts && !cfg.Fallback.IsZero() {
		s.startFallback(e, cfg, fmt.Sprintf("%d recalls failed", e.occ.Attempts))
		return
	}
	s.arm(e)
}

// startFallback sends e to the lot's fallback destination. Called with
// s.mu held, e parked.
func (s *Service) startFallback(e *entry, cfg LotConfig, why string) {
	e.gen++
	gen := e.gen
	e.state = stateTransferring
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		ctx, cancel := context.WithTimeout(s.bgCtx, bridgeSlack)
		defer cancel()
		err := s.sw.Transfer(ctx, e.occ.Call, cfg.Fallback)

		s.mu.Lock()
		if !s.current(e, gen, stateTransferring) {
			s.mu.Unlock()
			return
		}
		switch {
		case err == nil:
			s.release(e)
			s.commit(Transition{Event: EventFallback, Reason: why + "; sent to " + cfg.Fallback.String()}, e)
		case e.hungUp != "" || errors.Is(err, ErrCallGone):
			cause := e.hungUp
			if cause == "" {
				cause = "gone before the fallback"
			}
			s.release(e)
			s.commit(Transition{Event: EventAbandoned, Reason: cause}, e)
		default:
			// The switch did not take it: keep the caller parked and try
			// again later rather than lose them.
			s.Logger.Error().Err(err).Str("call", string(e.occ.Call)).Str("fallback", cfg.Fallback.String()).
				Msg("fallback transfer failed; the call stays parked")
			e.state = stateParked
			e.occ.Deadline = time.Now().Add(s.retryAfter(e))
			s.arm(e)
		}
		s.mu.Unlock()
		s.flush(ctx)
	}()
}

// retryAfter is the pause before e's next try. Called with s.mu held.
func (s *Service) retryAfter(e *entry) time.Duration {
	if d := s.cfgOf(e).Recall.RetryAfter; d > 0 {
		return d
	}
	return 30 * time.Second
}

// kill hangs up a leg parkd no longer wants and reports whether it did;
// a leg that does not exist (yet, or any more) is not worth a log line.
func (s *Service) kill(ctx context.Context, leg CallID, cause string) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	err := s.sw.Kill(ctx, leg, cause)
	if err != nil && !errors.Is(err, ErrCallGone) {
		s.Logger.Warn().Err(err).Str("leg", string(leg)).Msg("could not hang up a recall leg")
	}
	return err == nil
}

// failureCause names why a recall failed, for the history.
func failureCause(err error) string {
	var f *CallFailure
	if errors.As(err, &f) {
		return f.Cause
	}
	return "recall lost: " + err.Error()
}

func isFailure(err error) bool {
	var f *CallFailure
	return errors.As(err, &f)
}

// templateValues are the placeholders a lot's recall templates may use.
func templateValues(o Occupant, cfg LotConfig) map[string]string {
	// A lot of a domain recalls in its domain, whatever else says: a
	// tenant's parker is never rung in another's.
	domain := cfg.Domain
	if domain == "" {
		domain = cfg.Recall.Domain
	}
	if domain == "" {
		domain = o.ParkerDomain
	}
	return map[string]string{
		"lot": o.Lot, "slot": strconv.Itoa(o.Slot), "caller_name": o.Caller.Name,
		"caller_number": o.Caller.Number, "parker": o.Parker, "domain": domain,
	}
}

// expand fills a template's {placeholders}. "@{domain}" with no domain known
// is dropped, so user/{parker}@{domain} becomes user/1000: FreeSWITCH's
// user endpoint then uses its default domain.
func expand(tmpl string, vals map[string]string) string {
	if vals["domain"] == "" {
		tmpl = strings.ReplaceAll(tmpl, "@{domain}", "")
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(tmpl, '{')
		if i < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		j := strings.IndexByte(tmpl[i:], '}')
		if j < 0 {
			b.WriteString(tmpl)
			return b.String()
		}
		b.WriteString(tmpl[:i])
		name := tmpl[i+1 : i+j]
		if v, ok := vals[name]; ok {
			b.WriteString(v)
		} else {
			b.WriteString(tmpl[i : i+j+1])
		}
		tmpl = tmpl[i+j+1:]
	}
}
