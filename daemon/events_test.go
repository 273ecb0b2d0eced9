package daemon

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/passhash"
	"github.com/parkd/parkd/store"
)

// eventsHarness boots parkd with two lots (main 201-220, sales 301-310),
// [http] on with the supervisor "desk", the agent "front" who sees main
// only, and the token "wallboard" (an agent of every lot); blf turns [blf]
// on too.
func eventsHarness(t *testing.T, blf bool) *harness {
	t.Helper()
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	cfg := startConfig(t, sim, lot("main", "201-220", nil), lot("sales", "301-310", func(l *conf.Lot) {
		l.ParkCode, l.RetrieveCode = "*72", "*73"
	}))
	pw, err := passhash.Hash(webPass)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := passhash.Hash(webToken)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP = conf.HTTP{
		Listen: "127.0.0.1:0",
		Users: []conf.HTTPUser{
			{Name: "desk", PasswordHash: pw, Role: conf.RoleSupervisor, Extension: "1000"},
			{Name: "front", PasswordHash: pw, Role: conf.RoleAgent, Lots: []string{"main"}},
		},
		Tokens: []conf.HTTPToken{{Name: "wallboard", Hash: tok, Role: conf.RoleAgent}},
	}
	cfg.BLF.Enabled = blf
	h := &harness{t: t, sim: sim, cfg: cfg}
	h.boot()
	return h
}

// sseEvent is one event of /api/events.
type sseEvent struct {
	ID, Event, Data string
}

type sseStream struct {
	t    *testing.T
	body interface{ Close() error }
	r    *bufio.Reader
}

// events opens /api/events on h's listener with c (nil: the token) and
// lastID ("" none), and reads up to the retry line.
func (h *harness) events(c *http.Client, lastID string) *sseStream {
	h.t.Helper()
	// The timeout only keeps a broken test from hanging.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	h.t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+h.m.HTTPAddr()+"/api/events", nil)
	if c == nil {
		c = http.DefaultClient
		req.Header.Set("Authorization", "Bearer "+webToken)
	}
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := c.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("GET /api/events: %s", resp.Status)
	}
	s := &sseStream{t: h.t, body: resp.Body, r: bufio.NewReader(resp.Body)}
	if l, _ := s.r.ReadString('\n'); l != "retry: 2000\n" {
		h.t.Fatalf("first line %q", l)
	}
	s.r.ReadString('\n')
	return s
}

// next reads the next event, skipping keepalive comments.
func (s *sseStream) next() sseEvent {
	s.t.Helper()
	var e sseEvent
	for {
		l, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("stream ended: %v", err)
		}
		l = strings.TrimSuffix(l, "\n")
		k, v, _ := strings.Cut(l, ": ")
		switch {
		case l == "" && e.Event != "":
			return e
		case k == "id":
			e.ID = v
		case k == "event":
			e.Event = v
		case k == "data":
			e.Data = v
		}
	}
}

// upTo reads events until the transition of the history row id (slot and
// note events included), and returns them.
func (s *sseStream) upTo(id int64) []sseEvent {
	s.t.Helper()
	var out []sseEvent
	for {
		e := s.next()
		out = append(out, e)
		if e.Event == "transition" && e.ID == strconv.FormatInt(id, 10) {
			return out
		}
	}
}

// rowEvent is a transition event's data.
type rowEvent struct {
	ID         int64  `json:"id"`
	Event      string `json:"event"`
	Lot        string `json:"lot"`
	Slot       int    `json:"slot"`
	Call       string `json:"call"`
	CallerName string `json:"caller_name"`
}

func decodeData[T any](t *testing.T, e sseEvent) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(e.Data), &v); err != nil {
		t.Fatalf("%s data %q: %v", e.Event, e.Data, err)
	}
	return v
}

func (h *harness) rows(after int64) []store.HistoryRow {
	h.t.Helper()
	rows, err := h.m.DB.History(context.Background(), store.HistoryFilter{AfterID: after})
	if err != nil {
		h.t.Fatal(err)
	}
	return rows
}

