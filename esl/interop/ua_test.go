package interop

import (
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// ua is a small SIP user agent over UDP on 127.0.0.1, for the flows sipp
// scenarios cannot express without growing unreadable: a phone that holds
// two dialogs at once (the attended transfer's call and consult call),
// sends REFER with Replaces, and subscribes to busy-lamp keys. It speaks
// just enough SIP for FreeSWITCH: digest auth (MD5, qop=auth), INVITE with
// PCMU SDP, answering INVITEs and re-INVITEs, BYE, REFER and its NOTIFYs,
// SUBSCRIBE and its NOTIFYs. Each call streams a sine tone as RTP from its
// own port, so the suite's capture can tell who hears whom.
//
// Every message sent and received is written to <run dir>/<test>/<name>-sip.log.
type ua struct {
	t      *testing.T
	s      *state
	name   string
	user   string // the directory user it authenticates as; "" for none
	number string // caller-ID number in From
	dname  string // caller-ID name in From
	pass   string

	conn   *net.UDPConn
	local  string // 127.0.0.1:port
	fsAddr *net.UDPAddr
	domain string

	logMu sync.Mutex
	log   *os.File
	t0    time.Time

	mu       sync.Mutex
	cond     *sync.Cond
	txs      map[string]chan *sipMsg // client transactions by Via branch
	dialogs  map[string]*dialog      // by Call-ID
	subs     map[string]*subscription
	incoming []*dialog // INVITEs received, in order
	cseq     int
	closed   bool
}

// sipMsg is one parsed SIP message.
type sipMsg struct {
	first   string
	hdrs    [][2]string // in order, names as sent
	body    []byte
	request bool
	method  string // request method, or the CSeq method of a response
	status  int
	at      time.Time
}

var compactHeaders = map[string]string{
	"v": "via", "f": "from", "t": "to", "i": "call-id", "m": "contact", "l": "content-length",
	"c": "content-type", "o": "event", "r": "refer-to", "b": "referred-by", "k": "supported",
}

func canonHeader(n string) string {
	n = strings.ToLower(strings.TrimSpace(n))
	if c, ok := compactHeaders[n]; ok {
		return c
	}
	return n
}

// get returns the first value of header name ("" if absent).
func (m *sipMsg) get(name string) string {
	name = canonHeader(name)
	for _, h := range m.hdrs {
		if canonHeader(h[0]) == name {
			return h[1]
		}
	}
	return ""
}

// all returns every value of header name.
func (m *sipMsg) all(name string) []string {
	name = canonHeader(name)
	var out []string
	for _, h := range m.hdrs {
		if canonHeader(h[0]) == name {
			out = append(out, h[1])
		}
	}
	return out
}

func parseSIP(b []byte) (*sipMsg, error) {
	head, body, ok := bytes.Cut(b, []byte("\r\n\r\n"))
	if !ok {
		head, body, ok = bytes.Cut(b, []byte("\n\n"))
		if !ok {
			return nil, fmt.Errorf("no end of headers")
		}
	}
	lines := strings.Split(strings.ReplaceAll(string(head), "\r\n", "\n"), "\n")
	m := &sipMsg{first: lines[0], body: body, at: time.Now()}
	for _, l := range lines[1:] {
		if (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")) && len(m.hdrs) > 0 {
			m.hdrs[len(m.hdrs)-1][1] += " " + strings.TrimSpace(l)
			continue
		}
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		m.hdrs = append(m.hdrs, [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
	}
	if n, err := strconv.Atoi(m.get("content-length")); err == nil && n <= len(m.body) {
		m.body = m.body[:n]
	}
	f := strings.Fields(m.first)
	if len(f) < 2 {
		return nil, fmt.Errorf("bad first line %q", m.first)
	}
	if strings.HasPrefix(f[0], "SIP/") {
		m.status, _ = strconv.Atoi(f[1])
		if cs := strings.Fields(m.get("cseq")); len(cs) == 2 {
			m.method = cs[1]
		}
	} else {
		m.request, m.method = true, f[0]
	}
	return m, nil
}

// tagOf returns the tag parameter of a From or To value.
func tagOf(v string) string {
	if i := strings.LastIndex(v, ">"); i >= 0 {
		v = v[i:]
	}
	for _, p := range strings.Split(v, ";") {
		if k, val, ok := strings.Cut(strings.TrimSpace(p), "="); ok && strings.EqualFold(k, "tag") {
			return val
		}
	}
	return ""
}

// uriOf returns the URI inside <...>, or the value up to its parameters.
func uriOf(v string) string {
	if i := strings.Index(v, "<"); i >= 0 {
		if j := strings.Index(v[i:], ">"); j > 0 {
			return v[i+1 : i+j]
		}
	}
	u, _, _ := strings.Cut(strings.TrimSpace(v), ";")
	return u
}

func randHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newUA starts a user agent on 127.0.0.1:port. user is the directory user
// it authenticates as ("" for a caller without an account); number and
// display are the caller ID it puts in From. It is closed when t ends.
func (s *state) newUA(t *testing.T, name string, port int, user, number, display string) *ua {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	if err != nil {
		t.Fatalf("UA %s: %v", name, err)
	}
	fsAddr, err := net.ResolveUDPAddr("udp", s.env.SIP)
	if err != nil {
		t.Fatalf("PARKD_FS_SIP %q: %v", s.env.SIP, err)
	}
	dir := filepath.Join(s.dir, t.Name())
	_ = os.MkdirAll(dir, 0o755)
	lf, err := os.Create(filepath.Join(dir, name+"-sip.log"))
	if err != nil {
		t.Fatal(err)
	}
	u := &ua{t: t, s: s, name: name, user: user, number: number, dname: display, pass: s.env.UserPass,
		conn: conn, local: conn.LocalAddr().String(), fsAddr: fsAddr, domain: s.env.Domain,
		log: lf, t0: time.Now(), txs: map[string]chan *sipMsg{}, dialogs: map[string]*dialog{},
		subs: map[string]*subscription{}, cseq: 1}
	u.cond = sync.NewCond(&u.mu)
	go u.readLoop()
	t.Cleanup(u.close)
	return u
}

func (u *ua) logf(format string, args ...any) {
	u.logMu.Lock()
	defer u.logMu.Unlock()
	fmt.Fprintf(u.log, "## t=%.3f "+format+"\n", append([]any{time.Since(u.t0).Seconds()}, args...)...)
}

func (u *ua) send(b []byte) {
	u.logMu.Lock()
	fmt.Fprintf(u.log, "## t=%.3f sent %d bytes\n%s\n", time.Since(u.t0).Seconds(), len(b), b)
	u.logMu.Unlock()
	_, _ = u.conn.WriteToUDP(b, u.fsAddr)
}

// close hangs up what is still up, unsubscribes, and closes the socket.
func (u *ua) close() {
	u.mu.Lock()
	var up []*dialog
	for _, d := range u.dialogs {
		if d.state == dialogConfirmed {
			up = append(up, d)
		}
	}
	var subs []*subscription
	for _, sb := range u.subs {
		if !sb.ended {
			subs = append(subs, sb)
		}
	}
	u.mu.Unlock()
	for _, d := range up {
		_ = d.bye()
	}
	for _, sb := range subs {
		sb.unsubscribe()
	}
	u.mu.Lock()
	u.closed = true
	for _, d := range u.dialogs {
		d.stopRTP()
	}
	u.cond.Broadcast()
	u.mu.Unlock()
	_ = u.conn.Close()
	u.logMu.Lock()
	_ = u.log.Close()
	u.logMu.Unlock()
}

func (u *ua) readLoop() {
	buf := make([]byte, 65535)
	for {
		n, from, err := u.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		b := append([]byte(nil), buf[:n]...)
		u.logMu.Lock()
		fmt.Fprintf(u.log, "## t=%.3f received %d bytes from %s\n%s\n", time.Since(u.t0).Seconds(), n, from, b)
		u.logMu.Unlock()
		if len(bytes.TrimSpace(b)) == 0 {
			continue // keep-alive
		}
		m, err := parseSIP(b)
		if err != nil {
			u.logf("unparsable: %v", err)
			continue
		}
		if m.request {
			u.handleRequest(m)
			continue
		}
		branch := viaBranch(m.get("via"))
		u.mu.Lock()
		ch := u.txs[branch]
		u.mu.Unlock()
		if ch != nil {
			select {
			case ch <- m:
			default:
			}
			continue
		}
		// A retransmitted 200 to an INVITE whose transaction is over: ACK again.
		if m.method == "INVITE" && m.status == 200 {
			u.mu.Lock()
			d := u.dialogs[m.get("call-id")]
			u.mu.Unlock()
			if d != nil {
				d.sendACK(m)
			}
		}
	}
}

var branchRE = regexp.MustCompile(`(?i);\s*branch=([^;,\s]+)`)

func viaBranch(via string) string {
	if m := branchRE.FindStringSubmatch(via); m != nil {
		return m[1]
	}
	return ""
}

// reply sends a response to request m, copying Via, From, To, Call-ID and
// CSeq; toTag is added to To when it has none.
func (u *ua) reply(m *sipMsg, status int, reason, toTag string, extra []string, body []byte, ctype string) {
	u.send(buildResponse(u, m, status, reason, toTag, extra, body, ctype))
}

func (u *ua) contactUser() string {
	if u.user != "" {
		return u.user
	}
	return u.number
}

func (u *ua) handleRequest(m *sipMsg) {
	callID := m.get("call-id")
	u.mu.Lock()
	d := u.dialogs[callID]
	sb := u.subs[callID]
	u.mu.Unlock()
	switch m.method {
	case "INVITE":
		if d == nil {
			d = u.newIncoming(m)
			return
		}
		if d.uas && d.state != dialogConfirmed && d.localTag != "" && tagOf(m.get("to")) == "" {
			// A retransmitted initial INVITE.
			d.resendLast()
			return
		}
		d.reinvited(m)
	case "ACK":
		if d != nil {
			d.acked()
		}
	case "BYE":
		u.reply(m, 200, "OK", "", nil, nil, "")
		if d != nil {
			d.ended("recv_bye")
		}
	case "CANCEL":
		u.reply(m, 200, "OK", "", nil, nil, "")
		if d != nil && d.uas && d.state == dialogEarly {
			d.rejectInvite(487, "Request Terminated")
			d.ended("cancelled")
		}
	case "NOTIFY":
		u.reply(m, 200, "OK", "", nil, nil, "")
		switch {
		case sb != nil:
			sb.notified(m)
		case d != nil:
			d.notified(m)
		}
	case "OPTIONS", "MESSAGE", "INFO", "UPDATE":
		u.reply(m, 200, "OK", "", nil, nil, "")
	default:
		u.reply(m, 405, "Method Not Allowed", "", nil, nil, "")
	}
}

// request is a client transaction: it sends req (built by build for each
// attempt, with a fresh branch and the CSeq it is given), retransmits it
// until a response comes, answers a 401/407 challenge once with digest
// credentials, and returns the final response (nil on timeout). Provisional
// responses go to prov if it is not nil.
func (u *ua) request(method, ruri string, build func(branch string, cseq int, auth string) string, prov func(*sipMsg)) *sipMsg {
	auth := ""
	for attempt := 0; attempt < 2; attempt++ {
		u.mu.Lock()
		u.cseq++
		cseq := u.cseq
		branch := "z9hG4bK" + randHex(8)
		ch := make(chan *sipMsg, 16)
		u.txs[branch] = ch
		u.mu.Unlock()
		msg := []byte(build(branch, cseq, auth))
		u.send(msg)
		final := u.await(ch, msg, method, prov)
		u.mu.Lock()
		delete(u.txs, branch)
		u.mu.Unlock()
		if final == nil {
			return nil
		}
		if method == "INVITE" && final.status >= 300 {
			u.ackFailure(final, ruri, branch, cseq)
		}
		if (final.status == 401 || final.status == 407) && u.user != "" && attempt == 0 {
			hdr := "WWW-Authenticate"
			out := "Authorization"
			if final.status == 407 {
				hdr, out = "Proxy-Authenticate", "Proxy-Authorization"
			}
			auth = out + ": " + digest(final.get(hdr), method, ruri, u.user, u.pass)
			continue
		}
		return final
	}
	return nil
}

// await waits for the final response of one transaction, retransmitting
// msg every 500 ms until the first response.
func (u *ua) await(ch chan *sipMsg, msg []byte, method string, prov func(*sipMsg)) *sipMsg {
	deadline := time.After(32 * time.Second)
	if method == "INVITE" {
		deadline = time.After(3 * time.Minute) // a phone may ring for a while
	}
	retrans := time.NewTicker(500 * time.Millisecond)
	defer retrans.Stop()
	answered := false
	for {
		select {
		case r := <-ch:
			answered = true
			if r.status < 200 {
				if prov != nil {
					prov(r)
				}
				continue
			}
			return r
		case <-retrans.C:
			if !answered {
				u.send(msg)
			}
		case <-deadline:
			u.logf("no final response to %s", method)
			return nil
		}
	}
}

// ackFailure ACKs a non-2xx final response to an INVITE (same branch).
func (u *ua) ackFailure(r *sipMsg, ruri, branch string, cseq int) {
	var b strings.Builder
	fmt.Fprintf(&b, "ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n", ruri, u.local, branch)
	fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
		r.get("from"), r.get("to"), r.get("call-id"), cseq)
	u.send([]byte(b.String()))
}

var authParamRE = regexp.MustCompile(`(\w+)=(?:"([^"]*)"|([^,\s]+))`)

// digest answers a Digest challenge (RFC 2617, MD5, qop=auth if offered).
func digest(challenge, method, uri, user, pass string) string {
	p := map[string]string{}
	for _, m := range authParamRE.FindAllStringSubmatch(strings.TrimPrefix(strings.TrimSpace(challenge), "Digest"), -1) {
		v := m[2]
		if v == "" {
			v = m[3]
		}
		p[strings.ToLower(m[1])] = v
	}
	h := func(s string) string { x := md5.Sum([]byte(s)); return hex.EncodeToString(x[:]) }
	ha1 := h(user + ":" + p["realm"] + ":" + pass)
	ha2 := h(method + ":" + uri)
	out := fmt.Sprintf(`Digest username="%s", realm="%s", nonce="%s", uri="%s", algorithm=MD5`, user, p["realm"], p["nonce"], uri)
	qop := ""
	for _, q := range strings.Split(p["qop"], ",") {
		if strings.TrimSpace(q) == "auth" {
			qop = "auth"
		}
	}
	if qop != "" {
		cnonce, nc := randHex(8), "00000001"
		out += fmt.Sprintf(`, response="%s", qop=auth, nc=%s, cnonce="%s"`, h(ha1+":"+p["nonce"]+":"+nc+":"+cnonce+":auth:"+ha2), nc, cnonce)
	} else {
		out += fmt.Sprintf(`, response="%s"`, h(ha1+":"+p["nonce"]+":"+ha2))
	}
	if op := p["opaque"]; op != "" {
		out += fmt.Sprintf(`, opaque="%s"`, op)
	}
	return out
}

// register registers the UA's user with its own address as Contact, and
// unregisters it when the test ends.
func (u *ua) register() {
	u.t.Helper()
	callID := randHex(10) + "@127.0.0.1"
	tag := randHex(6)
	reg := func(expires int) *sipMsg {
		ruri := "sip:" + u.domain
		return u.request("REGISTER", ruri, func(branch string, cseq int, auth string) string {
			var b strings.Builder
			fmt.Fprintf(&b, "REGISTER %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n", ruri, u.local, branch)
			fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\nTo: <sip:%s@%s>\r\n", u.user, u.domain, tag, u.user, u.domain)
			fmt.Fprintf(&b, "Call-ID: %s\r\nCSeq: %d REGISTER\r\nContact: <sip:%s@%s>\r\n", callID, cseq, u.user, u.local)
			if auth != "" {
				b.WriteString(auth + "\r\n")
			}
			fmt.Fprintf(&b, "Expires: %d\r\nMax-Forwards: 70\r\nUser-Agent: parkd-interop-ua\r\nContent-Length: 0\r\n\r\n", expires)
			return b.String()
		}, nil)
	}
	if r := reg(300); r == nil || r.status != 200 {
		u.t.Fatalf("UA %s: REGISTER %s failed (%v); is user %s in FreeSWITCH's directory with password PARKD_FS_USER_PASSWORD?", u.name, u.user, statusOf(r), u.user)
	}
	u.t.Cleanup(func() {
		u.mu.Lock()
		closed := u.closed
		u.mu.Unlock()
		if !closed {
			reg(0)
		}
	})
}

func statusOf(r *sipMsg) string {
	if r == nil {
		return "no response"
	}
	return r.first
}

// dialog states.
const (
	dialogEarly = iota
	dialogConfirmed
	dialogEnded
)

// dialog is one call of the UA, either side.
type dialog struct {
	u         *ua
	uas       bool
	callID    string
	localTag  string
	remoteTag string
	localURI  string // From (UAC) or To (UAS) value without the tag
	remoteURI string
	target    string // the peer's Contact URI
	ruri      string // the initial request's URI (UAC)
	cseq      int
	state     int
	endReason string
	invite    *sipMsg // the INVITE received (UAS)
	last      []byte  // the last response sent to the INVITE (UAS)
	ackedCh   chan struct{}

	rtpPort int
	toneHz  int
	rtp     *rtpStream
	sendAck []byte // the ACK to a 2xx (UAC), for retransmitted 200s

	refer []*sipMsg // NOTIFYs (Event: refer) in this dialog
	taken bool      // handed to the test by nextCall
}

func (u *ua) newIncoming(m *sipMsg) *dialog {
	d := &dialog{u: u, uas: true, callID: m.get("call-id"), localTag: randHex(6), remoteTag: tagOf(m.get("from")),
		localURI: m.get("to"), remoteURI: m.get("from"), target: uriOf(m.get("contact")), invite: m,
		ackedCh: make(chan struct{}), cseq: 1}
	u.mu.Lock()
	u.dialogs[d.callID] = d
	u.incoming = append(u.incoming, d)
	u.cond.Broadcast()
	u.mu.Unlock()
	u.reply(m, 100, "Trying", "", nil, nil, "")
	d.respond(180, "Ringing", nil)
	return d
}

func (d *dialog) respond(status int, reason string, body []byte) {
	extra := []string{"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REFER, MESSAGE, INFO, UPDATE"}
	d.last = buildResponse(d.u, d.invite, status, reason, d.localTag, extra, body, "application/sdp")
	d.u.send(d.last)
}

func buildResponse(u *ua, m *sipMsg, status int, reason, toTag string, extra []string, body []byte, ctype string) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "SIP/2.0 %d %s\r\n", status, reason)
	for _, v := range m.all("via") {
		fmt.Fprintf(&b, "Via: %s\r\n", v)
	}
	fmt.Fprintf(&b, "From: %s\r\n", m.get("from"))
	to := m.get("to")
	if tagOf(to) == "" && toTag != "" {
		to += ";tag=" + toTag
	}
	fmt.Fprintf(&b, "To: %s\r\nCall-ID: %s\r\nCSeq: %s\r\n", to, m.get("call-id"), m.get("cseq"))
	fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\nUser-Agent: parkd-interop-ua\r\n", u.contactUser(), u.local)
	for _, h := range extra {
		b.WriteString(h + "\r\n")
	}
	if len(body) > 0 {
		fmt.Fprintf(&b, "Content-Type: %s\r\n", ctype)
	}
	fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
	b.Write(body)
	return []byte(b.String())
}

