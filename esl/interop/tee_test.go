package interop

import (
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// tee is a TCP proxy that writes every byte between parkd and FreeSWITCH
// to one transcript per connection (">>" parkd to FreeSWITCH, "<<" back),
// so the suite keeps what FreeSWITCH really sent for comparison with the
// simulator (esl/fstest).
type tee struct {
	ln     net.Listener
	target string
	dir    string
	prefix string
	// toFS says which direction is parkd -> FreeSWITCH: for the inbound
	// side parkd dials us; for the outbound side FreeSWITCH does.
	parkdDials bool

	mu sync.Mutex
	n  int
}

func startTee(listen, target, dir, prefix string, parkdDials bool) (*tee, error) {
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, err
	}
	t := &tee{ln: ln, target: target, dir: dir, prefix: prefix, parkdDials: parkdDials}
	go t.serve()
	return t, nil
}

func (t *tee) addr() string { return t.ln.Addr().String() }

func (t *tee) close() { _ = t.ln.Close() }

// reopen listens again on the address close let go of.
func (t *tee) reopen() error {
	ln, err := net.Listen("tcp", t.ln.Addr().String())
	if err != nil {
		return err
	}
	t.ln = ln
	go t.serve()
	return nil
}

func (t *tee) serve() {
	for {
		c, err := t.ln.Accept()
		if err != nil {
			return
		}
		go t.pipe(c)
	}
}

func (t *tee) pipe(c net.Conn) {
	defer c.Close()
	up, err := net.DialTimeout("tcp", t.target, 5*time.Second)
	if err != nil {
		return
	}
	defer up.Close()
	t.mu.Lock()
	t.n++
	n := t.n
	t.mu.Unlock()
	f, err := os.Create(filepath.Join(t.dir, fmt.Sprintf("%s-%03d.txt", t.prefix, n)))
	if err != nil {
		return
	}
	defer f.Close()
	// The raw byte streams too, one file per direction, for tests that
	// parse the frames (transcriptFrames).
	raw := map[string]*os.File{}
	for dir, suffix := range map[string]string{">>": "parkd.raw", "<<": "fs.raw"} {
		rf, err := os.Create(filepath.Join(t.dir, fmt.Sprintf("%s-%03d.%s", t.prefix, n, suffix)))
		if err != nil {
			return
		}
		defer rf.Close()
		raw[dir] = rf
	}
	var wmu sync.Mutex
	t0 := time.Now()
	fmt.Fprintf(f, "## %s connection %d, %s -> %s, started %s\n", t.prefix, n, c.RemoteAddr(), t.target, t0.Format(time.RFC3339Nano))
	// fromParkd is the side parkd writes on.
	fromParkd, fromFS := c, up
	if !t.parkdDials {
		fromParkd, fromFS = up, c
	}
	copyLog := func(dst, src net.Conn, dir string, done chan<- struct{}) {
		defer close(done)
		buf := make([]byte, 64<<10)
		for {
			k, err := src.Read(buf)
			if k > 0 {
				wmu.Lock()
				fmt.Fprintf(f, "## t=%.3f %s %d bytes\n", time.Since(t0).Seconds(), dir, k)
				for _, l := range strings.SplitAfter(string(buf[:k]), "\n") {
					if l != "" {
						fmt.Fprintf(f, "%s %s", dir, l)
					}
				}
				if buf[k-1] != '\n' {
					fmt.Fprintln(f)
				}
				_, _ = raw[dir].Write(buf[:k])
				wmu.Unlock()
				if _, err := dst.Write(buf[:k]); err != nil {
					return
				}
			}
			if err != nil {
				if tc, ok := dst.(*net.TCPConn); ok {
					_ = tc.CloseWrite()
				}
				if err != io.EOF {
					return
				}
				return
			}
		}
	}
	a, b := make(chan struct{}), make(chan struct{})
	go copyLog(fromFS, fromParkd, ">>", a)
	go copyLog(fromParkd, fromFS, "<<", b)
	<-a
	<-b
	wmu.Lock()
	fmt.Fprintf(f, "## t=%.3f closed\n", time.Since(t0).Seconds())
	wmu.Unlock()
}
