package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
	"github.com/parkd/parkd/webhook"
)

const (
	secret  = "s3cret-s3cret-s3cret"
	hookURL = "https://receiver.example/hooks/parkd?token=tok-123"
)

// Receiver modes.
const (
	up      = iota // answers 204
	down           // answers 503
	slow           // never answers: the delivery times out
	refuseA        // answers 400 to the events of call "a", 204 to others
)

// receiver is a webhook endpoint that checks every delivery's signature
// and records those it accepts.
type receiver struct {
	t    *testing.T
	mu   sync.Mutex
	mode int
	got  []delivery // accepted, in arrival order
	seen int        // requests of any outcome
}

// delivery is one accepted POST.
type delivery struct {
	ID    int64
	Call  string
	Event string
	Body  map[string]any
}

func (rc *receiver) setMode(m int) {
	rc.mu.Lock()
	rc.mode = m
	rc.mu.Unlock()
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.t.Errorf("read body: %v", err)
		return
	}
	rc.mu.Lock()
	rc.seen++
	mode := rc.mode
	rc.mu.Unlock()
	switch mode {
	case down:
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	case slow:
		<-r.Context().Done()
		return
	}
	ts := r.Header.Get(webhook.HeaderTimestamp)
	if !webhook.Verify(secret, ts, body, r.Header.Get(webhook.HeaderSignature)) {
		rc.t.Errorf("signature %q of %s does not verify", r.Header.Get(webhook.HeaderSignature), body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		rc.t.Errorf("body %s: %v", body, err)
	}
	id, _ := strconv.ParseInt(r.Header.Get(webhook.HeaderDelivery), 10, 64)
	if got, _ := m["id"].(float64); int64(got) != id || id == 0 {
		rc.t.Errorf("body id %v, header %d", m["id"], id)
	}
	if m["event"] != r.Header.Get(webhook.HeaderEvent) {
		rc.t.Errorf("body event %v, header %q", m["event"], r.Header.Get(webhook.HeaderEvent))
	}
	if mode == refuseA && m["call"] == "a" {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	rc.mu.Lock()
	rc.got = append(rc.got, delivery{ID: id, Call: m["call"].(string), Event: m["event"].(string), Body: m})
	rc.mu.Unlock()
	w.WriteHeader(http.StatusNoContent)
}

// attempts counts the requests so far, of any outcome.
func (rc *receiver) attempts() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.seen
}

// accepted returns the deliveries accepted so far.
func (rc *receiver) accepted() []delivery {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.got)
}

// inProcess serves requests with a handler in the test's goroutines, so
// that the whole exchange runs inside a synctest bubble on its fake clock.
type inProcess struct{ h http.Handler }

func (p inProcess) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		p.h.ServeHTTP(rec, req)
	}()
	select {
	case <-done:
		return rec.Result(), nil
	case <-req.Context().Done():
		<-done
		return nil, req.Context().Err()
	}
}

// openStore opens a database at path that queues every event for "h", and
// makes it w's store (when w is not nil), waking w on every commit.
func openStore(t *testing.T, path string, w *webhook.Worker) *store.DB {
	t.Helper()
	db := store.NewDB(path)
	db.Webhooks = []store.WebhookTarget{{Name: "h"}}
	if w != nil {
		db.OnCommit(func([]store.HistoryRow) { w.Wake() })
	}
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	if w != nil {
		w.Store = db
	}
	return db
}

// newWorker is the worker for "h" posting to rc through its handler.
func newWorker(rc http.Handler, logs io.Writer) *webhook.Worker {
	client := webhook.NewClient(hookURL)
	client.Transport = inProcess{rc}
	return &webhook.Worker{
		Name: "h", URL: hookURL, Secret: secret,
		Timeout: 5 * time.Second, MaxAge: time.Hour,
		MinBackoff: time.Second, MaxBackoff: time.Minute,
		Client: client, Logger: zerolog.New(logs),
		Rand: func() float64 { return 0.5 },
	}
}

// record writes transitions of calls a and b interleaved, now: a parks, b
// parks, a is retrieved, b is recalled and abandoned.
func record(t *testing.T, db *store.DB) {
	t.Helper()
	now := time.Now()
	park := func(call parking.CallID, slot int) parking.Transition {
		return parking.Transition{At: now, Event: parking.EventParked, Lot: "default", Slot: slot, Call: call,
			Occupancy: &parking.Occupant{Lot: "default", Slot: slot, Call: call, ParkedAt: now, Deadline: now.Add(time.Minute)}}
	}
	end := func(call parking.CallID, slot int, e parking.Event) parking.Transition {
		return parking.Transition{At: now, Event: e, Lot: "default", Slot: slot, Call: call}
	}
	for _, tr := range []parking.Transition{
		park("a", 701), park("b", 702), end("a", 701, parking.EventRetrieved), end("b", 702, parking.EventAbandoned),
	} {
		if err := db.Record(context.Background(), tr); err != nil {
			t.Fatal(err)
		}
	}
}

