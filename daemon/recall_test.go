package daemon

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/parking"
)

// quickRecall is a lot whose calls are recalled one second after parking,
// retried after one second, twice, then sent to the operator.
func quickRecall(edit func(*conf.Lot)) conf.Lot {
	return lot("main", "201-220", func(l *conf.Lot) {
		l.Timeout = time.Second
		l.Recall.RetryAfter = time.Second
		l.Recall.Attempts = 2
		l.Fallback = "operator"
		if edit != nil {
			edit(l)
		}
	})
}

func (h *harness) waitHistory(call string, want ...parking.Event) {
	h.t.Helper()
	h.eventually(fmt.Sprintf("history %v", want), func() bool {
		return slices.Equal(h.history(call), want)
	})
}

// Ensure the hospital recall: nobody picks Jane up, so the receptionist's
// phone rings with the distinctive ring and "Park 202 - Jane Roe"; she
// answers and is talking to Jane.
func TestE2E_Recall_Answered(t *testing.T) {
	h := startHarness(t, quickRecall(nil))
	h.sim.Register("1000", fstest.Endpoint{AnswerAfter: 100 * time.Millisecond})
	jane := h.park("202", caller("Jane Roe", "+15550100"))
	h.waitHistory(jane.UUID(), parking.EventParked, parking.EventRecall, parking.EventRecalled)
	inv := h.sim.Invites()
	if len(inv) != 1 {
		t.Fatalf("%d invites, want 1", len(inv))
	}
	if inv[0].User != "1000" || inv[0].AlertInfo != conf.DefaultRecallAlertInfo ||
		inv[0].CallerIDName != "Park 202 - Jane Roe" || inv[0].CallerIDNumber != "202" {
		t.Fatalf("invite=%+v", inv[0])
	}
	h.waitFor(jane, "jane bridged to the recall leg", bridgedTo(h.sim.Channel(inv[0].UUID)))
	if r := h.lastRow(jane.UUID()); r.Retriever != "1000" {
		t.Fatalf("recalled row=%+v", r)
	}
	if len(h.occupied()) != 0 {
		t.Fatal("slot not freed")
	}
}

// Ensure a busy parker is retried, then the caller goes to the fallback,
// each attempt recorded with FreeSWITCH's cause.
func TestE2E_Recall_BusyThenFallback(t *testing.T) {
	h := startHarness(t, quickRecall(nil))
	h.sim.Register("1000", fstest.Endpoint{Busy: true})
	jane := h.park("202")
	h.waitHistory(jane.UUID(), parking.EventParked, parking.EventRecall, parking.EventRecallFailed,
		parking.EventRecall, parking.EventRecallFailed, parking.EventFallback)
	h.waitFor(jane, "sent to the operator", func(s fstest.ChannelState) bool {
		return s.Alive && s.Destination == "operator"
	})
	rows, _ := h.m.DB.History(t.Context(), storeFilter(jane.UUID()))
	for _, r := range rows {
		if r.Event == parking.EventRecallFailed && r.Reason != "USER_BUSY" {
			t.Fatalf("recall_failed reason %q, want USER_BUSY", r.Reason)
		}
	}
}

// Ensure an unregistered parker counts as a failed recall too.
func TestE2E_Recall_NotRegistered(t *testing.T) {
	h := startHarness(t, quickRecall(func(l *conf.Lot) { l.Recall.Attempts = 1 }))
	jane := h.park("203")
	h.waitHistory(jane.UUID(), parking.EventParked, parking.EventRecall, parking.EventRecallFailed, parking.EventFallback)
	if r := h.history(jane.UUID()); len(r) != 4 {
		t.Fatal(r)
	}
	rows, _ := h.m.DB.History(t.Context(), storeFilter(jane.UUID()))
	if rows[2].Reason != "USER_NOT_REGISTERED" {
		t.Fatalf("reason %q", rows[2].Reason)
	}
}

// Ensure a retrieve while the recall rings wins: the parker's phone stops
// ringing and the retriever gets the caller.
func TestE2E_Recall_RetrieveWhileRinging(t *testing.T) {
	h := startHarness(t, quickRecall(nil))
	h.sim.Register("1000", fstest.Endpoint{NoAnswer: true})
	jane := h.park("204")
	h.eventually("recall ringing", func() bool { return len(h.sim.Invites()) == 1 })
	leg := h.sim.Invites()[0].UUID
	r := h.call("retrieve", "main", "204", caller("Dr. Smith", "2002"))
	h.waitFor(jane, "jane bridged to the retriever", bridgedTo(r))
	h.waitFor(h.sim.Channel(leg), "the recall leg hung up", hungUp)
	h.waitHistory(jane.UUID(), parking.EventParked, parking.EventRecall, parking.EventRetrieved)
}

// Ensure a caller who hangs up while the recall rings cancels it.
func TestE2E_Recall_CallerLeavesWhileRinging(t *testing.T) {
	h := startHarness(t, quickRecall(nil))
	h.sim.Register("1000", fstest.Endpoint{NoAnswer: true})
	jane := h.park("205")
	h.eventually("recall ringing", func() bool { return len(h.sim.Invites()) == 1 })
	leg := h.sim.Invites()[0].UUID
	jane.Hangup("")
	h.waitFor(h.sim.Channel(leg), "the recall leg hung up", hungUp)
	h.waitHistory(jane.UUID(), parking.EventParked, parking.EventRecall, parking.EventAbandoned)
}

// Ensure a hostile caller name reaches the parker's phone as harmless text:
// no extra variables, no second command
// (docs/freeswitch.md#quotes-break-out-of-originate-variables).
func TestE2E_Recall_HostileCallerName(t *testing.T) {
	h := startHarness(t, quickRecall(nil))
	h.sim.Register("1000", fstest.Endpoint{AnswerAfter: 50 * time.Millisecond})
	evil := "a,b}' &park()\n\napi hupall X',park_timeout=1,ignore='"
	jane := h.park("206", caller(evil, "5550100"))
	h.waitHistory(jane.UUID(), parking.EventParked, parking.EventRecall, parking.EventRecalled)
	inv := h.sim.Invites()[0]
	for _, bad := range []string{"park_timeout", "ignore"} {
		if _, ok := inv.Vars[bad]; ok {
			t.Fatalf("injected variable %s reached the recall leg: %v", bad, inv.Vars)
		}
	}
	if strings.ContainsAny(inv.CallerIDName, "'{}\n") {
		t.Fatalf("caller ID name %q not made harmless", inv.CallerIDName)
	}
	for _, c := range h.sim.Commands() {
		if strings.Contains(c, "hupall") && !strings.Contains(c, "originate") {
			t.Fatalf("a second command was injected: %q", c)
		}
	}
	h.waitFor(jane, "jane bridged to the recall leg", bridgedTo(h.sim.Channel(inv.UUID)))
}
