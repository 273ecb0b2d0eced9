package fstest

import (
	"io"
	"net"
	"time"
)

// arrivalReader reads a connection and tells when the bytes it read last
// arrived: for OnCommand, which load tools use to tell the switch's time
// from the code under test's. The time a command is read is not that: a
// busy simulator reads a command late (its reader goroutine not yet
// scheduled, or still busy with the command written before it in the same
// packet), and that wait is the simulator's, not the client's. Where the
// kernel stamps what it receives (Linux: SO_TIMESTAMPNS), the arrival is
// the kernel's receive time of the newest segment in the last read, which
// is never before the command's last byte came; elsewhere, or if the
// stamp is missing, it is the time of the read.
type arrivalReader struct {
	nc    net.Conn
	stamp stamper // nil: no kernel stamps
	last  time.Time
}

// stamper reads p and returns the kernel's receive time of what it read
// (zero if none came with it).
type stamper interface {
	read(p []byte) (int, time.Time, error)
}

// newArrivalReader returns an arrivalReader for nc, asking the kernel for
// receive stamps when it can; stamps only when OnCommand wants them.
func newArrivalReader(nc net.Conn, stamps bool) *arrivalReader {
	a := &arrivalReader{nc: nc}
	if stamps {
		a.stamp = newStamper(nc)
	}
	return a
}

// Read implements io.Reader.
func (a *arrivalReader) Read(p []byte) (int, error) {
	if a.stamp == nil {
		n, err := a.nc.Read(p)
		a.last = time.Now()
		return n, err
	}
	n, at, err := a.stamp.read(p)
	if at.IsZero() {
		at = time.Now()
	}
	a.last = at
	if n == 0 && err == nil && len(p) > 0 {
		err = io.EOF
	}
	return n, err
}

// arrived is when the bytes of the last Read arrived.
func (a *arrivalReader) arrived() time.Time { return a.last }
