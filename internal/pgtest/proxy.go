package pgtest

import (
	"io"
	"net"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a test database, so that a test can cut
// one client off from PostgreSQL as a network partition would: once Cut,
// nothing more is forwarded either way and new connections are accepted
// but never answered, so the client's statements hang until their
// deadlines, as over a dead link. Restore forwards again on new
// connections.
type Proxy struct {
	ln     net.Listener
	target string // "unix" socket path or TCP address
	netw   string
	mu     sync.Mutex
	cut    bool
	conns  map[net.Conn]struct{}
	wg     sync.WaitGroup
}

var (
	dsnHostRE = regexp.MustCompile(`(^|\s)host=(\S+)`)
	dsnPortRE = regexp.MustCompile(`(^|\s)port=(\d+)`)
)

// NewProxy starts a proxy to the database of dsn (one of DSN's) and
// returns it with the DSN that connects through it. It stops when tb ends.
func NewProxy(tb testing.TB, dsn string) (*Proxy, string) {
	tb.Helper()
	host, port := "localhost", "5432"
	if m := dsnHostRE.FindStringSubmatch(dsn); m != nil {
		host = m[2]
	}
	if m := dsnPortRE.FindStringSubmatch(dsn); m != nil {
		port = m[2]
	}
	p := &Proxy{conns: map[net.Conn]struct{}{}, netw: "tcp", target: net.JoinHostPort(host, port)}
	if filepath.IsAbs(host) {
		p.netw, p.target = "unix", filepath.Join(host, ".s.PGSQL."+port)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	p.ln = ln
	p.wg.Add(1)
	go p.accept()
	tb.Cleanup(p.close)
	_, lport, _ := net.SplitHostPort(ln.Addr().String())
	out := dsnHostRE.ReplaceAllString(dsn, "${1}host=127.0.0.1")
	if dsnPortRE.MatchString(out) {
		out = dsnPortRE.ReplaceAllString(out, "${1}port="+lport)
	} else {
		out += " port=" + lport
	}
	if !dsnHostRE.MatchString(out) {
		out += " host=127.0.0.1"
	}
	return p, out
}

// Cut stops forwarding: the client is cut off.
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
}

// Restore forwards new connections again (the ones cut stay dead, as a
// client's would after a partition long enough to time out).
func (p *Proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
	for c := range p.conns {
		c.Close()
	}
}

func (p *Proxy) isCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cut
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		if p.isCut() {
			continue // held open, never answered
		}
		s, err := net.Dial(p.netw, p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(s) {
			return
		}
		p.wg.Add(2)
		go p.pipe(c, s)
		go p.pipe(s, c)
	}
}

// pipe copies from src to dst until either fails, or drops what it reads
// once the proxy is cut.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.isCut() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF || !p.isCut() {
				dst.Close()
			}
			return
		}
	}
}

func (p *Proxy) close() {
	p.ln.Close()
	p.mu.Lock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}