func (d *dialog) resendLast() {
	if d.last != nil {
		d.u.send(d.last)
	}
}

func (d *dialog) rejectInvite(status int, reason string) {
	d.respond(status, reason, nil)
}

// nextCall waits for the next incoming INVITE (ringing: 180 sent).
func (u *ua) nextCall(timeout time.Duration) *dialog {
	u.t.Helper()
	var call *dialog
	if !u.waitUntil(timeout, func() bool {
		for _, d := range u.incoming {
			if !d.taken {
				d.taken, call = true, d
				return true
			}
		}
		return false
	}) {
		u.t.Fatalf("UA %s: no INVITE within %v", u.name, timeout)
	}
	return call
}

// waitUntil waits until done, called with u.mu held whenever the UA's state
// changes, reports true; false if timeout passes or the UA closes first.
func (u *ua) waitUntil(timeout time.Duration, done func() bool) bool {
	deadline := time.Now().Add(timeout)
	timer := time.AfterFunc(timeout, func() { u.mu.Lock(); u.cond.Broadcast(); u.mu.Unlock() })
	defer timer.Stop()
	u.mu.Lock()
	defer u.mu.Unlock()
	for !done() {
		if u.closed || time.Now().After(deadline) {
			return false
		}
		u.cond.Wait()
	}
	return true
}

