package web

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// liveEnv is a Server on a real SQLite store whose commits and notes feed
// a Hub, served over TCP, with a keepalive ticker the test fires by hand.
type liveEnv struct {
	*env
	db   *store.DB
	hub  *Hub
	ts   *httptest.Server
	tick chan time.Time
}

func newLiveEnv(t *testing.T, buffer int) *liveEnv {
	t.Helper()
	le := &liveEnv{tick: make(chan time.Time)}
	le.db = store.NewDB(filepath.Join(t.TempDir(), "parkd.db"))
	le.hub = newHub(zerolog.Nop(), buffer, 0)
	le.db.OnCommit(le.hub.Publish)
	le.db.OnNote(le.hub.Note)
	if err := le.db.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { le.db.Close() })
	le.env = newEnv(t, func(c *Config) {
		c.Store, c.Events = le.db, le.hub
		// The Hub logs a direct stream's cut-off: in the Server's log,
		// as in the daemon. Set before any event starts its loop.
		le.hub.log = c.Logger
		c.NewTicker = func(time.Duration) (<-chan time.Time, func()) { return le.tick, func() {} }
	})
	le.ts = httptest.NewServer(le.srv)
	t.Cleanup(le.ts.Close)
	t.Cleanup(le.hub.Close) // before ts.Close: it waits for the streams
	return le
}

// park records a call parked in lot/slot and returns its history row ID.
func (le *liveEnv) park(call, lot string, slot int) int64 {
	le.t.Helper()
	at := t0.Add(time.Duration(slot) * time.Second)
	caller := parking.Caller{Name: "Jane Roe", Number: "+15550100"}
	err := le.db.Record(context.Background(), parking.Transition{
		At: at, Event: parking.EventParked, Lot: lot, Slot: slot, Call: parking.CallID(call), Caller: caller, Parker: "1001",
		Occupancy: &parking.Occupant{Lot: lot, Slot: slot, Call: parking.CallID(call), Caller: caller, Parker: "1001",
			ParkedAt: at, Deadline: at.Add(time.Minute)},
	})
	if err != nil {
		le.t.Fatal(err)
	}
	rows, err := le.db.History(context.Background(), store.HistoryFilter{Call: parking.CallID(call)})
	if err != nil || len(rows) == 0 {
		le.t.Fatalf("history of %s: %v %v", call, rows, err)
	}
	return rows[len(rows)-1].ID
}

// sse is one event read from a stream.
type sse struct {
	ID, Event, Data, Comment string
}

type stream struct {
	t      *testing.T
	resp   *http.Response
	r      *bufio.Reader
	cancel context.CancelFunc
}

// open starts GET /api/events as token (or cookie), with extra headers,
// and reads up to the retry line: the stream is subscribed from then on.
func (le *liveEnv) open(path, token string, cookie *http.Cookie, hdr map[string]string) *stream {
	le.t.Helper()
	// Events committed before are fanned out before: the stream begins after them.
	waitFor(le.t, "the hub to fan out what was queued", func() bool { return le.hub.unsent.Load() == 0 })
	// The timeout only keeps a broken test from hanging forever.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, le.ts.URL+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		le.t.Fatal(err)
	}
	s := &stream{t: le.t, resp: resp, r: bufio.NewReader(resp.Body), cancel: cancel}
	le.t.Cleanup(s.close)
	if resp.StatusCode != http.StatusOK {
		le.t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		le.t.Fatalf("Content-Type %q", ct)
	}
	if l, _ := s.r.ReadString('\n'); l != "retry: 2000\n" {
		le.t.Fatalf("first line %q, want the retry", l)
	}
	if l, _ := s.r.ReadString('\n'); l != "\n" {
		le.t.Fatalf("retry line followed by %q", l)
	}
	// A direct stream writes its head before the Hub takes it over; a
	// keepalive fired in between is skipped (events are held for it).
	waitFor(le.t, "the direct streams to be handed to the Hub", le.hub.directOpen)
	return s
}

// directOpen reports whether every direct stream the Hub has is open: the
// Hub writes to it from now on, keepalives included.
func (h *Hub) directOpen() bool {
	for _, c := range h.snapshot() {
		if d := c.direct; d != nil {
			d.mu.Lock()
			open := d.fd >= 0 || d.closed
			d.mu.Unlock()
			if !open {
				return false
			}
		}
	}
	return true
}

func (s *stream) close() { s.cancel(); s.resp.Body.Close() }

