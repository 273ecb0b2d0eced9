package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// DefaultEventBuffer is how many deliveries (each the events of one
// fan-out) a /api/events client may fall behind before the Hub disconnects
// it.
const DefaultEventBuffer = 64

// DefaultFanOutEvery is the least time between two fan-outs: the events of
// a busy moment go to every client together, in one write and one flush
// each, instead of waking every client for every event. The first event
// after a quiet moment goes out at once.
const DefaultFanOutEvery = 20 * time.Millisecond

// fanOutChunk and fanOutPause pace a fan-out to many clients: after each
// chunk of clients woken, the fan-out pauses, so that the goroutines it
// woke have written before the next chunk wakes. Without it a thousand
// streams become runnable at once and a park waits behind all of them for
// a CPU.
const (
	fanOutChunk = 50
	fanOutPause = time.Millisecond
)

// directRetry is how soon the Hub tries again to write a direct stream
// whose socket was full.
const directRetry = 5 * time.Millisecond

// DefaultDirectBacklog is how many bytes a direct stream (one the Hub
// writes itself) may have waiting for its socket before the Hub
// disconnects it: far more than a busy minute's events for a desk that
// reads, and a bound on what a tab that stopped reading costs.
const DefaultDirectBacklog = 256 << 10

// Hub fans the daemon's changes out to the /api/events streams: committed
// history rows (Publish, for store.DB.OnCommit), busy-lamp changes (Light,
// a parking.Lamps) and notes (Note, for store.DB.OnNote).
//
// Its feeds run on the store's writer and under the park service's lock,
// so they only encode the event and queue it: one goroutine of the Hub
// fans the queue out to the clients, at most once per fan-out interval.
// Each client has a bounded buffer, and a client whose buffer is full is
// disconnected and counted (it reconnects with Last-Event-ID and catches
// up from the history). Every event is encoded once, whatever the number
// of clients.
//
// Plain HTTP/1.1 streams are direct: their handler hands the connection
// over and returns, and the Hub owns the socket from then on (a
// descriptor of its own, none of the net package's nor in the runtime's
// poller). It writes them itself, with non-blocking writes, so a
// thousand boards cost no goroutine and a fan-out to them wakes none; at
// each keepalive it reads each socket without waiting, to drop the
// streams whose client left. A fan-out gathers every direct stream's
// bytes into one burst, which a burstWriter writes: on Linux with cgo a
// thread of lower OS priority that is none of the runtime's, so the
// burst holds neither a P nor a core a park wants (burst_linux.go);
// elsewhere the Hub's goroutine.
// Other streams (TLS, HTTP/2) get their events over a channel and are
// written by their handler's goroutine.
type Hub struct {
	log     zerolog.Logger
	buffer  int
	every   time.Duration // the least time between fan-outs
	backlog int           // a direct stream's most unsent bytes
	ticker  Ticker        // the direct streams' keepalive; set before the loop starts

	onDirect func(net.Conn) // tests: shrinks a direct stream's socket buffer

	burst     burst                            // the fan-out's writes to direct streams; only fanOutLoop uses it
	writer    burstWriter                      // writes them; made at the first burst, closed when fanOutLoop ends
	newWriter func(zerolog.Logger) burstWriter // newBurstWriter; tests choose
	flush     atomic.Bool                      // a direct stream became ready or has bytes left: fan out even with no event

	qmu     sync.Mutex // guards queued
	queued  []*frame
	unsent  atomic.Int64  // events queued and not yet fanned out (tests wait for 0)
	wake    chan struct{} // one token: something is queued
	start   sync.Once     // starts fanOutLoop at the first event, so a Hub nobody feeds runs no goroutine
	mu      sync.Mutex    // guards clients, list and closed
	clients map[*subscriber]struct{}
	list    []*subscriber // clients as a slice, rebuilt after a change; nil: stale
	closed  bool
	done    chan struct{} // closed by Close

	dropped atomic.Int64
}

// frame is one encoded event, shared by every client it goes to.
type frame struct {
	id   int64  // the history row's ID; 0 for slot and note events
	lot  string // whose lot: only clients that see it get it
	dom  string // the lot's domain
	data []byte // the whole event, blank line included
}

// subscriber is one /api/events stream.
type subscriber struct {
	sees   func(domain, lot string) bool
	ch     chan []*frame // the events of one fan-out each; nil for a direct stream
	gone   chan struct{} // closed when the Hub dropped it for falling behind; nil for a direct stream, which has no handler to tell
	direct *directStream // nil for a channel stream
}

