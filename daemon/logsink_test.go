package daemon

import (
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/parkd/parkd/conf"
)

// brokenPipe is a log destination that fails like a pipe whose reader has
// gone while broken is set.
type brokenPipe struct {
	mu     sync.Mutex
	broken bool
	b      strings.Builder
}

func (p *brokenPipe) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.broken {
		return 0, syscall.EPIPE
	}
	return p.b.Write(b)
}

func (p *brokenPipe) set(broken bool) {
	p.mu.Lock()
	p.broken = broken
	p.mu.Unlock()
}

// Ensure a log destination that fails neither stops logging nor reaches
// the logger: lost lines are counted, and the first line that gets through
// again is preceded by a warning saying how many were lost, in the log's
// format.
func TestLogSink_CountsLostLinesAndResumes(t *testing.T) {
	for _, format := range []string{"json", "console"} {
		t.Run(format, func(t *testing.T) {
			dst := &brokenPipe{}
			sink := NewLogSink(dst)
			log, err := NewLogger(conf.Log{Level: "info", Format: format}, sink)
			if err != nil {
				t.Fatal(err)
			}
			log.Info().Msg("before")
			dst.set(true)
			for range 3 {
				log.Info().Msg("into the void")
			}
			if got := sink.Lost(); got != 3 {
				t.Fatalf("Lost()=%d, want 3", got)
			}
			dst.set(false)
			log.Info().Msg("after")
			out := dst.b.String()
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 3 || !strings.Contains(lines[0], "before") ||
				!strings.Contains(lines[1], "log lines lost") || !strings.Contains(lines[1], "3") ||
				!strings.Contains(lines[2], "after") || strings.Contains(out, "into the void") {
				t.Fatalf("log:\n%s", out)
			}
			if format == "json" && !strings.Contains(lines[1], `"lines":3`) {
				t.Fatalf("notice %s, want the count as a field", lines[1])
			}
			log.Info().Msg("again")
			if got := strings.Count(dst.b.String(), "log lines lost"); got != 1 || sink.Lost() != 3 {
				t.Fatalf("notice repeated (%d) or count changed (%d):\n%s", got, sink.Lost(), dst.b.String())
			}
		})
	}
}

// Ensure a sink never returns an error: zerolog would otherwise report it
// on the process's stderr, the very pipe that is broken.
func TestLogSink_NeverFails(t *testing.T) {
	dst := &brokenPipe{broken: true}
	n, err := NewLogSink(dst).Write([]byte("x\n"))
	if err != nil || n != 2 {
		t.Fatalf("Write=%d, %v; want 2, nil", n, err)
	}
}
