package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// openLease opens the lease "active" of the database at loc for holder.
func openLease(t *testing.T, loc store.Location, holder string) *store.Lease {
	t.Helper()
	l, err := store.OpenLease(context.Background(), loc.DSN, "", "active", holder)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// openFenced opens the database at loc writing under generation gen.
func openFenced(t *testing.T, loc store.Location, gen int64) *store.DB {
	t.Helper()
	db := loc.New()
	db.Fence = gen
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Ensure the lease goes to one holder at a time: a second holder cannot
// take a running lease, takes it with a new generation once the first
// releases it, and the first can no longer renew it.
func TestLease_OneHolder(t *testing.T) {
	ctx := context.Background()
	loc := pgLoc(t)
	a, b := openLease(t, loc, "host-a"), openLease(t, loc, "host-b")

	if _, ok, err := a.Current(ctx); err != nil || ok {
		t.Fatalf("a new database's lease: ok=%v err=%v, want none", ok, err)
	}
	genA, _, ok, err := a.Acquire(ctx, time.Minute)
	if err != nil || !ok || genA == 0 {
		t.Fatalf("a acquires: gen=%d ok=%v err=%v", genA, ok, err)
	}
	if _, left, ok, err := b.Acquire(ctx, time.Minute); err != nil || ok || left < 50*time.Second || left > time.Minute {
		t.Fatalf("b took a running lease: ok=%v left=%v err=%v, want refused with about a minute left", ok, left, err)
	}
	if ok, err := a.Renew(ctx, genA, time.Minute); err != nil || !ok {
		t.Fatalf("a renews: ok=%v err=%v", ok, err)
	}
	cur, ok, err := b.Current(ctx)
	if err != nil || !ok || cur.Holder != "host-a" || cur.Generation != genA || cur.Left < 50*time.Second {
		t.Fatalf("current=%+v ok=%v err=%v", cur, ok, err)
	}

	if err := a.Release(ctx, genA); err != nil {
		t.Fatal(err)
	}
	genB, _, ok, err := b.Acquire(ctx, time.Minute)
	if err != nil || !ok || genB <= genA {
		t.Fatalf("b after the release: gen=%d ok=%v err=%v, want a generation above %d", genB, ok, err, genA)
	}
	if ok, err := a.Renew(ctx, genA, time.Minute); err != nil || ok {
		t.Fatalf("a renewed a lease b took over: ok=%v err=%v", ok, err)
	}
	if err := a.Release(ctx, genA); err != nil { // a stale release does nothing
		t.Fatal(err)
	}
	if cur, _, _ := a.Current(ctx); cur.Holder != "host-b" || cur.Generation != genB || cur.Left <= 0 {
		t.Fatalf("a stale release ended b's lease: %+v", cur)
	}
}

// Ensure the database refuses every kind of write of a parkd whose lease
// another parkd took over (a stale generation), with ErrFenced, and keeps
// accepting the new holder's: history and occupancy, a batch, notes,
// pruning and webhook deliveries.
func TestLease_StaleGenerationRefused(t *testing.T) {
	ctx := context.Background()
	loc := pgLoc(t)
	a, b := openLease(t, loc, "host-a"), openLease(t, loc, "host-b")
	genA, _, _, err := a.Acquire(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	old := openFenced(t, loc, genA)
	MustRecord(t, old, Parked("call-1", "default", 1, t0))

	if err := a.Release(ctx, genA); err != nil {
		t.Fatal(err)
	}
	genB, _, ok, err := b.Acquire(ctx, time.Minute)
	if err != nil || !ok {
		t.Fatalf("b: ok=%v err=%v", ok, err)
	}
	cur := openFenced(t, loc, genB)

	writes := map[string]func(db *store.DB) error{
		"Record": func(db *store.DB) error {
			return db.Record(ctx, Parked("call-2", "default", 2, t0.Add(time.Second)))
		},
		"RecordAll": func(db *store.DB) error {
			_, err := db.RecordAll(ctx, []parking.Transition{Parked("call-3", "default", 3, t0.Add(2*time.Second))})
			return err
		},
		"AddNote": func(db *store.DB) error {
			_, err := db.AddNote(ctx, "", "default", 1, "fenced?", t0.Add(3*time.Second))
			return err
		},
		"Prune": func(db *store.DB) error {
			_, err := db.Prune(ctx, t0.Add(-time.Hour))
			return err
		},
	}
	for name, write := range writes {
		if err := write(old); !errors.Is(err, store.ErrFenced) {
			t.Errorf("%s with a stale generation: %v, want %v", name, err, store.ErrFenced)
		}
		if err := write(cur); err != nil {
			t.Errorf("%s with the current generation: %v", name, err)
		}
	}
	occ, err := cur.Occupied(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := slotsOf(occ); len(got) != 3 {
		t.Fatalf("occupied %v: want calls 1, 2 and 3, written once each", got)
	}
	if n := HistoryLen(t, cur); n != 3 {
		t.Fatalf("history=%d rows, want 3: the stale writes left rows", n)
	}
}

// Ensure the fence's row lock holds up a takeover, not a renewal: while a
// write transaction of the holder is open, the holder still renews (a long
// prune does not cost it the lease), and another parkd that finds the
// lease released takes it only once that transaction has ended, after
// which the old holder's writes are refused.
func TestLease_FenceHoldsTakeoverNotRenewal(t *testing.T) {
	ctx := context.Background()
	loc := pgLoc(t)
	a, b := openLease(t, loc, "host-a"), openLease(t, loc, "host-b")
	genA, _, _, err := a.Acquire(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	old := openFenced(t, loc, genA)
	tx, err := old.WritePool().BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT parkd_fence($1)`, genA); err != nil {
		t.Fatal(err)
	}

	renewCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if ok, err := a.Renew(renewCtx, genA, time.Minute); err != nil || !ok {
		t.Fatalf("renew beside the holder's open transaction: ok=%v err=%v (held up by the fence's lock?)", ok, err)
	}
	if err := a.Release(renewCtx, genA); err != nil {
		t.Fatalf("release beside the holder's open transaction: %v", err)
	}

	type acquired struct {
		ok  bool
		err error
	}
	took := make(chan acquired, 1)
	go func() {
		_, _, ok, err := b.Acquire(ctx, time.Minute)
		took <- acquired{ok, err}
	}()
	select {
	case r := <-took:
		t.Fatalf("b took the lease (ok=%v err=%v) while a's transaction was still open", r.ok, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if r := <-took; r.err != nil || !r.ok {
		t.Fatalf("b after a's transaction ended: ok=%v err=%v", r.ok, r.err)
	}
	if err := old.Record(ctx, Parked("call-1", "default", 1, t0)); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("a's write after the takeover: %v, want %v", err, store.ErrFenced)
	}
}

// Ensure a lease that lapses without anybody taking it over fences its
// holder too: once its deadline has passed on the database's clock, the
// holder can neither write nor renew.
func TestLease_LapsedRefused(t *testing.T) {
	ctx := context.Background()
	loc := pgLoc(t)
	a := openLease(t, loc, "host-a")
	gen, _, _, err := a.Acquire(ctx, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	db := openFenced(t, loc, gen)
	MustRecord(t, db, Parked("call-1", "default", 1, t0))
	// A short renewal, then past it.
	if ok, err := a.Renew(ctx, gen, 50*time.Millisecond); err != nil || !ok {
		t.Fatalf("renew: ok=%v err=%v", ok, err)
	}
	time.Sleep(100 * time.Millisecond)
	if err := db.Record(ctx, Parked("call-2", "default", 2, t0)); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("write after the lapse: %v, want %v", err, store.ErrFenced)
	}
	if ok, err := a.Renew(ctx, gen, time.Minute); err != nil || ok {
		t.Fatalf("renewed a lapsed lease: ok=%v err=%v", ok, err)
	}
}

// BenchmarkFence measures what the fence costs PostgreSQL's writes: the
// same park and retrieve pairs as BenchmarkRecord and BenchmarkRecordAll,
// by a lone parkd's store and by an active parkd's (every transaction
// proves the lease first).
func BenchmarkFence(b *testing.B) {
	for _, fenced := range []bool{false, true} {
		name := map[bool]string{false: "lone", true: "fenced"}[fenced]
		open := func(b *testing.B) *store.DB {
			loc := backends[1].newLoc(b)
			var gen int64
			if fenced {
				l, err := store.OpenLease(context.Background(), loc.DSN, "", "active", "bench")
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { l.Close() })
				if gen, _, _, err = l.Acquire(context.Background(), time.Hour); err != nil {
					b.Fatal(err)
				}
			}
			db := loc.New()
			db.Fence = gen
			if err := db.Open(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { db.Close() })
			return db
		}
		b.Run("Record/"+name, func(b *testing.B) {
			db, ctx, i := open(b), context.Background(), 0
			for b.Loop() {
				call, slot, at := parking.CallID(fmt.Sprintf("call-%d", i)), i%100+1, t0.Add(time.Duration(i)*time.Second)
				if err := db.Record(ctx, Parked(call, "default", slot, at)); err != nil {
					b.Fatal(err)
				}
				if err := db.Record(ctx, Retrieved(call, "default", slot, at, 1500*time.Millisecond)); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(2*i)/b.Elapsed().Seconds(), "rows/s")
		})
		b.Run("RecordAll64/"+name, func(b *testing.B) {
			db, ctx, i := open(b), context.Background(), 0
			batch := make([]parking.Transition, 0, 64)
			for b.Loop() {
				batch = batch[:0]
				for len(batch) < cap(batch) {
					call, slot, at := parking.CallID(fmt.Sprintf("call-%d", i)), i%100+1, t0.Add(time.Duration(i)*time.Second)
					batch = append(batch, Parked(call, "default", slot, at), Retrieved(call, "default", slot, at, 1500*time.Millisecond))
					i++
				}
				if _, err := db.RecordAll(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(2*i)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}

// Ensure a lone parkd (the daemon lock) and the parkd of a pair (the
// lease's shared lock) are never let onto one database together, while
// two parkd of a pair are.
func TestLease_LoneAndPairExclusive(t *testing.T) {
	ctx := context.Background()
	loc := pgLoc(t)
	a := openLease(t, loc, "host-a")
	openLease(t, loc, "host-b") // the pair's second
	lone := loc.New()
	t.Cleanup(func() { lone.Close() })
	if err := lone.Open(); err != nil {
		t.Fatal(err)
	}
	if err := lone.LockDaemon(ctx); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("a lone parkd beside a pair: %v, want %v", err, store.ErrLocked)
	}
	a.Close()

	loc2 := pgLoc(t)
	lone2 := loc2.New()
	t.Cleanup(func() { lone2.Close() })
	if err := lone2.Open(); err != nil {
		t.Fatal(err)
	}
	if err := lone2.LockDaemon(ctx); err != nil {
		t.Fatal(err)
	}
	if l, err := store.OpenLease(ctx, loc2.DSN, "", "active", "host-a"); !errors.Is(err, store.ErrLocked) {
		l.Close()
		t.Fatalf("a pair beside a lone parkd: %v, want %v", err, store.ErrLocked)
	}
}

// Ensure the lock a pair shares is its node's when the site has nodes: a
// pair of node a and a lone parkd of node b run on one database, a lone
// parkd of node a beside a's pair does not, nor a pair of node b beside
// b's lone parkd; and the two nodes' leases are held at once, each
// fencing its own holder's writes only.
func TestLease_LockPerNode(t *testing.T) {
	ctx := context.Background()
	loc := pgLoc(t)
	open := func(node, holder string) (*store.Lease, error) {
		l, err := store.OpenLease(ctx, loc.DSN, node, "node:"+node, holder)
		if err == nil {
			t.Cleanup(func() { l.Close() })
		}
		return l, err
	}
	lone := func(node string) *store.DB {
		db := loc.New()
		db.Node = node
		t.Cleanup(func() { db.Close() })
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		return db
	}
	a1, err := open("a", "a1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open("a", "a2"); err != nil {
		t.Fatalf("the second parkd of node a's pair: %v", err)
	}
	if err := lone("b").LockDaemon(ctx); err != nil {
		t.Fatalf("a lone parkd of node b beside node a's pair: %v", err)
	}
	if err := lone("a").LockDaemon(ctx); !errors.Is(err, store.ErrLocked) {
		t.Fatalf("a lone parkd of node a beside its pair: %v, want %v", err, store.ErrLocked)
	}
	if l, err := open("b", "b1"); !errors.Is(err, store.ErrLocked) {
		l.Close()
		t.Fatalf("a pair of node b beside its lone parkd: %v, want %v", err, store.ErrLocked)
	}
	c1, err := open("c", "c1")
	if err != nil {
		t.Fatal(err)
	}

	genA, _, ok, err := a1.Acquire(ctx, time.Minute)
	if err != nil || !ok {
		t.Fatalf("node a's lease: ok=%v err=%v", ok, err)
	}
	genC, _, ok, err := c1.Acquire(ctx, time.Minute)
	if err != nil || !ok || genC == genA {
		t.Fatalf("node c's lease beside a's: gen %d (a's %d) ok=%v err=%v", genC, genA, ok, err)
	}
	dbA := openFenced(t, loc, genA)
	if err := dbA.Record(ctx, Parked("node-a-call", "default", 1, time.Now())); err != nil {
		t.Fatalf("node a's holder writes while node c's lease is held too: %v", err)
	}
	if err := a1.Release(ctx, genA); err != nil {
		t.Fatal(err)
	}
	if err := dbA.Record(ctx, Parked("node-a-call-2", "default", 2, time.Now())); !errors.Is(err, store.ErrFenced) {
		t.Fatalf("node a's released holder writes: %v, want %v", err, store.ErrFenced)
	}
	if ok, err := c1.Renew(ctx, genC, time.Minute); err != nil || !ok {
		t.Fatalf("node c's lease after node a's was released: ok=%v err=%v", ok, err)
	}
}