// answer answers an incoming call with PCMU SDP from rtpPort and streams
// a tone of hz, and waits for the ACK.
func (d *dialog) answer(rtpPort, hz int) {
	t := d.u.t
	t.Helper()
	d.rtpPort, d.toneHz = rtpPort, hz
	remote := sdpAddr(d.invite.body)
	d.startRTP(remote)
	d.respond(200, "OK", sdpOffer(rtpPort, d.u.localSess(), "sendrecv"))
	// Retransmit the 200 until the ACK (RFC 3261 13.3.1.4).
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(16 * time.Second)
	for {
		select {
		case <-d.ackedCh:
			d.u.mu.Lock()
			d.state = dialogConfirmed
			d.u.cond.Broadcast()
			d.u.mu.Unlock()
			return
		case <-tick.C:
			d.resendLast()
		case <-timeout:
			t.Fatalf("UA %s: no ACK for the 200 to %s", d.u.name, d.callID)
		}
	}
}

func (d *dialog) acked() {
	d.u.mu.Lock()
	defer d.u.mu.Unlock()
	select {
	case <-d.ackedCh:
	default:
		if d.ackedCh != nil {
			close(d.ackedCh)
		}
	}
}

func (u *ua) localSess() string { return fmt.Sprint(time.Now().UnixNano() / 1e6) }