// NewHub makes a Hub whose clients may fall buffer events behind;
// buffer <= 0: DefaultEventBuffer. log gets the debug line of every client
// cut off.
func NewHub(log zerolog.Logger, buffer int) *Hub {
	return newHub(log, buffer, DefaultFanOutEvery)
}

// newHub is NewHub with the fan-out interval (tests use 0: every event
// goes out as soon as the fan-out goroutine takes it).
func newHub(log zerolog.Logger, buffer int, every time.Duration) *Hub {
	if buffer <= 0 {
		buffer = DefaultEventBuffer
	}
	h := &Hub{log: log, buffer: buffer, every: every, backlog: DefaultDirectBacklog, ticker: realTicker, newWriter: newBurstWriter,
		wake: make(chan struct{}, 1), clients: map[*subscriber]struct{}{}, done: make(chan struct{})}
	return h
}

// useTicker makes the direct streams' keepalive come from t (the Server's
// Config.NewTicker). It has effect only before the first stream or event.
func (h *Hub) useTicker(t Ticker) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ticker = t
}

// Publish sends committed history rows as transition events. Its signature
// is store.DB.OnCommit's.
func (h *Hub) Publish(rows []store.HistoryRow) {
	frames := make([]*frame, 0, len(rows))
	for _, r := range rows {
		f, err := transitionFrame(r)
		if err != nil {
			h.log.Error().Err(err).Int64("id", r.ID).Msg("live events: history row not sent")
			continue
		}
		frames = append(frames, f)
	}
	h.send(frames)
}

// Light sends a slot's lamp change as a slot event; it makes the Hub a
// parking.Lamps. Lot keys (slot 0) are not sent: a lot's count is the
// number of its parked slots.
func (h *Hub) Light(l parking.Lamp) {
	if l.Slot == 0 {
		return
	}
	h.send([]*frame{slotFrame(l)})
}

// Note sends a note written through the store as a note event. Its
// signature is store.DB.OnNote's.
func (h *Hub) Note(n store.Note) {
	h.send([]*frame{noteFrame(n)})
}

// Dropped counts the clients disconnected for falling behind.
func (h *Hub) Dropped() int64 { return h.dropped.Load() }

// Close ends every stream and refuses new ones. The daemon calls it when it
// shuts down: http.Server.Shutdown would otherwise wait for the streams.
func (h *Hub) Close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.closed {
		h.closed = true
		close(h.done)
	}
	for c := range h.clients {
		if c.direct != nil {
			// No handler is left to unsubscribe it: the stream ends
			// here, its socket closed.
			c.direct.close()
			delete(h.clients, c)
			h.list = nil
		}
	}
}

