package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/store/storetest"
)

// Ensure a note attaches to the call in the slot, shows in Parked and in the
// park_sessions view, is refused for an empty slot and for bad text, and
// that OpenExisting writes it beside another open writer.
func TestDB_AddNote(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		daemon := b.openFixture(t) // the daemon's DB stays open
		cli, err := daemon.Location().OpenExisting()
		if err != nil {
			t.Fatal(err)
		}
		defer cli.Close()
		at := storetest.WindowEnd().Add(time.Minute)

		n, err := cli.AddNote(ctx, "", "reception", 302, "  Wants Dr. Smith about lab results  ", at)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := n.Call, parking.CallID("call-i"); got != want {
			t.Fatalf("call=%q, want %q", got, want)
		}
		if got, want := n.Text, "Wants Dr. Smith about lab results"; got != want {
			t.Fatalf("text=%q, want %q", got, want)
		}
		if _, err := cli.AddNote(ctx, "", "reception", 302, "Called back twice", at.Add(time.Second)); err != nil {
			t.Fatal(err)
		}

		parked, err := daemon.Parked(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(parked), 1; got != want {
			t.Fatalf("parked=%d, want %d", got, want)
		}
		if got, want := parked[0].Note, "Called back twice"; got != want {
			t.Fatalf("slots note=%q, want the latest %q", got, want)
		}
		if got, want := parked[0].Attempts, 1; got != want {
			t.Fatalf("attempts=%d, want %d", got, want)
		}
		sessions, err := daemon.Sessions(ctx, storetest.Base(), storetest.WindowEnd())
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sessions {
			want := ""
			if s.Call == "call-i" {
				want = "Called back twice"
			}
			if s.Note != want {
				t.Fatalf("session %s note=%q, want %q", s.Call, s.Note, want)
			}
		}
		notes, err := daemon.Notes(ctx, store.HistoryFilter{Caller: "ANA"})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(notes), 2; got != want {
			t.Fatalf("notes for caller ana=%d, want %d", got, want)
		}

		t.Run("ErrSlotEmpty", func(t *testing.T) {
			_, err := cli.AddNote(ctx, "", "main", 202, "hello", at)
			if !errors.Is(err, parking.ErrSlotEmpty) {
				t.Fatalf("err=%v, want %v", err, parking.ErrSlotEmpty)
			}
			if got, want := err.Error(), "slot main/202 is empty"; !strings.HasPrefix(got, want) {
				t.Fatalf("err=%q, want it to start %q", got, want)
			}
		})
		t.Run("ErrInvalid", func(t *testing.T) {
			for _, text := range []string{"", "   ", "two\nlines", "tab\there", "bell\a", strings.Repeat("x", 501), "\xff"} {
				if _, err := cli.AddNote(ctx, "", "reception", 302, text, at); !errors.Is(err, store.ErrInvalid) {
					t.Errorf("text %q: err=%v, want %v", text, err, store.ErrInvalid)
				}
			}
			if _, err := cli.AddNote(ctx, "", "reception", 302, strings.Repeat("é", 500), at); err != nil {
				t.Errorf("500 characters: %v", err)
			}
		})
		t.Run("ErrReadOnly", func(t *testing.T) {
			ro, err := daemon.Location().OpenReadOnly()
			if err != nil {
				t.Fatal(err)
			}
			defer ro.Close()
			if _, err := ro.AddNote(ctx, "", "reception", 302, "x", at); !errors.Is(err, store.ErrReadOnly) {
				t.Fatalf("err=%v, want %v", err, store.ErrReadOnly)
			}
		})
		t.Run("OpenExistingMissing", func(t *testing.T) {
			if _, err := store.OpenExisting(filepath.Join(t.TempDir(), "none.db")); err == nil {
				t.Fatal("OpenExisting on a missing file: no error")
			}
		})
	})
}