// sdpOffer is a PCMU-only audio description at 127.0.0.1:port.
func sdpOffer(port int, sess, dir string) []byte {
	return []byte(fmt.Sprintf("v=0\r\no=parkd-ua %s %s IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"+
		"m=audio %d RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=%s\r\n",
		sess, sess, port, dir))
}

var (
	sdpConnRE  = regexp.MustCompile(`(?m)^c=IN IP4 ([0-9.]+)`)
	sdpAudioRE = regexp.MustCompile(`(?m)^m=audio (\d+)`)
)

// sdpAddr is the RTP address of an SDP body (nil if none).
func sdpAddr(body []byte) *net.UDPAddr {
	c, m := sdpConnRE.FindSubmatch(body), sdpAudioRE.FindSubmatch(body)
	if c == nil || m == nil {
		return nil
	}
	port, _ := strconv.Atoi(string(m[1]))
	return &net.UDPAddr{IP: net.ParseIP(string(c[1])), Port: port}
}

// reinvited answers a re-INVITE with our SDP and follows the new address.
func (d *dialog) reinvited(m *sipMsg) {
	if a := sdpAddr(m.body); a != nil && d.rtp != nil {
		d.rtp.setPeer(a)
	}
	msg := buildResponse(d.u, m, 200, "OK", d.localTag, nil, sdpOffer(d.rtpPort, d.u.localSess(), "sendrecv"), "application/sdp")
	d.u.send(msg)
}

