//go:build !unix

package web

import (
	"errors"
	"syscall"
)

// writeNonBlocking is unix-only; elsewhere the Hub drops a direct stream
// at its first write, and its handler should not have made one.
func writeNonBlocking(syscall.RawConn, []byte) (int, error) {
	return 0, errors.New("live events: direct streams need a unix system")
}
