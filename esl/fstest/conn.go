package fstest

import (
	"net"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/parkd/parkd/esl"
)

// item kinds in a connection's output queue.
const (
	kindReply = iota // command replies: never held back
	kindEvent        // events and notices: held while an api runs on the connection
)

type item struct {
	b    []byte
	kind int
}

// conn is one event-socket connection, inbound or outbound. Model state is
// guarded by Switch.mu; the output queue by qmu. Lock order: Switch.mu, then qmu.
type conn struct {
	s       *Switch
	nc      net.Conn
	label   string
	inbound bool

	// guarded by Switch.mu
	authed     bool
	sub        subscription
	ch         *Channel // outbound: the controlled channel
	connected  bool     // outbound: "connect" received
	linger     bool
	lingerSecs int // -1 = until exit
	gone       bool
	indexed    bool   // filed in Switch.broad or Switch.mine
	indexedAs  string // the myevents UUID it is filed under; "" = broad

	qmu     sync.Mutex
	qcond   *sync.Cond
	queue   []item
	held    []item
	hold    int
	closing bool // close once the queue is written
	dead    bool // close now, drop the queue
}

func newConn(s *Switch, nc net.Conn, label string, inbound bool) *conn {
	c := &conn{s: s, nc: nc, label: label, inbound: inbound}
	c.qcond = sync.NewCond(&c.qmu)
	return c
}

// writer sends queued frames until the connection is closed: all those
// queued at the time in one write, as a busy switch's socket carries
// several frames per packet (a pipelined client's answers, a burst of
// events) instead of one system call each.
func (c *conn) writer() {
	defer c.s.wg.Done()
	var batch []item
	var bufs net.Buffers
	for {
		c.qmu.Lock()
		for len(c.queue) == 0 && !c.closing && !c.dead {
			c.qcond.Wait()
		}
		if c.dead || len(c.queue) == 0 {
			c.qmu.Unlock()
			_ = c.nc.Close()
			return
		}
		// Swap the queue for the (emptied) batch of the last round: push
		// appends to a slice nobody is writing from.
		batch, c.queue = c.queue, batch[:0]
		c.qmu.Unlock()
		bufs = bufs[:0]
		for _, it := range batch {
			c.s.trace(c.label, "<<", it.b)
			bufs = append(bufs, it.b)
		}
		if _, err := bufs.WriteTo(c.nc); err != nil {
			c.kill()
		} else if on := c.s.opts.OnWrite; on != nil {
			at := time.Now()
			for _, it := range batch {
				on(c.hookLabel(), it.b, it.kind == kindReply, at)
			}
		}
		clear(batch)
	}
}

// hookLabel names the connection to OnCommand and OnWrite: "in" for an
// inbound socket, the controlled channel's UUID for an outbound one (set
// before the connection is served, never changed).
func (c *conn) hookLabel() string {
	if c.inbound {
		return "in"
	}
	return c.ch.uuid
}

// push queues one frame.
func (c *conn) push(b []byte, kind int) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if c.dead || c.closing {
		return
	}
	if kind == kindEvent && c.hold > 0 {
		c.held = append(c.held, item{b, kind})
	} else {
		c.queue = append(c.queue, item{b, kind})
	}
	c.qcond.Broadcast()
}

// reply queues a command/reply frame.
func (c *conn) reply(text string, extra ...esl.Header) {
	h := esl.Headers{{Name: "Content-Type", Value: esl.TypeReply}, {Name: "Reply-Text", Value: text}}
	h = append(h, extra...)
	c.push(esl.AppendFrame(nil, esl.Frame{Headers: h}), kindReply)
}

// sendNotice queues a notice; notices keep their place among events.
func (c *conn) sendNotice(b []byte) { c.push(b, kindEvent) }

// beginHold holds events back while an api command runs on this connection.
func (c *conn) beginHold() {
	c.qmu.Lock()
	c.hold++
	c.qmu.Unlock()
}

