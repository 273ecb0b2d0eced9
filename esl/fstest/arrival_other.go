//go:build !linux

package fstest

import "net"

// newStamper: no kernel receive stamps here; arrivals are read times.
func newStamper(net.Conn) stamper { return nil }
