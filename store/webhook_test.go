package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// mustOpenHooks opens the database at loc with webhooks configured and
// closes it when the test ends.
func mustOpenHooks(tb testing.TB, loc store.Location, hooks ...store.WebhookTarget) *store.DB {
	tb.Helper()
	db := loc.New()
	db.Webhooks = hooks
	if err := db.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// due returns every delivery for webhook due at now, failing the test on
// an error.
func due(tb testing.TB, db *store.DB, webhook string, now time.Time) []store.Delivery {
	tb.Helper()
	ds, err := db.DueDeliveries(context.Background(), webhook, now, 100)
	if err != nil {
		tb.Fatal(err)
	}
	return ds
}

// deliveryIDs lists the deliveries' history ids.
func deliveryIDs(ds []store.Delivery) []int64 {
	ids := make([]int64, len(ds))
	for i, d := range ds {
		ids[i] = d.HistoryID
	}
	return ids
}

// Ensure Record queues each history row for the webhooks that want its
// event, with the row's JSON as payload, and that DueDeliveries hands out
// only the oldest queued event of each call.
func TestWebhook_Outbox(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := mustOpenHooks(t, b.newLoc(t),
			store.WebhookTarget{Name: "all"},
			store.WebhookTarget{Name: "pickups", Events: []parking.Event{parking.EventRetrieved}})
		MustRecord(t, db, Parked("a", "default", 701, t0))
		MustRecord(t, db, Parked("b", "default", 702, t0.Add(time.Second)))
		MustRecord(t, db, Retrieved("a", "default", 701, t0, time.Minute))
		now := t0.Add(time.Hour)

		all := due(t, db, "all", now)
		if got, want := deliveryIDs(all), []int64{1, 2}; !slices.Equal(got, want) {
			t.Fatalf("due for all: history ids %v, want %v (a's retrieve waits for its park)", got, want)
		}
		rows, err := db.History(ctx, store.HistoryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := rows[0].MarshalJSON()
		if string(all[0].Payload) != string(want) || all[0].Call != "a" || !all[0].CreatedAt.Equal(t0.Truncate(time.Millisecond)) {
			t.Fatalf("delivery %+v, want payload %s", all[0], want)
		}
		if !json.Valid(all[0].Payload) {
			t.Fatalf("payload %s is not JSON", all[0].Payload)
		}
		if got := deliveryIDs(due(t, db, "pickups", now)); !slices.Equal(got, []int64{3}) {
			t.Fatalf("due for pickups: %v, want [3]", got)
		}

		// A failed head holds back its call's later events, not other calls'.
		if err := db.DeliveryFailed(ctx, all[0].ID, now.Add(time.Minute), "503"); err != nil {
			t.Fatal(err)
		}
		if got := deliveryIDs(due(t, db, "all", now)); !slices.Equal(got, []int64{2}) {
			t.Fatalf("after a failure: due %v, want [2]", got)
		}
		next, ok, err := db.NextDelivery(ctx, "all")
		if err != nil || !ok || !next.Equal(t0.Add(time.Second).Truncate(time.Millisecond)) {
			t.Fatalf("NextDelivery=%v, %t, %v; want b's park", next, ok, err)
		}
		if err := db.DeliveryDone(ctx, due(t, db, "all", now)[0].ID); err != nil {
			t.Fatal(err)
		}
		if next, ok, _ := db.NextDelivery(ctx, "all"); !ok || !next.Equal(now.Add(time.Minute).Truncate(time.Millisecond)) {
			t.Fatalf("NextDelivery=%v, %t; want the retry of a's park, not its retrieve", next, ok)
		}
		retry := due(t, db, "all", now.Add(time.Minute))
		if len(retry) != 1 || retry[0].HistoryID != 1 || retry[0].Attempts != 1 {
			t.Fatalf("retry %+v, want a's park after 1 attempt", retry)
		}
		if err := db.DeliveryDone(ctx, retry[0].ID); err != nil {
			t.Fatal(err)
		}
		if got := deliveryIDs(due(t, db, "all", now.Add(time.Minute))); !slices.Equal(got, []int64{3}) {
			t.Fatalf("after a's park delivered: due %v, want [3]", got)
		}
	})
}

