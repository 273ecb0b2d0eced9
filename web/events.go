package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/parkd/parkd/store"
)

// Live events (/api/events) bounds.
const (
	// KeepaliveEvery is how often an idle stream gets a comment line, so
	// that proxies and browsers keep it open.
	KeepaliveEvery = 15 * time.Second
	// MaxReplay is the most history rows a reconnecting client is sent;
	// one further behind gets a reset event and refetches /api/slots.
	MaxReplay = 10000
	// retryMS is the reconnection delay the stream asks browsers for.
	retryMS = 2000
)

// replayLimit is MaxReplay; tests lower it.
var replayLimit = MaxReplay

// Ticker makes a ticker: its channel and the function that stops it.
// Config.NewTicker lets tests drive the keepalive by hand.
type Ticker func(d time.Duration) (c <-chan time.Time, stop func())

func realTicker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}

// apiEvents streams Server-Sent Events: a transition event for every
// history row committed (id: the row's ID), a slot event for every change
// of a slot's lamp, a note event for every note written, all limited to
// the lots the caller sees. A client that gives Last-Event-ID (or
// ?last_event_id=) first gets the rows it missed, from the history.
func (s *Server) apiEvents(w http.ResponseWriter, r *http.Request) {
	p := who(r)
	after, resume, err := lastEventID(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	// Subscribed before the history is read, so no row falls between the
	// replay and the live events; the rows both give are dropped below.
	domains, ok := p.domains(r.URL.Query())
	if !ok {
		writeError(w, http.StatusForbidden, "you may not see that domain")
		return
	}
	sees := func(domain, lot string) bool {
		return p.sees(domain, lot) && (domains == nil || slices.Contains(domains, domain))
	}
	if canStreamDirect(w, r) {
		s.directEvents(w, r, p, sees, after, resume)
		return
	}
	sub := s.events.subscribe(sees)
	if sub == nil {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	defer s.events.unsubscribe(sub)
	var head bytes.Buffer
	fmt.Fprintf(&head, "retry: %d\n\n", retryMS)
	last := after
	if resume {
		if last, err = s.replay(r.Context(), p, sees, after, &head); err != nil {
			s.storeError(w, r, err)
			return
		}
	}

	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // nginx: do not hold events back
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Time{}) // a stream outlives any write timeout
	if !s.write(rc, w, head.Bytes()) {
		return
	}
	tick, stop := s.tick(KeepaliveEvery)
	defer stop()
	for {
		// Falling behind ends the stream even with events still queued:
		// the client catches up from the history when it reconnects.
		select {
		case <-sub.gone:
			s.log.Debug().Str("who", p.Name).Int64("dropped", s.events.Dropped()).
				Msg("live events client fell behind; disconnected")
			return
		default:
		}
		select {
		case <-r.Context().Done():
			return
		case <-s.events.done:
			return
		case <-sub.gone:
			continue // logged above
		case <-tick:
			if !s.write(rc, w, []byte(": keepalive\n\n")) {
				return
			}
		case fs := <-sub.ch:
			var buf []byte
			buf, last = appendFrameBytes(buf, fs, last)
			// Whatever else is queued goes in the same flush.
			for more := true; more && len(buf) < 64<<10; {
				select {
				case fs := <-sub.ch:
					buf, last = appendFrameBytes(buf, fs, last)
				default:
					more = false
				}
			}
			if len(buf) > 0 && !s.write(rc, w, buf) {
				return
			}
		}
	}
}

// directHeadTimeout bounds the write of a direct stream's response head
// and replayed rows, the one blocking write of its life.
const directHeadTimeout = 10 * time.Second

// canStreamDirect reports whether the stream can be direct: a plain
// HTTP/1.1 GET, whose connection the handler can take over for the Hub to
// write, on a unix system. TLS and HTTP/2 streams go through their
// handler.
func canStreamDirect(w http.ResponseWriter, r *http.Request) bool {
	if !directSupported || r.TLS != nil || r.ProtoMajor != 1 || r.Method != http.MethodGet {
		return false
	}
	_, ok := w.(http.Hijacker)
	return ok
}

// directEvents is apiEvents for a direct stream: it takes the connection
// over, writes the response head and the replayed rows itself, and hands
// the connection to the Hub, which writes every later event, notices when
// the client leaves, and closes the connection. The handler returns at
// once: a stream handed over keeps no goroutine. The response has no
// chunked framing: it ends when the connection closes (Connection: close).
func (s *Server) directEvents(w http.ResponseWriter, r *http.Request, p principal, sees func(domain, lot string) bool, after int64, resume bool) {
	// Subscribed before the history is read, so no row falls between the
	// replay and the live events; the Hub skips the rows both give.
	sub := s.events.subscribeDirect(sees, p.Name)
	if sub == nil {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	handed := false // to the Hub, which unsubscribes it when it ends
	defer func() {
		if !handed {
			s.events.unsubscribe(sub)
		}
	}()
	var body bytes.Buffer
	fmt.Fprintf(&body, "retry: %d\n\n", retryMS)
	last := after
	if resume {
		var err error
		if last, err = s.replay(r.Context(), p, sees, after, &body); err != nil {
			s.storeError(w, r, err)
			return
		}
	}
	h := w.Header().Clone()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no") // nginx: do not hold events back
	h.Set("Connection", "close")
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		s.log.Error().Err(err).Msg("live events: cannot take the connection over")
		writeError(w, http.StatusInternalServerError, "live events unavailable")
		return
	}
	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	_ = h.Write(&head) // a bytes.Buffer takes every write
	head.WriteString("\r\n")
	head.Write(body.Bytes())
	_ = conn.SetWriteDeadline(time.Now().Add(directHeadTimeout))
	if _, err := conn.Write(head.Bytes()); err != nil {
		conn.Close()
		return
	}
	// The stream outlives the head's deadline and the server's timeouts:
	// those are the net package's, and the Hub's socket is none of its.
	if handed = s.events.ready(sub, conn, last); !handed {
		conn.Close()
	}
}

// write sends b and flushes it; false when the client is gone.
func (s *Server) write(rc *http.ResponseController, w http.ResponseWriter, b []byte) bool {
	if _, err := w.Write(b); err != nil {
		return false
	}
	return rc.Flush() == nil
}

// lastEventID reads the ID a reconnecting client last got: the
// Last-Event-ID header, or the last_event_id parameter for clients that
// cannot set headers. resume is false when neither is given.
func lastEventID(r *http.Request) (id int64, resume bool, err error) {
	v := r.Header.Get("Last-Event-ID")
	if v == "" {
		v = r.URL.Query().Get("last_event_id")
	}
	if v == "" {
		return 0, false, nil
	}
	id, err = strconv.ParseInt(v, 10, 64)
	if err != nil || id < 0 {
		return 0, false, errors.New("Last-Event-ID: want the id of an event received (a whole number)")
	}
	return id, true, nil
}

// replay writes to buf the transition events of the rows after the row
// with ID after that p sees, and returns the ID of the last row read. More
// than MaxReplay rows give a reset event instead, carrying the newest row's
// ID, so that the client refetches /api/slots and resumes from there.
func (s *Server) replay(ctx context.Context, p principal, sees func(domain, lot string) bool, after int64, buf *bytes.Buffer) (int64, error) {
	f := store.HistoryFilter{AfterID: after, Limit: replayLimit + 1, Domains: p.Domains}
	if p.Role != RoleSupervisor && len(p.Lots) == 1 {
		f.Lot = p.Lots[0]
	}
	rows, err := s.store.History(ctx, f)
	if err != nil {
		return 0, fmt.Errorf("live events: replay after %d: %w", after, err)
	}
	last := after
	if len(rows) > replayLimit {
		f.Limit, f.Newest = 1, true
		newest, err := s.store.History(ctx, f)
		if err != nil {
			return 0, fmt.Errorf("live events: newest row: %w", err)
		}
		if len(newest) > 0 {
			last = newest[len(newest)-1].ID
		}
		fmt.Fprintf(buf, "id: %d\nevent: reset\ndata: {}\n\n", last)
		return last, nil
	}
	for _, row := range rows {
		last = row.ID
		if !sees(row.Domain, row.Lot) {
			continue
		}
		fr, err := transitionFrame(row)
		if err != nil {
			return 0, err
		}
		buf.Write(fr.data)
	}
	return last, nil
}
