package web

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/rs/zerolog"
)

// niceOf reads a thread's nice value from /proc.
func niceOf(t *testing.T, tid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(b), ") ") // after the command name, which may hold spaces
	f := strings.Fields(rest)                  // f[0] is field 3 (state); nice is field 19
	n, err := strconv.Atoi(f[16])
	if err != nil {
		t.Fatalf("stat of thread %d: %q", tid, b)
	}
	return n
}

// Ensure the Hub's fan-out runs on a thread of nice fanOutNice, and that threads
// the runtime starts while it works do not inherit that priority.
func TestHub_FanOutThreadIsLowPriority(t *testing.T) {
	h := newHub(zerolog.Nop(), 1<<20, 0)
	defer h.Close()
	c := h.subscribe(func(string, string) bool { return true })
	h.send([]*frame{{lot: "main", data: []byte("x")}})
	<-c.ch
	tid := int(h.tid.Load())
	if tid == 0 {
		t.Fatal("the fan-out loop did not record its thread")
	}
	if n := niceOf(t, tid); n != fanOutNice {
		t.Fatalf("fan-out thread %d has nice %d, want %d", tid, n, fanOutNice)
	}

	// New threads while the fan-out is busy: each locked goroutine needs
	// a thread of its own.
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-c.ch:
			default:
				h.send([]*frame{{lot: "main", data: []byte("x")}})
			}
		}
	}()
	defer close(stop)
	var wg sync.WaitGroup
	nices := make([]int, 16)
	for i := range nices {
		wg.Go(func() {
			runtime.LockOSThread() // the thread ends with the goroutine
			nices[i] = niceOf(t, syscall.Gettid())
		})
	}
	wg.Wait()
	for i, n := range nices {
		if n != 0 {
			t.Fatalf("thread %d of the locked goroutines has nice %d: the fan-out's priority leaked", i, n)
		}
	}
}