// checkAll fails unless every event of record arrived exactly once, each
// call's in order.
func checkAll(t *testing.T, got []delivery) {
	t.Helper()
	ids := map[int64]int{}
	perCall := map[string][]int64{}
	for _, d := range got {
		ids[d.ID]++
		perCall[d.Call] = append(perCall[d.Call], d.ID)
		if d.Body["webhook"] != "h" {
			t.Errorf("delivery %d: webhook %v, want h", d.ID, d.Body["webhook"])
		}
	}
	for id := int64(1); id <= 4; id++ {
		if ids[id] != 1 {
			t.Errorf("event %d arrived %d times, want once (all: %v)", id, ids[id], got)
		}
	}
	for call, seq := range perCall {
		if !slices.IsSorted(seq) {
			t.Errorf("call %s: events in order %v", call, seq)
		}
	}
}

// Ensure a receiver down for ten minutes, then too slow to answer, then
// back gets every event once, each call's in order, signed; and that the
// logs hold neither the secret nor the URL's token.
func TestWorker_Outage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{t: t, mode: down}
		var logs bytes.Buffer
		w := newWorker(rc, &logs)
		db := openStore(t, filepath.Join(t.TempDir(), "parkd.db"), w)
		defer db.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(ctx) }()

		record(t, db)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		if len(rc.accepted()) != 0 || w.Failed() == 0 {
			t.Fatalf("while down: accepted %d, failed %d", len(rc.accepted()), w.Failed())
		}
		rc.setMode(slow)
		time.Sleep(3 * time.Minute)
		synctest.Wait()
		rc.setMode(up)
		time.Sleep(2 * time.Minute) // past the capped backoff
		synctest.Wait()
		cancel()
		<-done

		checkAll(t, rc.accepted())
		if n, err := db.QueuedDeliveries(context.Background(), "h"); err != nil || n != 0 {
			t.Fatalf("queued=%d, %v; want none", n, err)
		}
		if w.Delivered() != 4 || w.Dropped() != 0 {
			t.Fatalf("delivered %d, dropped %d", w.Delivered(), w.Dropped())
		}
		for _, leak := range []string{secret, "tok-123"} {
			if strings.Contains(logs.String(), leak) {
				t.Fatalf("logs hold %q:\n%s", leak, logs.String())
			}
		}
		if !strings.Contains(logs.String(), "no answer within 5s") {
			t.Fatalf("logs do not tell the timeout:\n%s", logs.String())
		}
	})
}

// Ensure backoff doubles from MinBackoff up to MaxBackoff: a receiver
// down for ten minutes is tried about log2(60)+10 times, not every second.
func TestWorker_Backoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{t: t, mode: down}
		w := newWorker(rc, io.Discard)
		db := openStore(t, filepath.Join(t.TempDir(), "parkd.db"), w)
		defer db.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(ctx) }()
		if err := db.Record(ctx, parking.Transition{At: time.Now(), Event: parking.EventRejected, Lot: "default", Call: "x"}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		cancel()
		<-done
		// Waits of 0.875 1.75 3.5 7 14 28 then 52.5 (a minute less the
		// jitter): 7 attempts in the first minute, then one a 52.5 s.
		if got := rc.attempts(); got < 15 || got > 20 {
			t.Fatalf("attempts in ten minutes: %d, want about 17", got)
		}
	})
}

// Ensure an event not delivered within max_age is dropped, counted and
// logged, and the queue is left empty.
func TestWorker_MaxAge(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{t: t, mode: down}
		var logs bytes.Buffer
		w := newWorker(rc, &logs)
		w.MaxAge = 10 * time.Minute
		db := openStore(t, filepath.Join(t.TempDir(), "parkd.db"), w)
		defer db.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(ctx) }()
		record(t, db)
		time.Sleep(11 * time.Minute)
		synctest.Wait()
		cancel()
		<-done
		if w.Dropped() != 4 {
			t.Fatalf("dropped %d, want 4", w.Dropped())
		}
		if n, _ := db.QueuedDeliveries(context.Background(), "h"); n != 0 {
			t.Fatalf("queued=%d, want none", n)
		}
		if !strings.Contains(logs.String(), "not delivered within max_age") {
			t.Fatalf("no drop logged:\n%s", logs.String())
		}
	})
}

// Ensure events queued while no worker ran (parkd stopped, or the
// receiver down when it stopped) are delivered once the store and a worker
// start again.
func TestWorker_Restart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "parkd.db")
		rc := &receiver{t: t, mode: down}

		// First run: two events go out while the receiver is down.
		w := newWorker(rc, io.Discard)
		db := openStore(t, path, w)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(ctx) }()
		record(t, db)
		time.Sleep(time.Minute)
		synctest.Wait()
		cancel()
		<-done
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}

		// Second run, the receiver back.
		rc.setMode(up)
		w = newWorker(rc, io.Discard)
		db = openStore(t, path, w)
		defer db.Close()
		ctx, cancel = context.WithCancel(context.Background())
		done = make(chan struct{})
		go func() { defer close(done); _ = w.Run(ctx) }()
		time.Sleep(2 * time.Minute) // the retries keep their times: past the capped backoff
		synctest.Wait()
		cancel()
		<-done
		checkAll(t, rc.accepted())
	})
}