// next reads the next event or comment.
func (s *stream) next() sse {
	s.t.Helper()
	var e sse
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("stream ended: %v (event so far %+v)", err, e)
		}
		l = strings.TrimSuffix(l, "\n")
		k, v, _ := strings.Cut(l, ": ")
		switch k {
		case "":
			if l == "" {
				return e
			}
			e.Comment = v
		case "id":
			e.ID = v
		case "event":
			e.Event = v
		case "data":
			e.Data = v
		default:
			s.t.Fatalf("unexpected line %q", l)
		}
	}
}

// ended reports whether the stream ends before any further event.
func (s *stream) ended() bool {
	_, err := s.r.ReadString('\n')
	return err != nil
}

// wantRow checks that e is the transition of the history row id.
func (le *liveEnv) wantRow(e sse, id int64) {
	le.t.Helper()
	rows, err := le.db.History(context.Background(), store.HistoryFilter{AfterID: id - 1, Limit: 1})
	if err != nil || len(rows) != 1 || rows[0].ID != id {
		le.t.Fatalf("row %d: %v %v", id, rows, err)
	}
	js, _ := rows[0].MarshalJSON()
	want := fmt.Sprintf(`{"id":%d,%s`, id, js[1:])
	if e.ID != strconv.FormatInt(id, 10) || e.Event != "transition" || e.Data != want {
		le.t.Fatalf("got %+v\nwant id %d, transition, data %s", e, id, want)
	}
}