// Ensure a database with no webhooks queues nothing.
func TestWebhook_NoneConfigured(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		loc := b.newLoc(t)
		db := b.openAt(t, loc)
		MustRecord(t, db, Parked("a", "default", 701, t0))
		var n int
		if err := db.ReadPool().QueryRow(`SELECT COUNT(*) FROM webhook_outbox`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("outbox rows=%d, %v; want none", n, err)
		}
	})
}

// Ensure a transition RecordAll refuses (its slot taken) queues nothing,
// while the others in the batch are queued.
func TestWebhook_RefusedLeavesNoOutbox(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := mustOpenHooks(t, b.newLoc(t), store.WebhookTarget{Name: "h"})
		refused, err := db.RecordAll(ctx, []parking.Transition{
			Parked("a", "default", 701, t0),
			Parked("b", "default", 701, t0.Add(time.Second)), // taken by a
			Parked("c", "default", 702, t0.Add(2*time.Second)),
		})
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(refused[1], parking.ErrSlotTaken) {
			t.Fatalf("refused=%v, want b refused", refused)
		}
		ds := due(t, db, "h", t0.Add(time.Hour))
		calls := make([]parking.CallID, len(ds))
		for i, d := range ds {
			calls[i] = d.Call
		}
		if !slices.Equal(calls, []parking.CallID{"a", "c"}) {
			t.Fatalf("queued calls %v, want [a c]", calls)
		}
		if n, _ := db.QueuedDeliveries(ctx, "h"); n != 2 {
			t.Fatalf("queued=%d, want 2", n)
		}
	})
}

// Ensure queued deliveries survive a restart, and that Open drops those of
// webhooks no longer configured.
func TestWebhook_Reopen(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		loc := b.newLoc(t)
		db := loc.New()
		db.Webhooks = []store.WebhookTarget{{Name: "keep"}, {Name: "gone"}}
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		MustRecord(t, db, Parked("a", "default", 701, t0))
		MustRecord(t, db, Retrieved("a", "default", 701, t0, time.Minute))
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		db = mustOpenHooks(t, loc, store.WebhookTarget{Name: "keep"})
		if got := db.DroppedAtOpen(); got != 2 {
			t.Fatalf("DroppedAtOpen=%d, want 2", got)
		}
		if n, _ := db.QueuedDeliveries(ctx, "gone"); n != 0 {
			t.Fatalf("gone has %d queued, want 0", n)
		}
		if n, _ := db.QueuedDeliveries(ctx, "keep"); n != 2 {
			t.Fatalf("keep has %d queued, want 2", n)
		}
	})
}

// Ensure the retention prune deleting the history of an ended session
// leaves its queued deliveries whole.
func TestWebhook_PruneKeepsPending(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := mustOpenHooks(t, b.newLoc(t), store.WebhookTarget{Name: "h"})
		MustRecord(t, db, Parked("a", "default", 701, t0))
		MustRecord(t, db, Retrieved("a", "default", 701, t0, time.Minute))
		before := due(t, db, "h", t0.Add(time.Hour))
		n, err := db.Prune(ctx, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 || HistoryLen(t, db) != 0 {
			t.Fatalf("pruned %d rows, %d left; want the session pruned", n, HistoryLen(t, db))
		}
		after := due(t, db, "h", t0.Add(time.Hour))
		if len(after) != 1 || string(after[0].Payload) != string(before[0].Payload) {
			t.Fatalf("after the prune: %+v, want %+v", after, before)
		}
		if err := db.DeliveryDone(ctx, after[0].ID); err != nil {
			t.Fatal(err)
		}
		if got := deliveryIDs(due(t, db, "h", t0.Add(time.Hour))); !slices.Equal(got, []int64{2}) {
			t.Fatalf("then due %v, want the retrieve [2]", got)
		}
	})
}