// Ensure a park through the simulator reaches a stream as its transition
// and its slot's lamp, a hang-up as the abandon and the slot freed, and
// that a client reconnecting with Last-Event-ID gets exactly the rows it
// missed. Run with [blf] on as well: the phones' lamps and the stream
// both get the changes.
func TestE2E_Events(t *testing.T) {
	for _, blf := range []bool{false, true} {
		t.Run("blf="+strconv.FormatBool(blf), func(t *testing.T) {
			h := eventsHarness(t, blf)
			s := h.events(nil, "")
			jane := h.park("202", caller("Jane Roe", "+15550100"))
			park := h.lastRow(jane.UUID())
			var lit bool
			for _, e := range s.upTo(park.ID) {
				switch e.Event {
				case "slot":
					se := decodeData[struct {
						Lot        string `json:"lot"`
						Slot       int    `json:"slot"`
						State      string `json:"state"`
						CallerName string `json:"caller_name"`
					}](t, e)
					lit = lit || se.Lot == "main" && se.Slot == 202 && se.State == "parked" && se.CallerName == "Jane Roe"
				case "transition":
					r := decodeData[rowEvent](t, e)
					if r.ID != park.ID || r.Event != "parked" || r.Call != jane.UUID() || r.Lot != "main" || r.Slot != 202 || r.CallerName != "Jane Roe" {
						t.Fatalf("transition %+v, want row %+v", r, park)
					}
				}
			}
			if !lit {
				// The lamp lights under the service's lock at the park,
				// before the row's commit is told.
				t.Fatal("no slot event lit 202 before the park's transition")
			}
			if blf {
				h.lamp("park+202@127.0.0.1", lampIs("confirmed", "Parked: Jane Roe +15550100"))
			}

			// Missed while disconnected: a second park and the first
			// caller hanging up.
			s.body.Close()
			john := h.park("203", caller("John Doe", "5550111"))
			jane.Hangup("NORMAL_CLEARING")
			h.eventually("the abandon recorded", func() bool { return h.lastRow(jane.UUID()).ID > park.ID })
			missed := h.rows(park.ID)
			s = h.events(nil, strconv.FormatInt(park.ID, 10))
			for _, want := range missed {
				e := s.next()
				if r := decodeData[rowEvent](t, e); e.Event != "transition" || e.ID != strconv.FormatInt(want.ID, 10) || r.ID != want.ID || r.Call != string(want.Call) {
					t.Fatalf("replayed %+v, want row %+v", e, want)
				}
			}
			// Then live, with no row twice: John's recall-free hang-up.
			john.Hangup("NORMAL_CLEARING")
			h.eventually("John's abandon recorded", func() bool { return h.lastRow(john.UUID()).ID > missed[len(missed)-1].ID })
			end := h.lastRow(john.UUID())
			var freed bool
			for _, e := range s.upTo(end.ID) {
				if e.Event == "transition" && e.ID != strconv.FormatInt(end.ID, 10) {
					t.Fatalf("a row before John's end: %+v", e)
				}
				freed = freed || e.Event == "slot" && strings.Contains(e.Data, `"slot":203,"state":"free"`)
			}
			if !freed {
				t.Fatal("no slot event freed 203")
			}
		})
	}
}

// Ensure an agent's stream holds only the lots the agent sees: "front"
// (main only) never gets the sales park that the token's stream gets.
func TestE2E_EventsLotFilter(t *testing.T) {
	h := eventsHarness(t, false)
	jar, _ := cookiejar.New(nil)
	front := &http.Client{Jar: jar}
	resp, err := front.PostForm("http://"+h.m.HTTPAddr()+"/login", url.Values{"name": {"front"}, "password": {webPass}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	fs, all := h.events(front, ""), h.events(nil, "")

	sales := h.call("park", "sales", "301", transferredBy("1000"))
	h.waitFor(sales, "parked in sales", parked)
	salesRow := h.lastRow(sales.UUID())
	main := h.park("202")
	mainRow := h.lastRow(main.UUID())

	sawSales := false
	for _, e := range all.upTo(mainRow.ID) {
		sawSales = sawSales || e.ID == strconv.FormatInt(salesRow.ID, 10)
	}
	if !sawSales {
		t.Fatal("the token's stream missed the sales park")
	}
	for _, e := range fs.upTo(mainRow.ID) {
		if strings.Contains(e.Data, `"lot":"sales"`) {
			t.Fatalf("front saw a sales event: %+v", e)
		}
	}
}

// Ensure stopping the daemon ends every stream: Close does not wait out its
// timeout for them (it would fail with the HTTP server's deadline).
func TestE2E_EventsShutdown(t *testing.T) {
	h := eventsHarness(t, false)
	streams := []*sseStream{h.events(nil, ""), h.events(nil, "")}
	h.m.ShutdownTimeout = time.Minute // a stream left open would show as a stuck test
	h.stop()
	for i, s := range streams {
		if _, err := s.r.ReadString('\n'); err == nil {
			t.Fatalf("stream %d still open after Close", i)
		}
	}
}

// Ensure a daemon halted for a lost lease ends the board's live streams
// (and its Hub, with the writer thread): a board then reconnects to the
// parkd that has the lease instead of hearing keepalives from one that no
// longer acts. Halt closes the HTTP server without its shutdown hooks,
// where the Hub used to be closed.
func TestE2E_EventsHalt(t *testing.T) {
	h := eventsHarness(t, false)
	streams := []*sseStream{h.events(nil, ""), h.events(nil, "")}
	h.m.Halt()
	for i, s := range streams {
		// A stream left open gets keepalives until the request's
		// one-minute timeout ends it: that error is not the server's
		// close, and fails.
		for {
			l, err := s.r.ReadString('\n')
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break // the server closed it
			}
			if err != nil {
				t.Fatalf("stream %d: %v, not closed by the server after Halt", i, err)
			}
			if !strings.HasPrefix(l, ":") && l != "\n" {
				t.Fatalf("stream %d: %q after Halt", i, l)
			}
		}
	}
}
