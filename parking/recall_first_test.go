package parking

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

// Ensure a Service that records recalls first (a parkd of an
// active/standby pair) rings the parker only once the recall's row is
// written: while the store holds the write, nothing rings.
func TestRecall_RecordFirst_RingsAfterTheRow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &slowStore{memStore: newMemStore()}
		svc, sw := recallService(t, st, recallLot(nil))
		svc.RecordRecallFirst = true
		t.Cleanup(st.release)
		sw.phones["user/1000@example.com"] = phone{answerAfter: 5 * time.Second}
		parkFor(t, svc, "jane", "1000", 202)

		st.hold()
		sleep(120 * time.Second)
		if placed, _, _, _ := sw.snapshot(); len(placed) != 0 {
			t.Fatalf("%d recalls placed before their row was written, want 0", len(placed))
		}
		st.release()
		synctest.Wait()
		if placed, _, _, _ := sw.snapshot(); len(placed) != 1 {
			t.Fatalf("%d recalls placed once the row was written, want 1", len(placed))
		}
		sleep(5 * time.Second)
		if got, want := st.events("jane"), []Event{EventParked, EventRecall, EventRecalled}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
	})
}

// Ensure a recall whose row cannot be written (the store refuses: a
// fenced parkd that lost its lease, a database that is down) does not
// ring, and is retried after retry_after once the store writes again.
func TestRecall_RecordFirst_NotRungUnrecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := newMemStore()
		svc, sw := recallService(t, st, recallLot(nil))
		svc.RecordRecallFirst = true
		sw.phones["user/1000@example.com"] = phone{answerAfter: 5 * time.Second}
		parkFor(t, svc, "jane", "1000", 202)

		st.mu.Lock()
		st.fail = errors.New("lease lapsed")
		st.mu.Unlock()
		sleep(120 * time.Second)
		if placed, _, _, _ := sw.snapshot(); len(placed) != 0 {
			t.Fatalf("%d recalls placed without their row, want 0", len(placed))
		}
		st.mu.Lock()
		st.fail = nil
		st.mu.Unlock()
		sleep(30 * time.Second) // retry_after
		if placed, _, _, _ := sw.snapshot(); len(placed) != 1 {
			t.Fatalf("%d recalls placed after retry_after, want 1", len(placed))
		}
		sleep(5 * time.Second)
		// The pending rows went in once the store wrote again: the first
		// attempt, recorded as not rung, then the second, answered.
		if got, want := st.events("jane"), []Event{EventParked, EventRecall, EventRecallFailed, EventRecall, EventRecalled}; !slices.Equal(got, want) {
			t.Fatalf("history=%v, want %v", got, want)
		}
	})
}
