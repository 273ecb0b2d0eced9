//go:build !unix

package web

import (
	"errors"
	"net"
)

// directSupported: direct streams need a unix system; elsewhere every
// stream is written by its handler.
const directSupported = false

var errNoDirect = errors.New("live events: direct streams need a unix system")

func dupSocket(net.Conn) (int, error)           { return -1, errNoDirect }
func closeSocket(int)                           {}
func writeNonBlocking(int, []byte) (int, error) { return 0, errNoDirect }
func checkPeer(int, []byte) error               { return errNoDirect }
