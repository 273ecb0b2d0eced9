package web

import (
	"runtime"
	"syscall"

	"github.com/rs/zerolog"
)

// lowerThreadPriority gives the calling goroutine an OS thread of its own
// at a low scheduling priority (fanOutNice), for the rest of its life:
// the Hub's fan-out writes to every board, and a park or a retrieve,
// whose callers are waiting, should never wait behind it for a CPU. The
// Go runtime cannot rank goroutines; the kernel can rank threads. The
// thread is never unlocked, so it ends with the goroutine instead of
// going back to the runtime at nice 19, and the runtime starts no thread
// from a locked one (it has a template thread for that), so no other
// thread inherits the priority.
// It returns the thread's ID.
// fanOutNice is the fan-out thread's nice value. A waking park thread
// (nice 0) preempts it at once; under a full load it still gets about a
// tenth of a CPU (CFS weights 110 against 1024), so the boards lag but
// are not starved and the queue of events does not grow without end, as
// it could at nice 19 (a weight of 15).
const fanOutNice = 10

func lowerThreadPriority(log zerolog.Logger) int {
	runtime.LockOSThread()
	tid := syscall.Gettid()
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, fanOutNice); err != nil {
		log.Debug().Err(err).Msg("live events: the fan-out thread keeps its priority")
	}
	return tid
}
