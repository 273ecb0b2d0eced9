package web

import (
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// DefaultEventBuffer is how many events a /api/events client may fall
// behind before the Hub disconnects it.
const DefaultEventBuffer = 256

// Hub fans the daemon's changes out to the /api/events streams: committed
// history rows (Publish, for store.DB.OnCommit), busy-lamp changes (Light,
// a parking.Lamps) and notes (Note, for store.DB.OnNote).
//
// Its feeds run on the store's writer and under the park service's lock,
// so they never wait: each client has a bounded buffer, and a client whose
// buffer is full is disconnected and counted (it reconnects with
// Last-Event-ID and catches up from the history). Every event is encoded
// once, whatever the number of clients.
type Hub struct {
	log    zerolog.Logger
	buffer int

	mu      sync.Mutex // guards clients and closed
	clients map[*subscriber]struct{}
	closed  bool
	done    chan struct{} // closed by Close

	dropped atomic.Int64
}

// frame is one encoded event, shared by every client it goes to.
type frame struct {
	id   int64  // the history row's ID; 0 for slot and note events
	lot  string // whose lot: only clients that see it get it
	data []byte // the whole event, blank line included
}

// subscriber is one /api/events stream.
type subscriber struct {
	sees func(lot string) bool
	ch   chan *frame
	gone chan struct{} // closed when the Hub dropped it for falling behind
}

// NewHub makes a Hub whose clients may fall buffer events behind;
// buffer <= 0: DefaultEventBuffer. log gets the debug line of every client
// cut off.
func NewHub(log zerolog.Logger, buffer int) *Hub {
	if buffer <= 0 {
		buffer = DefaultEventBuffer
	}
	return &Hub{log: log, buffer: buffer, clients: map[*subscriber]struct{}{}, done: make(chan struct{})}
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
}

// send queues frames to every client that sees their lot, without waiting.
func (h *Hub) send(frames []*frame) {
	if len(frames) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for c := range h.clients {
		for _, f := range frames {
			if !c.sees(f.lot) {
				continue
			}
			select {
			case c.ch <- f:
				continue
			default:
			}
			delete(h.clients, c)
			close(c.gone)
			h.dropped.Add(1)
			break
		}
	}
}

// subscribe adds a client that gets the events of the lots sees accepts;
// nil once the Hub is closed.
func (h *Hub) subscribe(sees func(string) bool) *subscriber {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	c := &subscriber{sees: sees, ch: make(chan *frame, h.buffer), gone: make(chan struct{})}
	h.clients[c] = struct{}{}
	return c
}

func (h *Hub) unsubscribe(c *subscriber) {
	h.mu.Lock()
	delete(h.clients, c)
	h.mu.Unlock()
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
	return &frame{id: r.ID, lot: r.Lot, data: b}, nil
}

// slotJSONEvent is a slot event's data.
type slotEventJSON struct {
	Lot          string `json:"lot"`
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
	return dataFrame("slot", l.Lot, slotEventJSON{Lot: l.Lot, Slot: l.Slot, State: st,
		CallerName: l.Caller.Name, CallerNumber: l.Caller.Number})
}

// noteEventJSON is a note event's data.
type noteEventJSON struct {
	Lot  string `json:"lot"`
	Slot int    `json:"slot"`
	At   string `json:"at"`
	Text string `json:"text"`
}

func noteFrame(n store.Note) *frame {
	return dataFrame("note", n.Lot, noteEventJSON{Lot: n.Lot, Slot: n.Slot, At: n.At.UTC().Format(time.RFC3339), Text: n.Text})
}

// dataFrame is an event with no ID. json.Marshal escapes line breaks, so
// the data is one line.
func dataFrame(event, lot string, v any) *frame {
	js, _ := json.Marshal(v) // plain strings and ints: cannot fail
	b := make([]byte, 0, len(js)+len(event)+16)
	b = append(b, "event: "...)
	b = append(b, event...)
	b = append(b, "\ndata: "...)
	b = append(b, js...)
	b = append(b, "\n\n"...)
	return &frame{lot: lot, data: b}
}
