package daemon

import (
	"bytes"
	"io"
	"sync"

	"github.com/rs/zerolog"
)

// LogSink is where the daemon's log lines go, made safe for a daemon: a
// write that fails (a pipe whose reader has gone, a log collector
// restarting, a full disk) is counted and dropped instead of being
// returned, so that logging never stops or kills parkd. The first line
// that gets through again is preceded by a warning saying how many lines
// were lost. Use NewLogSink, then pass it to NewLogger.
type LogSink struct {
	w io.Writer

	mu     sync.Mutex
	lost   uint64 // lines dropped since the last line that got through
	total  uint64 // lines dropped in all
	notice func(lost uint64) []byte
}

// NewLogSink returns a LogSink writing to w.
func NewLogSink(w io.Writer) *LogSink { return &LogSink{w: w} }

// Lost returns how many log lines could not be written since the sink was
// made.
func (s *LogSink) Lost() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.total
}

// Write writes one log line. It never fails: a line the destination
// refuses is counted as lost.
func (s *LogSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lost > 0 && s.notice != nil {
		if _, err := s.w.Write(s.notice(s.lost)); err != nil {
			s.dropped()
			return len(p), nil
		}
		s.lost = 0
	}
	if _, err := s.w.Write(p); err != nil {
		s.dropped()
	}
	return len(p), nil
}

// dropped counts one lost line. Called with s.mu held.
func (s *LogSink) dropped() {
	s.lost++
	s.total++
}

// lostNotice returns the function that renders the "lines lost" warning
// in the log's own format (format wraps a writer in it).
func lostNotice(format func(io.Writer) io.Writer) func(uint64) []byte {
	return func(lost uint64) []byte {
		var b bytes.Buffer
		log := zerolog.New(format(&b)).Hook(timeHook{})
		log.Warn().Uint64("lines", lost).Msg("log lines lost: the log's destination refused them")
		return b.Bytes()
	}
}