// Ensure the new history filters select by parker, by a piece of the
// caller's number or name (wildcards taken literally), and that Newest keeps
// the most recent rows, oldest first.
func TestDB_History_NewFilters(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.openFixture(t)
		events := func(f store.HistoryFilter) []string {
			t.Helper()
			rows, err := db.History(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, r := range rows {
				out = append(out, string(r.Call)+":"+string(r.Event))
			}
			return out
		}
		for _, tt := range []struct {
			name string
			f    store.HistoryFilter
			want []string
		}{
			{"Parker", store.HistoryFilter{Parker: "1004"}, []string{"call-p:parked", "call-p:retrieved", "call-q:parked", "call-q:retrieved"}},
			{"CallerName", store.HistoryFilter{Caller: "aNa sil", Lot: "reception"}, []string{"call-i:parked", "call-i:recall"}},
			{"CallerNumber", store.HistoryFilter{Caller: "0199"}, []string{"call-r:rejected"}},
			{"CallerWildcard", store.HistoryFilter{Caller: "%"}, nil},
			{"Newest", store.HistoryFilter{Lot: "main", Limit: 3, Newest: true}, []string{"call-f:parked", "call-f:retrieved", "call-e:retrieved"}},
			{"Oldest", store.HistoryFilter{Lot: "main", Limit: 2}, []string{"call-a:parked", "call-b:parked"}},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if got := events(tt.f); !slices.Equal(got, tt.want) {
					t.Fatalf("rows=%v, want %v", got, tt.want)
				}
			})
		}
	})
}

// Ensure Prune deletes the history, sessions and notes of sessions that
// ended before the cutoff and refused parks before it, and nothing of calls
// parked now or of sessions that ended after it; and that history stays
// append-only afterwards.
func TestDB_Prune(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.openFixture(t)
		// call-i is parked now (since 09:00) and has a note.
		if _, err := db.AddNote(ctx, "", "reception", 302, "keep me", storetest.Base().Add(90*time.Minute)); err != nil {
			t.Fatal(err)
		}
		before := HistoryLen(t, db)
		// Cut at 10:42: sessions b, c, h, p, d, q, g, j and a ended before it,
		// and so did m's first stay (10:40:30); the refused park r is before it.
		cut := storetest.Base().Add(162 * time.Minute)
		n, err := db.Prune(ctx, cut)
		if err != nil {
			t.Fatal(err)
		}
		rows, err := db.History(ctx, store.HistoryFilter{})
		if err != nil {
			t.Fatal(err)
		}
		calls := map[parking.CallID]int{}
		for _, r := range rows {
			calls[r.Call]++
		}
		want := map[parking.CallID]int{"call-i": 2, "call-m": 2, "call-n": 3, "call-k": 2, "call-l": 3, "call-e": 2, "call-f": 2}
		if len(calls) != len(want) {
			t.Fatalf("calls left=%v, want %v", calls, want)
		}
		for c, k := range want {
			if calls[c] != k {
				t.Fatalf("call %s rows=%d, want %d (all: %v)", c, calls[c], k, calls)
			}
		}
		if got, want := n, int64(before-len(rows)); got != want {
			t.Fatalf("pruned=%d, want %d", got, want)
		}
		sessions, err := db.Sessions(ctx, time.Time{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if got, want := len(sessions), 7; got != want { // i, m's second stay, n, k, l, e, f
			t.Fatalf("sessions left=%d, want %d: %+v", got, want, sessions)
		}
		parked, err := db.Parked(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(parked) != 1 || parked[0].Note != "keep me" {
			t.Fatalf("parked after prune=%+v, want call-i with its note", parked)
		}
		if _, err := db.WritePool().Exec(`DELETE FROM history`); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("delete after prune: err=%v, want append-only", err)
		}
		// Pruning again deletes nothing.
		if n, err := db.Prune(ctx, cut); err != nil || n != 0 {
			t.Fatalf("second prune=%d, %v", n, err)
		}
	})
}
