package fstest

import (
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Ensure OnCommand is told when a command arrived, not when the switch got
// round to reading it: a load tool subtracts the switch's time from the
// client's, and a command that waits in the socket while the switch is busy
// with the one before it waits on the switch. The hook for "auth" holds the
// reader while the client writes "api status", so the switch reads it only
// lateness after the write has returned; its arrival must still be well
// before that read (Linux: the kernel's receive stamp). Elsewhere only the
// order of the two is checked.
func TestOnCommandArrival(t *testing.T) {
	type seen struct {
		line string
		at   time.Time
	}
	stampsOn(t)
	got := make(chan seen, 4)
	hold := make(chan struct{})
	s := Start(t, Options{OnCommand: func(conn, line string, at time.Time) {
		got <- seen{line, at}
		if strings.HasPrefix(line, "auth") {
			<-hold
		}
	}})
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := newClient(t, nc)
	c.read() // auth/request
	c.send("auth ClueCon")
	auth := <-got // the reader is now held in the hook
	before := time.Now()
	c.send("api status")
	time.Sleep(lateness)
	read := time.Now() // the switch reads api status after this
	close(hold)
	status := <-got
	if status.line != "api status" {
		t.Fatalf("second command %q, want api status", status.line)
	}
	if !status.at.After(auth.at) {
		t.Errorf("api status arrived at %v, not after auth at %v", status.at, auth.at)
	}
	if runtime.GOOS != "linux" {
		return
	}
	if !inWindow(status.at, before, read) {
		t.Errorf("api status arrived at %v, want soon after its write at %v, not at its read after %v", status.at, before, read)
	}
}

// Ensure the kernel stamps the reads on Linux: without them every arrival
// would be a read time and TestOnCommandArrival's bound would not hold.
func TestArrivalReaderStamps(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("kernel receive stamps: Linux only")
	}
	stampsOn(t)
	client, server := tcpPair(t)
	a := newArrivalReader(server, true)
	if a.stamp == nil {
		t.Fatal("no kernel stamps on a TCP connection")
	}
	before := time.Now()
	if _, err := client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(lateness)
	read := time.Now()
	buf := make([]byte, 8)
	if n, err := a.Read(buf); n != 1 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
	if at := a.arrived(); !inWindow(at, before, read) {
		t.Errorf("arrived %v, want soon after the write at %v, not at the read after %v", at, before, read)
	}
	_ = client.Close()
	if n, err := a.Read(buf); n != 0 || err == nil {
		t.Errorf("read after close: %d, %v; want 0 and EOF", n, err)
	}
}

// lateness is how long after a write its reader reads it in these tests.
// An arrival is taken as the write's when it is no later than half of it
// after the write began: the kernel stamps a loopback segment within the
// write, and a clock read in user space may differ from the kernel's by
// microseconds, so the bound is not the write's end.
const lateness = 20 * time.Millisecond

// inWindow says whether at is a write's arrival: no earlier than a
// millisecond before the write began (the same skew), and no later than
// lateness/2 after it, well before the read at read.
func inWindow(at, write, read time.Time) bool {
	return !at.Before(write.Add(-time.Millisecond)) && !at.After(write.Add(lateness/2)) && at.Before(read)
}

// tcpPair returns the two ends of a loopback TCP connection, closed when
// the test ends.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if client, err = net.Dial("tcp", ln.Addr().String()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	if server, err = ln.Accept(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close() })
	return client, server
}

// stampsOn waits until the kernel stamps what it receives, and keeps it so
// until the test ends. Linux turns receive stamping on for the whole host
// when the first socket asks, but a moment later (a deferred static key),
// and off again when the last one closes: segments received before then
// carry no stamp, and their arrival is their read time. A stamped socket
// held open for the test keeps it on.
func stampsOn(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" {
		return
	}
	client, server := tcpPair(t)
	a := newArrivalReader(server, true)
	if a.stamp == nil {
		t.Fatal("no kernel stamps on a TCP connection")
	}
	k := a.stamp.(*kernelStamper)
	buf := make([]byte, 1)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		if _, at, err := k.read(buf); err != nil {
			t.Fatal(err)
		} else if !at.IsZero() {
			return
		}
	}
	t.Fatal("the kernel did not stamp received segments within 5s")
}