func (d *dialog) notified(m *sipMsg) {
	d.u.mu.Lock()
	d.refer = append(d.refer, m)
	d.u.cond.Broadcast()
	d.u.mu.Unlock()
}

func (d *dialog) ended(reason string) {
	d.u.mu.Lock()
	if d.state != dialogEnded {
		d.state, d.endReason = dialogEnded, reason
	}
	d.u.cond.Broadcast()
	d.u.mu.Unlock()
	d.stopRTP()
}

// waitEnded waits for the dialog to end (BYE received or sent).
func (d *dialog) waitEnded(timeout time.Duration) bool {
	return d.u.waitUntil(timeout, func() bool { return d.state == dialogEnded })
}

// up reports whether the dialog is confirmed and not ended.
func (d *dialog) up() bool {
	d.u.mu.Lock()
	defer d.u.mu.Unlock()
	return d.state == dialogConfirmed
}

// invite places a call to number (user part of the Request-URI at the
// domain), streaming a tone of hz from rtpPort once answered. It returns
// the dialog and the final response; the dialog is nil if the call was
// not answered.
func (u *ua) invite(number string, rtpPort, hz int) (*dialog, *sipMsg) {
	u.t.Helper()
	ruri := "sip:" + number + "@" + u.domain
	callID := randHex(10) + "@127.0.0.1"
	d := &dialog{u: u, callID: callID, localTag: randHex(6), ruri: ruri, rtpPort: rtpPort, toneHz: hz,
		localURI: fmt.Sprintf(`"%s" <sip:%s@%s>`, u.dname, u.number, u.domain), remoteURI: "<" + ruri + ">"}
	u.mu.Lock()
	u.dialogs[callID] = d
	u.mu.Unlock()
	sdp := sdpOffer(rtpPort, u.localSess(), "sendrecv")
	var inviteBytes string
	r := u.request("INVITE", ruri, func(branch string, cseq int, auth string) string {
		d.cseq = cseq
		var b strings.Builder
		fmt.Fprintf(&b, "INVITE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n", ruri, u.local, branch)
		fmt.Fprintf(&b, "From: %s;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d INVITE\r\n", d.localURI, d.localTag, d.remoteURI, callID, cseq)
		fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\nMax-Forwards: 70\r\nUser-Agent: parkd-interop-ua\r\n", u.contactUser(), u.local)
		b.WriteString("Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REFER, MESSAGE, INFO, UPDATE\r\nSupported: replaces\r\n")
		if auth != "" {
			b.WriteString(auth + "\r\n")
		}
		fmt.Fprintf(&b, "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s", len(sdp), sdp)
		inviteBytes = b.String()
		return inviteBytes
	}, nil)
	if r == nil || r.status != 200 {
		d.ended("rejected")
		return nil, r
	}
	d.remoteTag = tagOf(r.get("to"))
	d.remoteURI = r.get("to")
	if i := strings.Index(strings.ToLower(d.remoteURI), ";tag="); i >= 0 {
		d.remoteURI = d.remoteURI[:i]
	}
	d.target = uriOf(r.get("contact"))
	if d.target == "" {
		d.target = ruri
	}
	d.sendACK(r)
	d.startRTP(sdpAddr(r.body))
	u.mu.Lock()
	d.state = dialogConfirmed
	u.mu.Unlock()
	return d, r
}