// send queues frames for the fan-out, without waiting: its callers hold
// the park service's lock or are the store's writer.
func (h *Hub) send(frames []*frame) {
	if len(frames) == 0 {
		return
	}
	h.startLoop()
	h.unsent.Add(int64(len(frames)))
	h.qmu.Lock()
	h.queued = append(h.queued, frames...)
	h.qmu.Unlock()
	select {
	case h.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// startLoop starts fanOutLoop once.
func (h *Hub) startLoop() {
	h.start.Do(func() {
		h.mu.Lock()
		tick := h.ticker
		h.mu.Unlock()
		go h.fanOutLoop(tick)
	})
}

// kick wakes fanOutLoop without an event: a direct stream has bytes to go.
func (h *Hub) kick() {
	h.flush.Store(true)
	select {
	case h.wake <- struct{}{}:
	default:
	}
}

// fanOutLoop hands the queued events to the clients until Close, then
// waits out the fan-out interval (counted from the fan-out's start), so
// that under load each client is woken at most once per interval with
// everything that happened meanwhile. It
// writes the direct streams' keepalives when tick fires.
func (h *Hub) fanOutLoop(tick Ticker) {
	var pause *time.Timer
	if h.every > 0 {
		pause = time.NewTimer(h.every)
		defer pause.Stop()
	}
	keepalive, stop := tick(KeepaliveEvery)
	defer stop()
	defer func() {
		if h.writer != nil {
			h.writer.close()
		}
	}()
	// retry fires while a direct stream has bytes its socket did not take:
	// they go out when it has drained, with or without new events.
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	for {
		stalled := false
		select {
		case <-h.done:
			return
		case <-keepalive:
			stalled = h.fanOut([]*frame{keepaliveFrame}, true)
		case <-retry.C:
			h.flush.Store(true)
		case <-h.wake:
		}
		h.qmu.Lock()
		frames := h.queued
		h.queued = nil
		h.qmu.Unlock()
		began := time.Now()
		if h.fanOut(frames, false) || stalled {
			retry.Reset(max(h.every, directRetry))
		}
		h.unsent.Add(-int64(len(frames)))
		if pause == nil {
			continue
		}
		// The interval runs from the fan-out's start: a burst paced over
		// some milliseconds (burstPacing) does not add them to every
		// event's way to the boards.
		pause.Reset(h.every - time.Since(began))
		select {
		case <-h.done:
			return
		case <-pause.C:
		}
	}
}

// keepaliveFrame is the comment an idle direct stream gets now and then,
// so that proxies and browsers keep it open.
var keepaliveFrame = &frame{data: []byte(": keepalive\n\n")}

// fanOut gives frames to every client that sees their lot, in one
// delivery per client, without waiting on any: a client whose buffer is
// full is cut off. A client that subscribes meanwhile gets the next
// fan-out; one that left may still get this one, which nobody reads.
// keepalive: frames is the keepalive, for the direct streams only (the
// others keep themselves alive).
// stalled: a direct stream has bytes left for later.
func (h *Hub) fanOut(frames []*frame, keepalive bool) (stalled bool) {
	flush := h.flush.Swap(false)
	if len(frames) == 0 && !flush {
		return false
	}
	h.burst.reset(frames)
	var drops []dropped
	woken := 0
	for _, c := range h.snapshot() {
		if c.direct != nil {
			batch := frames
			if !keepalive {
				batch = visible(frames, c.sees)
			}
			left, err := h.burst.queueDirect(c, batch, keepalive)
			if err != nil {
				drops = append(drops, dropped{c, err})
			}
			stalled = stalled || left
			continue
		}
		if keepalive {
			continue
		}
		batch := visible(frames, c.sees)
		if len(batch) == 0 {
			continue
		}
		// Paced: the goroutines woken write before the next chunk wakes.
		if woken++; woken%fanOutChunk == 0 {
			time.Sleep(fanOutPause)
		}
		select {
		case c.ch <- batch:
			continue
		default:
		}
		drops = append(drops, dropped{c, errFellBehind})
	}
	if len(h.burst.writes) > 0 {
		if h.writer == nil {
			h.writer = h.newWriter(h.log)
		}
		h.writer.write(h.burst.arena, h.burst.writes)
	}
	drops, left := h.burst.finishBurst(h.backlog, drops)
	// Dropped only now: the burst held its streams' locks until
	// finishBurst, and drop takes the Hub's, which Close holds while it
	// takes the streams'.
	for _, x := range drops {
		h.drop(x.c, x.why)
	}
	return stalled || left
}

// drop cuts a client off (once), for falling behind or a broken socket,
// and counts it; a direct stream whose client left (errClientLeft) is
// only forgotten, as a handler whose client leaves unsubscribes.
func (h *Hub) drop(c *subscriber, why error) {
	if errors.Is(why, errClientLeft) {
		h.unsubscribe(c)
		return
	}
	h.mu.Lock()
	_, ok := h.clients[c]
	if ok {
		delete(h.clients, c)
		h.list = nil
		if c.gone != nil {
			close(c.gone)
		}
		h.dropped.Add(1)
	}
	h.mu.Unlock()
	if c.direct != nil {
		c.direct.close()
	}
	switch {
	case !ok:
	case !errors.Is(why, errFellBehind):
		h.log.Debug().Err(why).Msg("live events client's connection failed; disconnected")
	case c.direct != nil:
		// A channel stream's handler logs its own cut-off; a direct
		// stream has no handler left.
		h.log.Debug().Str("who", c.direct.who).Int64("dropped", h.Dropped()).
			Msg("live events client fell behind; disconnected")
	}
}

// snapshot is the clients now, as a slice shared until the next change.
func (h *Hub) snapshot() []*subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.list == nil {
		h.list = make([]*subscriber, 0, len(h.clients))
		for c := range h.clients {
			h.list = append(h.list, c)
		}
	}
	return h.list
}

// visible is the frames of the lots sees accepts: frames itself (shared,
// read-only) when it accepts them all, as for a supervisor.
func visible(frames []*frame, sees func(string, string) bool) []*frame {
	for i, f := range frames {
		if sees(f.dom, f.lot) {
			continue
		}
		out := append(make([]*frame, 0, len(frames)-1), frames[:i]...)
		for _, f := range frames[i+1:] {
			if sees(f.dom, f.lot) {
				out = append(out, f)
			}
		}
		return out
	}
	return frames
}

// subscribe adds a client that gets the events of the lots sees accepts;
// nil once the Hub is closed.
func (h *Hub) subscribe(sees func(domain, lot string) bool) *subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	c := &subscriber{sees: sees, ch: make(chan []*frame, h.buffer), gone: make(chan struct{})}
	h.clients[c] = struct{}{}
	h.list = nil
	return c
}

