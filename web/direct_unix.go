//go:build unix

package web

import (
	"errors"
	"syscall"
)

// writeNonBlocking writes as much of b as the socket takes now, and
// returns how much that was. The net package keeps its sockets in
// non-blocking mode, so a full socket answers EAGAIN instead of waiting.
func writeNonBlocking(raw syscall.RawConn, b []byte) (int, error) {
	written := 0
	var werr error
	err := raw.Write(func(fd uintptr) bool {
		for written < len(b) {
			n, err := syscall.Write(int(fd), b[written:])
			switch {
			case errors.Is(err, syscall.EINTR):
				continue
			case errors.Is(err, syscall.EAGAIN):
				return true // full: the rest waits for the next fan-out
			case err != nil:
				werr = err
				return true
			}
			written += n
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return written, err
}