// sendACK acknowledges a 2xx to the dialog's INVITE.
func (d *dialog) sendACK(r *sipMsg) {
	if d.sendAck == nil {
		var b strings.Builder
		cseq := strings.Fields(r.get("cseq"))[0]
		fmt.Fprintf(&b, "ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", d.target, d.u.local, randHex(8))
		fmt.Fprintf(&b, "From: %s;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
			d.localURI, d.localTag, r.get("to"), d.callID, cseq)
		d.sendAck = []byte(b.String())
	}
	d.u.send(d.sendAck)
}

// inDialog sends a request inside the dialog and returns its final response.
func (d *dialog) inDialog(method string, extra []string, body []byte, ctype string) *sipMsg {
	u := d.u
	from, to := d.localURI+";tag="+d.localTag, d.remoteURI+";tag="+d.remoteTag
	if d.uas {
		from, to = stripTag(d.localURI)+";tag="+d.localTag, d.remoteURI
	}
	return u.request(method, d.target, func(branch string, cseq int, auth string) string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n", method, d.target, u.local, branch)
		fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d %s\r\n", from, to, d.callID, cseq, method)
		fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\nMax-Forwards: 70\r\nUser-Agent: parkd-interop-ua\r\n", u.contactUser(), u.local)
		for _, h := range extra {
			b.WriteString(h + "\r\n")
		}
		if auth != "" {
			b.WriteString(auth + "\r\n")
		}
		if body != nil {
			fmt.Fprintf(&b, "Content-Type: %s\r\n", ctype)
		}
		fmt.Fprintf(&b, "Content-Length: %d\r\n\r\n", len(body))
		b.Write(body)
		return b.String()
	}, nil)
}

func stripTag(v string) string {
	if i := strings.Index(strings.ToLower(v), ";tag="); i >= 0 {
		return v[:i]
	}
	return v
}

// bye hangs up the call.
func (d *dialog) bye() *sipMsg {
	if !d.up() {
		return nil
	}
	r := d.inDialog("BYE", nil, nil, "")
	d.ended("send_bye")
	return r
}

// hold re-INVITEs with a=sendonly, as a desk phone does before a consult
// call; FreeSWITCH then plays its hold music to the other party.
func (d *dialog) hold() *sipMsg {
	r := d.inDialogInvite("sendonly")
	return r
}

func (d *dialog) inDialogInvite(dir string) *sipMsg {
	sdp := sdpOffer(d.rtpPort, d.u.localSess(), dir)
	r := d.inDialog("INVITE", []string{"Allow: INVITE, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REFER"}, sdp, "application/sdp")
	if r != nil && r.status == 200 {
		var b strings.Builder
		cseq := strings.Fields(r.get("cseq"))[0]
		from, to := d.localURI+";tag="+d.localTag, r.get("to")
		if d.uas {
			from, to = stripTag(d.localURI)+";tag="+d.localTag, d.remoteURI
		}
		fmt.Fprintf(&b, "ACK %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=z9hG4bK%s;rport\r\n", d.target, d.u.local, randHex(8))
		fmt.Fprintf(&b, "From: %s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %s ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", from, to, d.callID, cseq)
		d.u.send([]byte(b.String()))
		if a := sdpAddr(r.body); a != nil && d.rtp != nil {
			d.rtp.setPeer(a)
		}
	}
	return r
}

// tags returns the dialog's (from-tag, to-tag) as the Replaces header of
// RFC 3891 names them from the point of view of the dialog's UAC.
func (d *dialog) tags() (fromTag, toTag string) {
	if d.uas {
		return d.remoteTag, d.localTag
	}
	return d.localTag, d.remoteTag
}

// referReplaces sends, in this dialog, a REFER to number@domain that
// replaces the dialog other (an attended transfer), with Referred-By
// naming the UA's user. It returns the REFER's final response.
func (d *dialog) referReplaces(number string, other *dialog) *sipMsg {
	ft, tt := other.tags()
	// RFC 3891: Replaces=<call-id>;to-tag=<tag of the UAS>;from-tag=<tag of the UAC>,
	// escaped into the Refer-To URI's headers as desk phones send it.
	repl := sipEscape(other.callID) + "%3Bto-tag%3D" + sipEscape(tt) + "%3Bfrom-tag%3D" + sipEscape(ft)
	referTo := fmt.Sprintf("Refer-To: <sip:%s@%s?Replaces=%s>", number, d.u.domain, repl)
	referredBy := fmt.Sprintf("Referred-By: <sip:%s@%s>", d.u.contactUser(), d.u.domain)
	return d.inDialog("REFER", []string{referTo, referredBy}, nil, "")
}

