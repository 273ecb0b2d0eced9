//go:build linux && cgo

package web

/*
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

// One stream's write of a burst: in fd, off, len; out n, err.
typedef struct {
	int fd;
	int err;    // errno of the write that failed; 0, also for a full socket
	size_t off; // the bytes: arena[off, off+len)
	size_t len;
	size_t n;   // how many the socket took
} parkd_write;

// The writer thread and its one job at a time.
typedef struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int state; // 0 idle, 1 a job to do, 2 stop
	const char *arena;
	parkd_write *w;
	int count;
	int done_fd; // an eventfd: the thread adds 1 when a job is done, and when it stops
	int nicer;   // how much nicer than the process the thread runs
	int tid;     // the thread's ID, once it runs (tests)
	int every;   // pause after every this many writes; 0: never
	long pause_ns;
} parkd_burster;

static void parkd_burst(parkd_burster *b, const char *arena, parkd_write *w, int count) {
	for (int i = 0; i < count; i++) {
		if (b->every > 0 && b->pause_ns > 0 && i > 0 && i % b->every == 0) {
			struct timespec ts = {b->pause_ns / 1000000000L, b->pause_ns % 1000000000L};
			while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
			}
		}
		parkd_write *x = &w[i];
		x->n = 0;
		x->err = 0;
		while (x->n < x->len) {
			ssize_t r = send(x->fd, arena + x->off + x->n, x->len - x->n, MSG_DONTWAIT | MSG_NOSIGNAL);
			if (r > 0) {
				x->n += (size_t)r;
				continue;
			}
			if (r < 0 && errno == EINTR) {
				continue;
			}
			if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
				x->err = errno;
			}
			break;
		}
	}
}

// struct sched_attr of sched_setattr(2), which glibc does not declare.
typedef struct {
	uint32_t size;
	uint32_t policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime;
	uint64_t deadline;
	uint64_t period;
	uint32_t util_min;
	uint32_t util_max;
} parkd_sched_attr;

// parkd_default_slice gives the calling thread the kernel's default slice
// back. parkd asks for short slices (internal/schedslice), which its
// threads' wake-ups want and a clone inherits; a burst is long work that
// should give way, not get the sooner deadline a short slice brings.
static void parkd_default_slice(void) {
	parkd_sched_attr a;
	memset(&a, 0, sizeof a);
	if (syscall(SYS_sched_getattr, 0, &a, sizeof a, 0) != 0 ||
	    (a.policy != SCHED_OTHER && a.policy != SCHED_BATCH)) {
		return;
	}
	a.size = sizeof a;
	a.flags &= 1; // SCHED_FLAG_RESET_ON_FORK: clearing it needs CAP_SYS_NICE
	a.runtime = 0; // 0: the kernel's default
	syscall(SYS_sched_setattr, 0, &a, 0);
}

static void parkd_signal_done(parkd_burster *b) {
	uint64_t one = 1;
	while (write(b->done_fd, &one, sizeof one) < 0 && errno == EINTR) {
	}
}

static void *parkd_burster_main(void *arg) {
	parkd_burster *b = arg;
	// Signals go to the runtime's threads, never to this one.
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	parkd_default_slice();
	// A lower priority than the process's other threads, so that a park
	// that wakes during a burst takes the core at once. On Linux the nice
	// value is the thread's own; a thread may always raise it.
	id_t tid = (id_t)syscall(SYS_gettid);
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, tid);
	if (errno == 0) {
		nice += b->nicer;
		setpriority(PRIO_PROCESS, tid, nice < 19 ? nice : 19);
	}
	// Published once the thread's slice and priority are set (tests).
	__atomic_store_n(&b->tid, (int)tid, __ATOMIC_RELEASE);
	for (;;) {
		pthread_mutex_lock(&b->mu);
		while (b->state == 0) {
			pthread_cond_wait(&b->cv, &b->mu);
		}
		int stop = b->state == 2;
		pthread_mutex_unlock(&b->mu);
		if (stop) {
			break;
		}
		parkd_burst(b, b->arena, b->w, b->count);
		pthread_mutex_lock(&b->mu);
		b->state = 0;
		pthread_mutex_unlock(&b->mu);
		parkd_signal_done(b);
	}
	parkd_signal_done(b); // the last use of b: the Go side frees it then
	return NULL;
}

// parkd_burster_start makes the writer thread; NULL when it cannot.
static parkd_burster *parkd_burster_start(int nicer, int every, long pause_ns) {
	parkd_burster *b = calloc(1, sizeof *b);
	if (b == NULL) {
		return NULL;
	}
	b->nicer = nicer;
	b->every = every;
	b->pause_ns = pause_ns;
	b->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->done_fd < 0) {
		free(b);
		return NULL;
	}
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_t t;
	int err = pthread_create(&t, &attr, parkd_burster_main, b);
	pthread_attr_destroy(&attr);
	if (err != 0) {
		close(b->done_fd);
		free(b);
		return NULL;
	}
	return b;
}

// parkd_burster_post hands the thread a job (state 1) or tells it to stop
// (state 2).
static void parkd_burster_post(parkd_burster *b, const char *arena, parkd_write *w, int count, int state) {
	pthread_mutex_lock(&b->mu);
	b->arena = arena;
	b->w = w;
	b->count = count;
	b->state = state;
	pthread_cond_signal(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static int parkd_burster_tid(parkd_burster *b) {
	return __atomic_load_n(&b->tid, __ATOMIC_ACQUIRE);
}

static void parkd_burster_free(parkd_burster *b) {
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b);
}
*/
import "C"

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"github.com/rs/zerolog"
)