// endHold queues the api reply, then the events held meanwhile.
func (c *conn) endHold(reply []byte) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	c.hold--
	if c.dead || c.closing {
		return
	}
	c.queue = append(c.queue, item{reply, kindReply})
	if c.hold == 0 {
		c.queue = append(c.queue, c.held...)
		c.held = nil
	}
	c.qcond.Broadcast()
}

// discardEvents drops events not yet written, as FreeSWITCH flushes the
// listener's queue before a disconnect notice.
func (c *conn) discardEvents() {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	q := c.queue[:0]
	for _, it := range c.queue {
		if it.kind != kindEvent {
			q = append(q, it)
		}
	}
	c.queue = q
	c.held = nil
}

// closeAfterFlush closes the connection once everything queued is written.
func (c *conn) closeAfterFlush() {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	c.queue = append(c.queue, c.held...)
	c.held = nil
	c.closing = true
	c.qcond.Broadcast()
}

// kill closes the connection at once.
func (c *conn) kill() {
	c.qmu.Lock()
	c.dead = true
	c.qcond.Broadcast()
	c.qmu.Unlock()
	_ = c.nc.Close()
}

// apiResponse frames an api result, as esl.AppendFrame would, in one
// allocation: a listing of every channel is tens of megabytes.
func apiResponse(body string) []byte {
	head := "Content-Type: " + esl.TypeAPIResponse + "\nContent-Length: " + strconv.Itoa(len(body)) + "\n\n"
	b := make([]byte, 0, len(head)+len(body))
	return append(append(b, head...), body...)
}

const goodbye = "Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"

// disconnectNotice frames a text/disconnect-notice; session is the
// controlled channel's UUID on outbound sockets, "" on inbound ones.
func disconnectNotice(session, body string) []byte {
	h := esl.Headers{{Name: "Content-Type", Value: esl.TypeDisconnect}}
	if session != "" {
		h.Add("Controlled-Session-UUID", session)
		h.Add("Content-Disposition", "disconnect")
	}
	h.Add("Content-Length", strconv.Itoa(len(body)))
	return esl.AppendFrame(nil, esl.Frame{Headers: h, Body: []byte(body)})
}

// lingerNotice frames the notice a lingering outbound socket gets when its
// channel hangs up.
func lingerNotice(ch *Channel, secs int) []byte {
	return esl.AppendFrame(nil, esl.Frame{Headers: esl.Headers{
		{Name: "Content-Type", Value: esl.TypeDisconnect},
		{Name: "Controlled-Session-UUID", Value: ch.uuid},
		{Name: "Content-Disposition", Value: "linger"},
		{Name: "Channel-Name", Value: ch.name},
		{Name: "Linger-Time", Value: strconv.Itoa(secs)},
		{Name: "Content-Length", Value: "0"},
	}})
}

// myEventNames are the channel events "myevents" subscribes to.
var myEventNames = []string{
	"CHANNEL_ANSWER", "CHANNEL_APPLICATION", "CHANNEL_BRIDGE", "CHANNEL_CREATE", "CHANNEL_DATA",
	"CHANNEL_DESTROY", "CHANNEL_EXECUTE", "CHANNEL_EXECUTE_COMPLETE", "CHANNEL_HANGUP",
	"CHANNEL_HANGUP_COMPLETE", "CHANNEL_ORIGINATE", "CHANNEL_OUTGOING", "CHANNEL_PARK",
	"CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_STATE", "CHANNEL_UNBRIDGE",
	"CHANNEL_UNPARK", "CHANNEL_UUID", "DETECTED_SPEECH", "DTMF", "PLAYBACK_START", "PLAYBACK_STOP",
}

// subscription is what a connection listens to.
type subscription struct {
	all      bool
	names    map[string]bool
	myevents string // session UUID when myevents is on
	filters  []filter
}

// filter is one "filter <header> <value>", read as mod_event_socket reads
// it: leading '+', '-' and spaces are its sign (a '-' filter excludes what
// it matches), a value starting with '/' is a regular expression up to
// the last '/' with flags after it (i: ignore case), and any other value
// is compared without regard to case.
type filter struct {
	header, value string // value as given, for "filter delete"
	negative      bool
	plain         string
	re            *regexp.Regexp
}