// referBlind sends a blind REFER to target@domain with Referred-By.
func (d *dialog) referBlind(target string) *sipMsg {
	return d.inDialog("REFER", []string{
		fmt.Sprintf("Refer-To: <sip:%s@%s>", target, d.u.domain),
		fmt.Sprintf("Referred-By: <sip:%s@%s>", d.u.contactUser(), d.u.domain),
	}, nil, "")
}

// sipEscape percent-escapes what may not stand in a URI header value.
func sipEscape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("-_.!~*'()", c) >= 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// waitReferFinal waits for a NOTIFY (Event: refer) whose sipfrag is a final
// status and returns that status line.
func (d *dialog) waitReferFinal(timeout time.Duration) (string, bool) {
	var final string
	if d.u.waitUntil(timeout, func() bool {
		for _, n := range d.refer {
			line, _, _ := strings.Cut(strings.TrimSpace(string(n.body)), "\n")
			line = strings.TrimSpace(line)
			if f := strings.Fields(line); len(f) >= 2 && f[1] >= "200" {
				final = line
				return true
			}
		}
		return false
	}) {
		return final, true
	}
	d.u.mu.Lock()
	defer d.u.mu.Unlock()
	var all []string
	for _, n := range d.refer {
		all = append(all, strings.TrimSpace(string(n.body)))
	}
	return strings.Join(all, " | "), false
}

// rtpStream sends a tone as PCMU RTP to the peer every 20 ms and reads
// (and drops) what comes back; the suite's capture measures the audio.
type rtpStream struct {
	conn *net.UDPConn
	mu   sync.Mutex
	peer *net.UDPAddr
	stop chan struct{}
	done chan struct{}
}

func (d *dialog) startRTP(peer *net.UDPAddr) {
	if d.rtpPort == 0 || d.rtp != nil {
		return
	}
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: d.rtpPort})
	if err != nil {
		d.u.logf("RTP port %d: %v", d.rtpPort, err)
		return
	}
	r := &rtpStream{conn: conn, peer: peer, stop: make(chan struct{}), done: make(chan struct{})}
	d.rtp = r
	go func() {
		buf := make([]byte, 2048)
		for {
			if _, _, err := conn.ReadFromUDP(buf); err != nil {
				return
			}
		}
	}()
	go r.run(d.toneHz)
}

func (r *rtpStream) setPeer(a *net.UDPAddr) {
	r.mu.Lock()
	r.peer = a
	r.mu.Unlock()
}

func (r *rtpStream) run(hz int) {
	defer close(r.done)
	ssrc := uint32(time.Now().UnixNano())
	var seq uint16
	var ts uint32
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	n := 0
	for {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		pkt := make([]byte, 12+160)
		pkt[0] = 0x80
		pkt[1] = 0 // PCMU
		pkt[2], pkt[3] = byte(seq>>8), byte(seq)
		pkt[4], pkt[5], pkt[6], pkt[7] = byte(ts>>24), byte(ts>>16), byte(ts>>8), byte(ts)
		pkt[8], pkt[9], pkt[10], pkt[11] = byte(ssrc>>24), byte(ssrc>>16), byte(ssrc>>8), byte(ssrc)
		for i := 0; i < 160; i++ {
			v := 0.5 * math.Sin(2*math.Pi*float64(hz)*float64(n)/8000)
			if hz == 0 {
				v = 0
			}
			pkt[12+i] = linearToULaw(int16(v * 32767))
			n++
		}
		seq++
		ts += 160
		r.mu.Lock()
		peer := r.peer
		r.mu.Unlock()
		if peer != nil {
			_, _ = r.conn.WriteToUDP(pkt, peer)
		}
	}
}

func (d *dialog) stopRTP() {
	r := d.rtp
	if r == nil {
		return
	}
	select {
	case <-r.stop:
		return
	default:
	}
	close(r.stop)
	<-r.done
	_ = r.conn.Close()
}

// subscription is a SUBSCRIBE dialog of the UA and the NOTIFYs it got.
type subscription struct {
	u        *ua
	to       string // the key, e.g. park+202
	event    string
	callID   string
	fromTag  string
	toTag    string
	target   string
	cseq     int
	notifies []*sipMsg
	ended    bool
}

// subscribe subscribes to key@domain for event ("dialog" or "presence")
// with digest auth; the subscription is refreshed by nothing (Expires 600
// outlives every test) and ended when the UA closes.
func (u *ua) subscribe(key, event string) *subscription {
	u.t.Helper()
	sb := &subscription{u: u, to: key, event: event, callID: randHex(10) + "@127.0.0.1", fromTag: randHex(6)}
	u.mu.Lock()
	u.subs[sb.callID] = sb
	u.mu.Unlock()
	r := sb.send(600)
	if r == nil || r.status/100 != 2 {
		u.t.Fatalf("UA %s: SUBSCRIBE %s (Event: %s): %s", u.name, key, event, statusOf(r))
	}
	sb.toTag = tagOf(r.get("to"))
	if c := uriOf(r.get("contact")); c != "" {
		sb.target = c
	}
	return sb
}