// burstNicer is how much nicer than the rest of parkd the writer thread
// runs. Measured (BENCHMARKS.md): at +10 a park that wakes during a burst
// no longer waits for it; SCHED_IDLE and nice 19 starved the bursts,
// and with them the events, whenever the cores were busy.
const burstNicer = 10

// threadWriter writes bursts on a thread of its own, made in C and
// running burstNicer nicer than the process: a park that wakes while it
// writes takes the core from it. As it is not one of the Go runtime's
// threads it holds no P, also while it waits for a core: the Hub's
// goroutine hands it a burst and sleeps in the poller until it is done,
// so both Ps stay free for parks meanwhile. (The fan-out once ran on a
// goroutine's own thread at nice 10: descheduled, that thread held a P,
// and the process waited for it; BENCHMARKS.md.)
//
// The bytes and the writes are copied to C memory, which the thread may
// use after the cgo call that handed them over has returned.
type threadWriter struct {
	b     *C.parkd_burster
	pace  pacing   // the thread's, and the Hub goroutine's if the thread is lost
	done  *os.File // the thread's eventfd, read through the poller
	arena unsafe.Pointer
	size  int // arena's size
	ws    *C.parkd_write
	cap   int // how many writes ws holds
}

// newBurstWriter makes a threadWriter, or a pollerWriter if the thread
// cannot be made.
func newBurstWriter(log zerolog.Logger) burstWriter {
	w, err := newThreadWriter(burstPacing)
	if err != nil {
		log.Warn().Err(err).Msg("live events: streams written from the hub's goroutine")
		return pollerWriter{pace: burstPacing}
	}
	return w
}

// newThreadWriter starts a writer thread that paces its bursts by pace.
func newThreadWriter(pace pacing) (*threadWriter, error) {
	b := C.parkd_burster_start(burstNicer, C.int(pace.every), C.long(pace.pause.Nanoseconds()))
	if b == nil {
		return nil, fmt.Errorf("live events: no writer thread: %w", syscall.EAGAIN)
	}
	return &threadWriter{b: b, pace: pace, done: os.NewFile(uintptr(b.done_fd), "parkd-burst-done")}, nil
}

func (t *threadWriter) write(arena []byte, ws []directWrite) {
	if len(ws) == 0 {
		return
	}
	if t.b == nil {
		// Closed, or its thread lost (below): the Hub's goroutine
		// writes.
		pollerWriter{pace: t.pace}.write(arena, ws)
		return
	}
	if len(arena) > t.size {
		C.free(t.arena)
		t.size = max(len(arena), 2*t.size, 64<<10)
		t.arena = C.malloc(C.size_t(t.size))
	}
	if len(ws) > t.cap {
		C.free(unsafe.Pointer(t.ws))
		t.cap = max(len(ws), 2*t.cap, 256)
		t.ws = (*C.parkd_write)(C.malloc(C.size_t(t.cap) * C.size_t(unsafe.Sizeof(C.parkd_write{}))))
	}
	if t.arena == nil || t.ws == nil {
		t.free()
		pollerWriter{pace: t.pace}.write(arena, ws)
		return
	}
	copy(unsafe.Slice((*byte)(t.arena), len(arena)), arena)
	cw := unsafe.Slice(t.ws, len(ws))
	for i := range ws {
		cw[i] = C.parkd_write{fd: C.int(ws[i].fd), off: C.size_t(ws[i].off), len: C.size_t(ws[i].n)}
	}
	C.parkd_burster_post(t.b, (*C.char)(t.arena), t.ws, C.int(len(ws)), 1)
	if err := t.wait(); err != nil {
		// The thread's eventfd failed, which it does not: the thread may
		// still be writing, so what it was handed is left to it (leaked,
		// never freed or reused under it) and the writer is given up.
		// Every write counts as not done and none as failed: a failed
		// one would drop its stream and close its descriptor, whose
		// number the thread might then write to once reused (a socket
		// to the switch, say). Later bursts go from the Hub's goroutine.
		t.b, t.arena, t.ws, t.size, t.cap = nil, nil, nil, 0, 0
		for i := range ws {
			ws[i].took, ws[i].err = 0, nil
		}
		return
	}
	for i := range ws {
		ws[i].took = int(cw[i].n)
		if e := cw[i].err; e != 0 {
			ws[i].err = fmt.Errorf("live events: write: %w", syscall.Errno(e))
		}
	}
	if t.size > shrinkArenaAbove {
		// A burst of backlogs (boards that stalled together) is not
		// the usual size: give its memory back.
		t.free()
	}
}

// wait waits for the thread's signal.
func (t *threadWriter) wait() error {
	var b [8]byte
	_, err := t.done.Read(b[:])
	if err != nil {
		return fmt.Errorf("live events: writer thread: %w", err)
	}
	return nil
}

// tid is the thread's ID, 0 until it runs.
func (t *threadWriter) tid() int { return int(C.parkd_burster_tid(t.b)) }

// close stops the thread and frees what it used.
func (t *threadWriter) close() {
	if t.b == nil {
		return // closed
	}
	C.parkd_burster_post(t.b, nil, nil, 0, 2)
	if t.wait() != nil {
		return // the thread may still use it: leaked, not freed under it
	}
	t.done.Close()
	C.parkd_burster_free(t.b)
	t.b = nil
	t.free()
}

func (t *threadWriter) free() {
	C.free(t.arena)
	C.free(unsafe.Pointer(t.ws))
	t.arena, t.ws, t.size, t.cap = nil, nil, 0, 0
}