func (f filter) match(ev *esl.Event) bool {
	v, ok := ev.Headers.Lookup(f.header)
	return ok && f.matchValue(v)
}

// matchValue reports whether a value of the filter's header passes it.
func (f filter) matchValue(v string) bool {
	if f.re != nil {
		return f.re.MatchString(v)
	}
	return strings.EqualFold(v, f.plain)
}

// addNames subscribes to event names ("ALL" for everything).
func (sub *subscription) addNames(names []string) {
	if sub.names == nil {
		sub.names = map[string]bool{}
	}
	for _, n := range names {
		n = strings.ToUpper(n)
		switch n {
		case "":
		case "ALL":
			sub.all = true
		default:
			sub.names[n] = true
		}
	}
}

// eventKey is what every subscription looks at in an event, looked up once.
type eventKey struct {
	name, uniqueID, jobOwner string
}

// wants reports whether an event goes to this subscription; k holds ev's
// Event-Name, Unique-ID and Job-Owner-UUID.
func (sub *subscription) wants(ev *esl.Event, k eventKey) bool {
	if !sub.keyWanted(k) {
		return false
	}
	if len(sub.filters) == 0 {
		return true
	}
	// mod_event_socket's event_handler: an event passes when a positive
	// filter matches it and no negative one does; with only negative
	// filters nothing passes.
	send := false
	for _, f := range sub.filters {
		if send && !f.negative {
			continue
		}
		if f.match(ev) {
			if f.negative {
				return false
			}
			send = true
		}
	}
	return send
}

// mayWant reports whether an event with key k could go to this
// subscription, before the event is built: false only when it certainly
// would not. Filters on headers other than the key's are taken as a maybe.
func (sub *subscription) mayWant(k eventKey) bool {
	if !sub.keyWanted(k) {
		return false
	}
	if len(sub.filters) == 0 {
		return true
	}
	for _, f := range sub.filters {
		if f.negative {
			return true
		}
		var v string
		switch {
		case strings.EqualFold(f.header, "Event-Name"):
			v = k.name
		case strings.EqualFold(f.header, "Unique-ID") && k.uniqueID != "":
			v = k.uniqueID
		default:
			return true
		}
		if f.matchValue(v) {
			return true
		}
	}
	return false
}

// keyWanted applies the subscription's event names and myevents to k.
func (sub *subscription) keyWanted(k eventKey) bool {
	if !sub.all && !sub.names[k.name] {
		return false
	}
	if sub.myevents != "" && k.uniqueID != sub.myevents && k.jobOwner != sub.myevents {
		return false
	}
	return true
}

// addFilter implements "filter <header> <value>"; a value in slashes is a regexp.
func (sub *subscription) addFilter(header, value string) {
	f := filter{header: header, value: value}
	v := value
	for v != "" && strings.ContainsRune("+- ", rune(v[0])) {
		f.negative = v[0] == '-' || (v[0] == ' ' && f.negative)
		v = v[1:]
	}
	f.plain = v
	if body, ok := strings.CutPrefix(v, "/"); ok {
		if end := strings.LastIndexByte(body, '/'); end >= 0 {
			expr, flags := body[:end], body[end+1:]
			if strings.ContainsRune(flags, 'i') {
				expr = "(?i)" + expr
			}
			if re, err := regexp.Compile(expr); err == nil {
				f.re = re
			}
		}
	}
	sub.filters = append(sub.filters, f)
}

// deleteFilter implements "filter delete <header> [<value>]".
func (sub *subscription) deleteFilter(header, value string) {
	fs := sub.filters[:0]
	for _, f := range sub.filters {
		if strings.EqualFold(f.header, header) && (value == "" || f.value == value) {
			continue
		}
		fs = append(fs, f)
	}
	sub.filters = fs
}