func (sb *subscription) send(expires int) *sipMsg {
	u := sb.u
	ruri := "sip:" + sb.to + "@" + u.domain
	accept := "application/dialog-info+xml"
	if sb.event == "presence" {
		accept = "application/pidf+xml"
	}
	target := ruri
	if sb.target != "" {
		target = sb.target
	}
	return u.request("SUBSCRIBE", target, func(branch string, cseq int, auth string) string {
		sb.cseq = cseq
		to := "<" + ruri + ">"
		if sb.toTag != "" {
			to += ";tag=" + sb.toTag
		}
		var b strings.Builder
		fmt.Fprintf(&b, "SUBSCRIBE %s SIP/2.0\r\nVia: SIP/2.0/UDP %s;branch=%s;rport\r\n", target, u.local, branch)
		fmt.Fprintf(&b, "From: <sip:%s@%s>;tag=%s\r\nTo: %s\r\nCall-ID: %s\r\nCSeq: %d SUBSCRIBE\r\n", u.user, u.domain, sb.fromTag, to, sb.callID, cseq)
		fmt.Fprintf(&b, "Contact: <sip:%s@%s>\r\nEvent: %s\r\nAccept: %s\r\nExpires: %d\r\n", u.user, u.local, sb.event, accept, expires)
		if auth != "" {
			b.WriteString(auth + "\r\n")
		}
		b.WriteString("Max-Forwards: 70\r\nUser-Agent: parkd-interop-ua\r\nContent-Length: 0\r\n\r\n")
		return b.String()
	}, nil)
}

func (sb *subscription) unsubscribe() {
	sb.u.mu.Lock()
	sb.ended = true
	sb.u.mu.Unlock()
	sb.send(0)
}

func (sb *subscription) notified(m *sipMsg) {
	sb.u.mu.Lock()
	sb.notifies = append(sb.notifies, m)
	if strings.HasPrefix(strings.ToLower(m.get("subscription-state")), "terminated") {
		sb.ended = true
	}
	sb.u.cond.Broadcast()
	sb.u.mu.Unlock()
}

// mark is the number of NOTIFYs so far; waits look at those after a mark.
func (sb *subscription) mark() int {
	sb.u.mu.Lock()
	defer sb.u.mu.Unlock()
	return len(sb.notifies)
}

// lampState is the state of the dialog in a dialog-info NOTIFY body; ""
// if it has none (a dialog-info without a dialog element: nobody said
// anything about the key yet).
var dialogStateRE = regexp.MustCompile(`<state[^>]*>\s*([a-z]+)\s*</state>`)

func lampState(body []byte) string {
	if m := dialogStateRE.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	return ""
}

// waitState waits from NOTIFY index from on for a dialog-info body in
// state and returns it.
func (sb *subscription) waitState(from int, state string, timeout time.Duration) (*sipMsg, bool) {
	return sb.waitNotify(from, timeout, func(m *sipMsg) bool { return lampState(m.body) == state })
}

// waitNotify waits from index from on for a NOTIFY that matches.
func (sb *subscription) waitNotify(from int, timeout time.Duration, match func(*sipMsg) bool) (*sipMsg, bool) {
	var found *sipMsg
	i := from
	ok := sb.u.waitUntil(timeout, func() bool {
		for ; i < len(sb.notifies); i++ {
			if match(sb.notifies[i]) {
				found = sb.notifies[i]
				return true
			}
		}
		return false
	})
	return found, ok
}

// history summarises the NOTIFYs from index from on, for failure messages.
func (sb *subscription) history(from int) string {
	sb.u.mu.Lock()
	defer sb.u.mu.Unlock()
	var parts []string
	for _, m := range sb.notifies[min(from, len(sb.notifies)):] {
		s := lampState(m.body)
		if s == "" {
			s = pidfSummary(m.body)
		}
		parts = append(parts, fmt.Sprintf("%s(%s)", s, noteOf(m.body)))
	}
	if len(parts) == 0 {
		return "no NOTIFY"
	}
	return strings.Join(parts, " ")
}

var (
	pidfNoteRE   = regexp.MustCompile(`<(?:[a-z]+:)?note[^>]*>([^<]*)</(?:[a-z]+:)?note>`)
	pidfStatusRE = regexp.MustCompile(`<(?:[a-z]+:)?basic>([^<]*)</(?:[a-z]+:)?basic>`)
	displayRE    = regexp.MustCompile(`display="([^"]*)"`)
)

// noteOf returns the text a phone shows for a NOTIFY: the PIDF <note>, or
// the display names in a dialog-info body.
func noteOf(body []byte) string {
	if m := pidfNoteRE.FindSubmatch(body); m != nil {
		return string(m[1])
	}
	var names []string
	for _, m := range displayRE.FindAllSubmatch(body, -1) {
		names = append(names, string(m[1]))
	}
	return strings.Join(names, ",")
}

func pidfSummary(body []byte) string {
	if m := pidfStatusRE.FindSubmatch(body); m != nil {
		return "basic=" + string(m[1])
	}
	return "?"
}
