package fstest

import (
	"errors"
	"net"
	"syscall"
	"time"
	"unsafe"
)

// kernelStamper reads with recvmsg and takes the SO_TIMESTAMPNS control
// message TCP gives with every read once the option is on.
type kernelStamper struct {
	rc  syscall.RawConn
	oob []byte
}

// newStamper returns a stamper for nc, or nil if nc is not a socket the
// kernel will stamp.
func newStamper(nc net.Conn) stamper {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil || serr != nil {
		return nil
	}
	return &kernelStamper{rc: rc, oob: make([]byte, syscall.CmsgSpace(int(unsafe.Sizeof(syscall.Timespec{}))))}
}

func (k *kernelStamper) read(p []byte) (int, time.Time, error) {
	var n, oobn int
	var rerr error
	// RawConn.Read waits for readability under the conn's read deadline.
	err := k.rc.Read(func(fd uintptr) bool {
		for {
			n, oobn, _, _, rerr = syscall.Recvmsg(int(fd), p, k.oob, 0)
			if !errors.Is(rerr, syscall.EINTR) {
				break
			}
		}
		return !errors.Is(rerr, syscall.EAGAIN)
	})
	if err == nil {
		err = rerr
	}
	if err != nil {
		return 0, time.Time{}, err
	}
	return n, stampOf(k.oob[:oobn]), nil
}

// stampOf finds the SCM_TIMESTAMPNS stamp in a recvmsg's control data.
func stampOf(oob []byte) time.Time {
	msgs, err := syscall.ParseSocketControlMessage(oob)
	if err != nil {
		return time.Time{}
	}
	for _, m := range msgs {
		if m.Header.Level == syscall.SOL_SOCKET && m.Header.Type == syscall.SCM_TIMESTAMPNS &&
			len(m.Data) >= int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&m.Data[0]))
			return time.Unix(ts.Unix())
		}
	}
	return time.Time{}
}
