//go:build linux && cgo

package web

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/internal/schedslice"
)

// burstWriters is every burst writer this system has, pacing by pace,
// each made for a test and closed after it.
func burstWriters(pace pacing) map[string]func(*testing.T) burstWriter {
	return map[string]func(*testing.T) burstWriter{
		"poller": func(*testing.T) burstWriter { return pollerWriter{pace: pace} },
		"thread": func(t *testing.T) burstWriter {
			w, err := newThreadWriter(pace)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(w.close)
			return w
		},
	}
}

// Ensure the writer's thread runs burstNicer nicer than the process's
// other threads, and ends when the writer is closed.
func TestThreadWriter_NicerThreadEndsAtClose(t *testing.T) {
	w, err := newThreadWriter(pacing{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the writer's thread to run", func() bool { return w.tid() != 0 })
	task := fmt.Sprintf("/proc/self/task/%d", w.tid())
	nice := func(task string) int {
		t.Helper()
		stat, err := os.ReadFile(task + "/stat")
		if err != nil {
			t.Fatal(err)
		}
		// The fields after the command's closing parenthesis: the nice
		// value is the 19th of the line, the 17th of these.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		n, err := strconv.Atoi(f[16])
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	want := min(nice("/proc/thread-self")+burstNicer, 19)
	waitFor(t, "the thread's priority", func() bool { return nice(task) == want })
	w.close()
	waitFor(t, "the writer's thread to end", func() bool {
		_, err := os.Stat(task)
		return errors.Is(err, fs.ErrNotExist)
	})
}

// Ensure the writer's thread does not keep the short slice parkd's threads
// ask for (and a new thread inherits): its bursts give way to parks.
func TestThreadWriter_KeepsTheKernelsSlice(t *testing.T) {
	const short = 300 * time.Microsecond
	if _, err := schedslice.Apply(short); errors.Is(err, schedslice.ErrUnsupported) {
		t.Skipf("skipped: %v", err)
	} else if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := schedslice.Reset(); err != nil {
			t.Error(err)
		}
	})
	w, err := newThreadWriter(pacing{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.close()
	waitFor(t, "the writer's thread to run", func() bool { return w.tid() != 0 })
	got, err := schedslice.Of(w.tid())
	if err != nil {
		t.Fatal(err)
	}
	if got == short {
		t.Fatalf("the writer's thread runs with parkd's short slice %v", got)
	}
}

// Ensure a burst larger than shrinkArenaAbove (boards that stalled
// together) does not keep its C memory for good, while a usual burst's is
// kept for the next; and that a closed writer's bursts still go out, from
// the caller.
func TestThreadWriter_GivesBackALargeBurst(t *testing.T) {
	w, err := newThreadWriter(pacing{})
	if err != nil {
		t.Fatal(err)
	}
	p := newSockPair(t)
	small := pattern(1000)
	w.write(small, []directWrite{p.write(0, len(small))})
	if w.size == 0 {
		t.Fatal("a usual burst's memory was not kept")
	}
	p.readN(t, len(small))
	large := pattern(shrinkArenaAbove + 1)
	ws := []directWrite{p.write(0, 10)} // the rest of the arena is other streams'
	w.write(large, ws)
	if ws[0].took != 10 || ws[0].err != nil {
		t.Fatalf("took %d, %v", ws[0].took, ws[0].err)
	}
	if w.size != 0 || w.arena != nil {
		t.Fatalf("%d bytes of C memory kept after a burst of %d", w.size, len(large))
	}
	p.readN(t, 10)
	w.close()
	ws = []directWrite{p.write(0, 5)}
	w.write(small, ws)
	if ws[0].took != 5 || ws[0].err != nil {
		t.Fatalf("closed writer: took %d, %v", ws[0].took, ws[0].err)
	}
	if got := p.readN(t, 5); string(got) != string(small[:5]) {
		t.Fatalf("read %q", got)
	}
}