// subscribeDirect adds a direct stream that gets the events of the lots
// sees accepts once ready is called; meanwhile they are held for it. who
// names its client in the log of its cut-off. nil once the Hub is closed.
func (h *Hub) subscribeDirect(sees func(domain, lot string) bool, who string) *subscriber {
	h.startLoop() // the keepalives
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	c := &subscriber{sees: sees, direct: newDirectStream(who)}
	h.clients[c] = struct{}{}
	h.list = nil
	return c
}

// ready hands a direct stream's connection to the Hub, after its handler
// wrote the response head and the replayed rows up to row last: the Hub
// writes the events held meanwhile (but rows up to last) and all that
// follow. true: the Hub owns the connection's socket, conn is closed (the
// socket stays open: directStream.open), and the stream ends when the Hub
// drops it. false when the Hub is closed or dropped the stream; the caller
// closes conn and unsubscribes.
func (h *Hub) ready(c *subscriber, conn net.Conn, last int64) bool {
	h.mu.Lock()
	_, ok := h.clients[c]
	ok = ok && !h.closed
	h.mu.Unlock()
	if !ok {
		return false
	}
	if h.onDirect != nil {
		h.onDirect(conn)
	}
	if err := c.direct.open(conn, last); err != nil {
		h.log.Debug().Err(err).Msg("live events: connection not writable by the hub")
		return false
	}
	h.kick()
	return true
}

func (h *Hub) unsubscribe(c *subscriber) {
	h.mu.Lock()
	delete(h.clients, c)
	h.list = nil
	h.mu.Unlock()
	if c.direct != nil {
		c.direct.close()
	}
}

// clientCount is how many streams are subscribed (tests wait on it).
func (h *Hub) clientCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.clients)
}

// transitionFrame is a history row's event: its ID as the event ID, and
// the row's JSON (HistoryRow.MarshalJSON) with "id" added in front.
func transitionFrame(r store.HistoryRow) (*frame, error) {
	js, err := r.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("history row %d: %w", r.ID, err)
	}
	id := strconv.FormatInt(r.ID, 10)
	b := make([]byte, 0, len(js)+2*len(id)+48)
	b = append(b, "id: "...)
	b = append(b, id...)
	b = append(b, "\nevent: transition\ndata: {\"id\":"...)
	b = append(b, id...)
	if len(js) > 2 { // not "{}"
		b = append(b, ',')
	}
	b = append(b, js[1:]...)
	b = append(b, "\n\n"...)
	return &frame{id: r.ID, lot: r.Lot, dom: r.Domain, data: b}, nil
}

// slotJSONEvent is a slot event's data.
type slotEventJSON struct {
	Lot          string `json:"lot"`
	Domain       string `json:"domain,omitempty"`
	Slot         int    `json:"slot"`
	State        string `json:"state"`
	CallerName   string `json:"caller_name"`
	CallerNumber string `json:"caller_number"`
}

// lampStates names a lamp's state in slot events.
var lampStates = map[parking.LampState]string{
	parking.LampIdle: "free", parking.LampParked: "parked", parking.LampRinging: "ringing",
}

func slotFrame(l parking.Lamp) *frame {
	st, ok := lampStates[l.State]
	if !ok {
		st = l.State.String()
	}
	return dataFrame("slot", l.Domain, l.Lot, slotEventJSON{Lot: l.Lot, Domain: l.Domain, Slot: l.Slot, State: st,
		CallerName: l.Caller.Name, CallerNumber: l.Caller.Number})
}

// noteEventJSON is a note event's data.
type noteEventJSON struct {
	Lot    string `json:"lot"`
	Domain string `json:"domain,omitempty"`
	Slot   int    `json:"slot"`
	At     string `json:"at"`
	Text   string `json:"text"`
}

func noteFrame(n store.Note) *frame {
	return dataFrame("note", n.Domain, n.Lot, noteEventJSON{Lot: n.Lot, Domain: n.Domain, Slot: n.Slot, At: n.At.UTC().Format(time.RFC3339), Text: n.Text})
}

// dataFrame is an event with no ID. json.Marshal escapes line breaks, so
// the data is one line.
func dataFrame(event, domain, lot string, v any) *frame {
	js, _ := json.Marshal(v) // plain strings and ints: cannot fail
	b := make([]byte, 0, len(js)+len(event)+16)
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, "\ndata: "...)
	b = append(b, js...)
	b = append(b, "\n\n"...)
	return &frame{lot: lot, dom: domain, data: b}
}
