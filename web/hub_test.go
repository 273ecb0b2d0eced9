package web

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"
)

// Ensure the Hub sends the first event after a quiet moment at once, and
// the events of a busy moment together after the fan-out interval, in
// order, each client getting only the lots it sees.
func TestHub_CoalescesBusyMoments(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(zerolog.Nop(), 0, 20*time.Millisecond)
		defer h.Close()
		all := h.subscribe(func(string, string) bool { return true })
		mainOnly := h.subscribe(func(_, lot string) bool { return lot == "main" })
		ev := func(lot, data string) *frame { return &frame{lot: lot, data: []byte(data)} }
		take := func(c *subscriber) string {
			t.Helper()
			select {
			case fs := <-c.ch:
				var s string
				for _, f := range fs {
					s += string(f.data) + " "
				}
				return s
			default:
				return ""
			}
		}

		h.send([]*frame{ev("main", "a")})
		synctest.Wait()
		if got, got2 := take(all), take(mainOnly); got != "a " || got2 != "a " {
			t.Fatalf("first event after a quiet moment: %q and %q, want it at once", got, got2)
		}

		// A busy moment: nothing more within the interval, then all of it
		// in one delivery.
		h.send([]*frame{ev("sales", "b")})
		h.send([]*frame{ev("main", "c"), ev("main", "d")})
		synctest.Wait()
		if got := take(all); got != "" {
			t.Fatalf("delivered within the fan-out interval: %q", got)
		}
		time.Sleep(20 * time.Millisecond)
		synctest.Wait()
		if got := take(all); got != "b c d " {
			t.Fatalf("after the interval the supervisor got %q, want b c d in one delivery", got)
		}
		if got := take(mainOnly); got != "c d " {
			t.Fatalf("after the interval the main-only client got %q, want c d", got)
		}

		// Quiet again: the next event goes out at once.
		time.Sleep(time.Second)
		h.send([]*frame{ev("main", "e")})
		synctest.Wait()
		if got := take(all); got != "e " {
			t.Fatalf("after a quiet moment: %q, want e at once", got)
		}
	})
}

// Ensure a client that sees every lot shares the fan-out's slice, and one
// that does not gets a copy without the others' events.
func TestVisible(t *testing.T) {
	frames := []*frame{{lot: "a"}, {lot: "b"}, {lot: "a"}}
	if got := visible(frames, func(string, string) bool { return true }); &got[0] != &frames[0] || len(got) != 3 {
		t.Fatalf("all lots: %v, want the same slice", got)
	}
	got := visible(frames, func(_, l string) bool { return l == "a" })
	if len(got) != 2 || got[0] != frames[0] || got[1] != frames[2] {
		t.Fatalf("lot a: %v", got)
	}
	if got := visible(frames, func(string, string) bool { return false }); len(got) != 0 {
		t.Fatalf("no lot: %v", got)
	}
}
