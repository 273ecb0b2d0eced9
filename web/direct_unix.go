//go:build unix

package web

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// directSupported: the Hub can own a stream's socket here.
const directSupported = true

// dupSocket duplicates conn's socket descriptor, close-on-exec and
// non-blocking, for the Hub to own once conn is closed: closing conn
// takes the socket out of the runtime's poller (the net package removes
// it from epoll before it closes its descriptor), while the duplicate
// keeps the connection open.
func dupSocket(conn net.Conn) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, fmt.Errorf("live events: a %T has no file descriptor", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("live events: %w", err)
	}
	fd, derr := -1, error(nil)
	err = raw.Control(func(f uintptr) {
		// Close-on-exec before any fork can copy it, as the net package
		// does where fcntl's F_DUPFD_CLOEXEC is missing (aix): one way
		// on every unix.
		syscall.ForkLock.RLock()
		defer syscall.ForkLock.RUnlock()
		if fd, derr = unix.Dup(int(f)); derr == nil {
			unix.CloseOnExec(fd)
		}
	})
	if err == nil {
		err = derr
	}
	if err != nil {
		return -1, fmt.Errorf("live events: duplicating the socket: %w", err)
	}
	// The duplicate shares the net package's open file, which is
	// non-blocking already; said again so that no write can ever wait.
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("live events: %w", err)
	}
	return fd, nil
}

// closeSocket closes a descriptor dupSocket made.
func closeSocket(fd int) { _ = unix.Close(fd) }

// writeNonBlocking writes as much of b as the socket fd takes now, and
// returns how much that was: a full socket answers EAGAIN instead of
// waiting. A broken connection fails with EPIPE (the runtime does not
// stop the process for a SIGPIPE on a descriptor other than 1 and 2) or
// ECONNRESET.
func writeNonBlocking(fd int, b []byte) (int, error) {
	written := 0
	for written < len(b) {
		n, err := unix.Write(fd, b[written:])
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return written, nil // full: the rest waits for the next fan-out
		case err != nil:
			return written, err
		}
		written += n
	}
	return written, nil
}

// maxDiscard bounds what one liveness check reads of what a client sent:
// one that sends without end costs a keepalive tick little, and the rest
// is read at the next.
const maxDiscard = 64 << 10

// checkPeer tells, without waiting, whether the client at the other end
// of the socket fd is still there: nil if so (nothing to read, or bytes
// it sent, read and thrown away: a stream's client has nothing to say),
// errClientLeft when it closed its end or the socket broke. scratch
// receives the bytes thrown away.
func checkPeer(fd int, scratch []byte) error {
	for read := 0; read < maxDiscard; {
		n, err := unix.Read(fd, scratch) // non-blocking: dupSocket
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EAGAIN):
			return nil
		case err != nil:
			// Reset, most likely: it left too, as a handler's read
			// failing once told.
			return fmt.Errorf("%w: %w", errClientLeft, err)
		case n == 0:
			return errClientLeft
		}
		read += n
	}
	return nil
}