// Ensure a committed row, a lamp change and a note reach a stream as they
// happen, in that order, each in its documented shape.
func TestEvents_Live(t *testing.T) {
	le := newLiveEnv(t, 0)
	s := le.open("/api/events", superTok, nil, nil)

	id := le.park("call-1", "main", 202)
	le.wantRow(s.next(), id)

	le.hub.Light(parking.Lamp{Lot: "main", Slot: 0, State: parking.LampParked, Parked: 1}) // a lot key: not sent
	le.hub.Light(parking.Lamp{Lot: "main", Slot: 202, State: parking.LampRinging, Caller: parking.Caller{Name: "Jane Roe", Number: "+15550100"}})
	if e := s.next(); e != (sse{Event: "slot", Data: `{"lot":"main","slot":202,"state":"ringing","caller_name":"Jane Roe","caller_number":"+15550100"}`}) {
		t.Fatalf("slot event %+v", e)
	}
	le.hub.Light(parking.Lamp{Lot: "main", Slot: 202})
	if e := s.next(); e.Data != `{"lot":"main","slot":202,"state":"free","caller_name":"","caller_number":""}` {
		t.Fatalf("free slot event %+v", e)
	}

	if _, err := le.db.AddNote(context.Background(), "", "main", 202, "wants Dr. \"Smith\"", t0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if e := s.next(); e != (sse{Event: "note", Data: `{"lot":"main","slot":202,"at":"2026-12-05T10:00:00Z","text":"wants Dr. \"Smith\""}`}) {
		t.Fatalf("note event %+v", e)
	}
}

// Ensure an idle stream gets a keepalive comment each time the ticker
// fires.
func TestEvents_Keepalive(t *testing.T) {
	le := newLiveEnv(t, 0)
	s := le.open("/api/events", superTok, nil, nil)
	for range 2 {
		le.tick <- t0
		if e := s.next(); e != (sse{Comment: "keepalive"}) {
			t.Fatalf("got %+v, want the keepalive comment", e)
		}
	}
}

// Ensure a client reconnecting with Last-Event-ID (header or parameter)
// gets exactly the rows it missed, then the live ones with none twice.
func TestEvents_Resume(t *testing.T) {
	le := newLiveEnv(t, 0)
	s := le.open("/api/events", superTok, nil, nil)
	first := le.park("call-1", "main", 201)
	le.wantRow(s.next(), first)
	s.close()

	missed := []int64{le.park("call-2", "main", 202), le.park("call-3", "sales", 301)}
	for _, how := range []string{"header", "param"} {
		t.Run(how, func(t *testing.T) {
			path, hdr := "/api/events", map[string]string{"Last-Event-ID": strconv.FormatInt(first, 10)}
			if how == "param" {
				path, hdr = path+"?last_event_id="+strconv.FormatInt(first, 10), nil
			}
			s := le.open(path, superTok, nil, hdr)
			for _, id := range missed {
				le.wantRow(s.next(), id)
			}
			next := le.park("call-"+how, "main", 210+len(how))
			le.wantRow(s.next(), next)
			missed = append(missed, next) // the next client missed it too
			s.close()
		})
	}
}

// Ensure the rows committed while a reconnecting client's replay is read
// come once, after the replay: none lost, none twice.
func TestEvents_ResumeNoGapNoDuplicate(t *testing.T) {
	le := newLiveEnv(t, 0)
	var ids []int64
	for i := range 5 {
		ids = append(ids, le.park(fmt.Sprintf("call-%d", i), "main", 201+i))
	}
	// Rows committed while the stream is being opened reach it both ways
	// (in the replay and live); each must be read once.
	var wg sync.WaitGroup
	more := make(chan int64, 20)
	wg.Go(func() {
		for i := range 20 {
			more <- le.park(fmt.Sprintf("late-%d", i), "main", 230+i)
		}
		close(more)
	})
	s := le.open("/api/events", superTok, nil, map[string]string{"Last-Event-ID": strconv.FormatInt(ids[1], 10)})
	wg.Wait()
	want := ids[2:]
	for id := range more {
		want = append(want, id)
	}
	for _, id := range want {
		le.wantRow(s.next(), id)
	}
	le.tick <- t0 // nothing else came before the keepalive
	if e := s.next(); e.Comment != "keepalive" {
		t.Fatalf("after the rows: %+v", e)
	}
}

// Ensure a client further behind than replayLimit rows gets a reset event
// carrying the newest row's ID, then live rows after it.
func TestEvents_ResumeTooFarBehind(t *testing.T) {
	old := replayLimit
	replayLimit = 3
	t.Cleanup(func() { replayLimit = old })
	le := newLiveEnv(t, 0)
	var last int64
	for i := range 5 {
		last = le.park(fmt.Sprintf("call-%d", i), "main", 201+i)
	}
	s := le.open("/api/events", superTok, nil, map[string]string{"Last-Event-ID": "0"})
	if e := s.next(); e != (sse{ID: strconv.FormatInt(last, 10), Event: "reset", Data: "{}"}) {
		t.Fatalf("got %+v, want a reset at %d", e, last)
	}
	next := le.park("call-next", "main", 210)
	le.wantRow(s.next(), next)

	// Exactly replayLimit rows behind: replayed.
	s = le.open("/api/events", superTok, nil, map[string]string{"Last-Event-ID": strconv.FormatInt(last-2, 10)})
	for _, id := range []int64{last - 1, last, next} {
		le.wantRow(s.next(), id)
	}
}

// Ensure a bad Last-Event-ID is refused with 400 and a stream needs a
// session or a token.
func TestEvents_BadRequests(t *testing.T) {
	le := newLiveEnv(t, 0)
	for _, v := range []string{"abc", "-1", "1.5", "99999999999999999999"} {
		req := httptest.NewRequest(http.MethodGet, "/api/events", nil)
		req.Header.Set("Authorization", "Bearer "+superTok)
		req.Header.Set("Last-Event-ID", v)
		if w := le.do(req); w.Code != http.StatusBadRequest {
			t.Errorf("Last-Event-ID %q: %d", v, w.Code)
		}
		if w := le.get("/api/events?last_event_id="+v, superTok, nil); w.Code != http.StatusBadRequest {
			t.Errorf("last_event_id=%q: %d", v, w.Code)
		}
	}
	if w := le.get("/api/events", "", nil); w.Code != http.StatusUnauthorized {
		t.Errorf("no credentials: %d", w.Code)
	}
	req := httptest.NewRequest(http.MethodPost, "/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+superTok)
	if w := le.do(req); w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: %d", w.Code)
	}
}

// Ensure an agent's stream and replay hold only the lots the agent sees,
// while a supervisor and an agent of every lot get all of them.
func TestEvents_LotFilter(t *testing.T) {
	le := newLiveEnv(t, 0)
	alice, _ := le.login("alice", alicePass) // agent of main
	carol, _ := le.login("carol", carolPass) // agent of every lot
	first := le.park("call-0", "main", 200)

	streams := map[string]*stream{
		"alice": le.open("/api/events", "", alice, nil),
		"carol": le.open("/api/events", "", carol, nil),
		"bob":   le.open("/api/events", superTok, nil, nil),
	}
	sales := le.park("call-s", "sales", 301)
	le.hub.Light(parking.Lamp{Lot: "sales", Slot: 301, State: parking.LampParked})
	main := le.park("call-m", "main", 202)
	le.hub.Light(parking.Lamp{Lot: "main", Slot: 202, State: parking.LampParked})

	for _, who := range []string{"carol", "bob"} {
		s := streams[who]
		le.wantRow(s.next(), sales)
		if e := s.next(); e.Event != "slot" || !strings.Contains(e.Data, `"lot":"sales"`) {
			t.Fatalf("%s: %+v", who, e)
		}
		le.wantRow(s.next(), main)
		if e := s.next(); e.Event != "slot" || !strings.Contains(e.Data, `"lot":"main"`) {
			t.Fatalf("%s: %+v", who, e)
		}
	}
	s := streams["alice"]
	le.wantRow(s.next(), main)
	if e := s.next(); e.Event != "slot" || !strings.Contains(e.Data, `"lot":"main"`) {
		t.Fatalf("alice: %+v", e)
	}

	// The replay too: alice resuming after the first row gets main's only,
	// and her stream goes on after the sales row she never saw.
	s = le.open("/api/events", "", alice, map[string]string{"Last-Event-ID": strconv.FormatInt(first, 10)})
	le.wantRow(s.next(), main)
	le.park("call-s2", "sales", 302)
	main2 := le.park("call-m2", "main", 203)
	le.wantRow(s.next(), main2)
}

// blockedWriter is a ResponseWriter whose writes wait until released: a
// client that reads nothing.
type blockedWriter struct {
	h       http.Header
	blocked chan struct{} // closed at the first write
	release chan struct{}
	once    sync.Once
}

func (b *blockedWriter) Header() http.Header { return b.h }
func (b *blockedWriter) WriteHeader(int)     {}
func (b *blockedWriter) Flush()              {}
func (b *blockedWriter) Write(p []byte) (int, error) {
	b.once.Do(func() { close(b.blocked) })
	<-b.release
	return len(p), nil
}

// Ensure a client that falls behind is cut off, logged and counted, and
// that the store's writer never waits for it.
func TestEvents_SlowClient(t *testing.T) {
	const buffer = 4
	le := newLiveEnv(t, buffer)
	fast := le.open("/api/events", superTok, nil, nil)

	w := &blockedWriter{h: http.Header{}, blocked: make(chan struct{}), release: make(chan struct{})}
	req := httptest.NewRequest(http.MethodGet, "/api/events", nil)
	req.Header.Set("Authorization", "Bearer "+superTok)
	done := make(chan struct{})
	go func() {
		defer close(done)
		le.srv.ServeHTTP(w, req)
	}()
	<-w.blocked // subscribed, and stuck writing the retry line

	// Each Record returns while the slow client reads nothing: the hub
	// never makes the writer wait. Parks go on until the slow client's
	// buffer of deliveries overflows (a delivery may carry several rows).
	var ids []int64
	for i := 0; le.hub.Dropped() == 0; i++ {
		if i == 20*buffer {
			t.Fatalf("the slow client was not cut off after %d parks", i)
		}
		ids = append(ids, le.park(fmt.Sprintf("call-%d", i), "main", 201+i))
		time.Sleep(time.Millisecond) // most parks in a delivery of their own
	}
	if n := le.hub.Dropped(); n != 1 {
		t.Fatalf("%d clients dropped, want 1", n)
	}
	close(w.release)
	<-done // the slow stream ended
	if !strings.Contains(le.logs.String(), "fell behind") {
		t.Fatalf("the cut-off was not logged: %s", le.logs)
	}
	for _, id := range ids { // the client that keeps up got everything
		le.wantRow(fast.next(), id)
	}
	if n := le.hub.clientCount(); n != 1 {
		t.Fatalf("%d clients subscribed, want the fast one", n)
	}
}

// Ensure closing the Hub ends every stream and refuses new ones.
func TestEvents_Close(t *testing.T) {
	le := newLiveEnv(t, 0)
	streams := []*stream{le.open("/api/events", superTok, nil, nil), le.open("/api/events", agentTok, nil, nil)}
	le.hub.Close()
	for i, s := range streams {
		if !s.ended() {
			t.Fatalf("stream %d still open after Close", i)
		}
	}
	if w := le.get("/api/events", superTok, nil); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("a stream after Close: %d", w.Code)
	}
	le.park("call-1", "main", 201) // publishing to a closed hub is harmless
}

// Ensure a history row's event is its MarshalJSON with the id in front, on
// one line.
func TestTransitionFrame(t *testing.T) {
	row := store.HistoryRow{ID: 42, At: t0, Event: parking.EventParked, Lot: "main", Slot: 202, Call: "c",
		Caller: parking.Caller{Name: "Line\nBreak", Number: "1"}, Wait: 1500 * time.Millisecond}
	f, err := transitionFrame(row)
	if err != nil {
		t.Fatal(err)
	}
	head, data, ok := strings.Cut(string(f.data), "data: ")
	if !ok || head != "id: 42\nevent: transition\n" || !strings.HasSuffix(data, "}\n\n") || strings.Count(data, "\n") != 2 {
		t.Fatalf("frame %q", f.data)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(data), &got); err != nil {
		t.Fatal(err)
	}
	if got["id"] != float64(42) || got["caller_name"] != "Line\nBreak" || got["wait_ms"] != float64(1500) || got["event"] != "parked" {
		t.Fatalf("data %v", got)
	}
}