// Ensure deliveries go to a real HTTP server, signed, and that a redirect
// to another host is not followed (the event stays queued).
func TestWorker_HTTPServer(t *testing.T) {
	got := make(chan *http.Request, 1)
	var gotBody []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotBody, _ = io.ReadAll(r.Body)
		got <- r
	}))
	defer srv.Close()
	db := store.NewDB(filepath.Join(t.TempDir(), "parkd.db"))
	db.Webhooks = []store.WebhookTarget{{Name: "h"}}
	if err := db.Open(); err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Record(context.Background(), parking.Transition{At: time.Now(), Event: parking.EventRejected, Lot: "default", Call: "x"}); err != nil {
		t.Fatal(err)
	}
	w := &webhook.Worker{Name: "h", URL: srv.URL + "/in", Secret: secret, Store: db, Logger: zerolog.Nop()}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(ctx) }()
	r := <-got
	cancel()
	<-done
	if r.URL.Path != "/in" || r.Method != http.MethodPost || r.Header.Get(webhook.HeaderEvent) != "rejected" {
		t.Fatalf("request %s %s event %q", r.Method, r.URL.Path, r.Header.Get(webhook.HeaderEvent))
	}
	if !webhook.Verify(secret, r.Header.Get(webhook.HeaderTimestamp), gotBody, r.Header.Get(webhook.HeaderSignature)) {
		t.Fatalf("signature does not verify")
	}
}

// Ensure a redirect to another host is not followed.
func TestNewClient_Redirect(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("redirect followed to another host")
	}))
	defer other.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/steal", http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	resp, err := webhook.NewClient(srv.URL).Post(srv.URL, "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("status %d, want the redirect itself", resp.StatusCode)
	}
}

// Ensure the body is the history row's JSON after "id" and "webhook", and
// the signature is the documented HMAC.
func TestBodyAndSign(t *testing.T) {
	body, event, err := webhook.Body(42, "crm", []byte(`{"at":"2025-03-04T09:11:12.345Z","event":"parked"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"id":42,"webhook":"crm","at":"2025-03-04T09:11:12.345Z","event":"parked"}`; string(body) != want || event != "parked" {
		t.Fatalf("Body=%s, %q; want %s", body, event, want)
	}
	// echo -n '1700000000.{}' | openssl dgst -sha256 -hmac key
	if got, want := webhook.Sign("key", "1700000000", []byte("{}")), "sha256=9d713ed406bb7076d4123f0dc2c39d2df5c654ed4b0cd56b52c8b4c940bd63ae"; got != want {
		t.Fatalf("Sign=%s, want %s", got, want)
	}
	if !webhook.Verify("key", "1", []byte("b"), webhook.Sign("key", "1", []byte("b"))) || webhook.Verify("key", "2", []byte("b"), webhook.Sign("key", "1", []byte("b"))) {
		t.Fatal("Verify does not follow Sign")
	}
	if _, _, err := webhook.Body(1, "h", []byte(`[1]`)); err == nil {
		t.Fatal("Body took a JSON array")
	}
}

// Ensure one event the receiver keeps refusing holds back only its own
// call's later events, not other calls'.
func TestWorker_OneRefusedEvent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{t: t, mode: refuseA}
		w := newWorker(rc, io.Discard)
		db := openStore(t, filepath.Join(t.TempDir(), "parkd.db"), w)
		defer db.Close()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(ctx) }()
		record(t, db)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		cancel()
		<-done
		var ids []int64
		for _, d := range rc.accepted() {
			ids = append(ids, d.ID)
		}
		if !slices.Equal(ids, []int64{2, 4}) {
			t.Fatalf("accepted %v, want b's events [2 4]", ids)
		}
		if n, _ := db.QueuedDeliveries(context.Background(), "h"); n != 2 {
			t.Fatalf("queued %d, want a's two events", n)
		}
	})
}

// Ensure a receiver that is down costs one attempt per retry, not one per
// call with events queued.
func TestWorker_DownOneAttemptPerRound(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{t: t, mode: down}
		w := newWorker(rc, io.Discard)
		db := openStore(t, filepath.Join(t.TempDir(), "parkd.db"), w)
		defer db.Close()
		now := time.Now()
		var ts []parking.Transition
		for i := range 20 {
			ts = append(ts, parking.Transition{At: now, Event: parking.EventRejected, Lot: "default", Call: parking.CallID(fmt.Sprint("c", i))})
		}
		if _, err := db.RecordAll(context.Background(), ts); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = w.Run(ctx) }()
		synctest.Wait()
		if rc.attempts() != 1 {
			t.Fatalf("first round: %d attempts, want 1", rc.attempts())
		}
		rc.setMode(up)
		time.Sleep(time.Second)
		synctest.Wait()
		cancel()
		<-done
		if got := len(rc.accepted()); got != 20 {
			t.Fatalf("accepted %d, want 20 once the receiver is back", got)
		}
	})
}
