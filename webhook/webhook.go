// Package webhook delivers parkd's events to the configured webhooks. The
// store queues every history row a webhook wants in its outbox, in the
// transaction that appends the row; a Worker per webhook POSTs the queued
// events, oldest first per call, signed with the webhook's secret, and
// retries a failed delivery with capped, jittered exponential backoff until
// the event is older than the webhook's max age, when it is dropped.
//
// Delivery is at least once: a receiver dedupes on the event's id (the
// "id" key and the X-Parkd-Delivery header), which is the same on every
// attempt.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/parkd/parkd/store"
)

// Headers of every delivery.
const (
	// HeaderEvent is the event's name, such as "parked".
	HeaderEvent = "X-Parkd-Event"
	// HeaderDelivery is the event's id, the history row's, the same on
	// every attempt: receivers dedupe on it.
	HeaderDelivery = "X-Parkd-Delivery"
	// HeaderTimestamp is when the attempt was signed, in Unix seconds.
	HeaderTimestamp = "X-Parkd-Timestamp"
	// HeaderSignature is "sha256=" and the hex HMAC-SHA256, keyed with the
	// webhook's secret, of the timestamp, a dot and the body.
	HeaderSignature = "X-Parkd-Signature"
)

// Defaults of a Worker's zero fields.
const (
	DefaultTimeout    = 10 * time.Second
	DefaultMaxAge     = 24 * time.Hour
	DefaultMinBackoff = time.Second
	DefaultMaxBackoff = 10 * time.Minute
	// batch is how many due deliveries a Worker reads at once.
	batch = 64
	// maxRedirects a delivery follows, each to the webhook's own host.
	maxRedirects = 3
)

// Store is the part of store.DB a Worker uses.
type Store interface {
	DueDeliveries(ctx context.Context, webhook string, now time.Time, limit int) ([]store.Delivery, error)
	NextDelivery(ctx context.Context, webhook string) (time.Time, bool, error)
	DeliveryDone(ctx context.Context, id int64) error
	DeliveryFailed(ctx context.Context, id int64, next time.Time, msg string) error
}

// Worker delivers one webhook's queued events. Set its fields, then call
// Run; Wake tells it new events are queued (the daemon calls it from
// store.DB.OnCommit).
type Worker struct {
	// Name is the webhook's (conf.Webhook.ID), its rows' in the outbox.
	Name string
	// URL is where events are POSTed. Logs show it without its query.
	URL string
	// Secret keys the signature. It is never logged.
	Secret string
	// Timeout bounds each POST. Default DefaultTimeout.
	Timeout time.Duration
	// MaxAge is how long after the event it is retried before it is
	// dropped. Default DefaultMaxAge.
	MaxAge time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failure, doubled
	// with every attempt. Defaults DefaultMinBackoff, DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration

	Store  Store
	Logger zerolog.Logger
	// Client sends the deliveries; nil: NewClient(URL).
	Client *http.Client
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Rand returns a number in [0, 1) for the backoff's jitter; nil:
	// math/rand/v2.Float64.
	Rand func() float64

	once                       sync.Once
	wake                       chan struct{}
	log                        zerolog.Logger
	holdUntil                  time.Time // no attempt before: the last one failed
	delivered, failed, dropped atomic.Int64
}

// Wake tells w that events are queued. It never blocks.
func (w *Worker) Wake() {
	select {
	case w.wakeChan() <- struct{}{}:
	default:
	}
}

// wakeChan is the wake-up channel, made by Run or the first Wake.
func (w *Worker) wakeChan() chan struct{} {
	w.once.Do(func() { w.wake = make(chan struct{}, 1) })
	return w.wake
}

// Delivered, Failed and Dropped count the deliveries that succeeded, the
// attempts that failed, and the events dropped after MaxAge.
func (w *Worker) Delivered() int64 { return w.delivered.Load() }

// Failed counts failed attempts; see Delivered.
func (w *Worker) Failed() int64 { return w.failed.Load() }

// Dropped counts events given up after MaxAge; see Delivered.
func (w *Worker) Dropped() int64 { return w.dropped.Load() }

// NewClient returns the client a Worker posts with when it has none: it
// follows at most three redirects and only to the host of target, so a
// redirect cannot send the signed events elsewhere. Each POST is bounded
// by the Worker's Timeout through its context.
func NewClient(target string) *http.Client {
	host := ""
	if u, err := url.Parse(target); err == nil {
		host = u.Host
	}
	return &http.Client{
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != host || len(via) >= maxRedirects {
				return http.ErrUseLastResponse // a 3xx, not a 2xx: retried
			}
			return nil
		},
	}
}

// Run delivers what is due, then waits for the next due delivery or a
// Wake, until ctx is done. Store errors are logged and retried.
func (w *Worker) Run(ctx context.Context) error {
	w.defaults()
	wake := w.wakeChan()
	w.log = w.Logger.With().Str("webhook", w.Name).Str("url", redactURL(w.URL)).Logger()
	storeBackoff := w.MinBackoff
	for {
		wait, err := w.deliverDue(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			w.log.Error().Err(err).Dur("retry_in", storeBackoff).Msg("webhook outbox unavailable")
			wait, storeBackoff = storeBackoff, min(2*storeBackoff, w.MaxBackoff)
		default:
			storeBackoff = w.MinBackoff
		}
		if !w.sleep(ctx, wake, wait) {
			return nil
		}
	}
}

// sleep waits for wait (forever if negative), a wake-up or the end of ctx;
// it reports false for the end of ctx.
func (w *Worker) sleep(ctx context.Context, wake <-chan struct{}, wait time.Duration) bool {
	var timer <-chan time.Time
	if wait >= 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timer = t.C
	}
	select {
	case <-ctx.Done():
		return false
	case <-wake:
	case <-timer:
	}
	return true
}

// defaults fills in the zero fields.
func (w *Worker) defaults() {
	if w.Timeout <= 0 {
		w.Timeout = DefaultTimeout
	}
	if w.MaxAge <= 0 {
		w.MaxAge = DefaultMaxAge
	}
	if w.MinBackoff <= 0 {
		w.MinBackoff = DefaultMinBackoff
	}
	if w.MaxBackoff < w.MinBackoff {
		w.MaxBackoff = max(DefaultMaxBackoff, w.MinBackoff)
	}
	if w.Client == nil {
		w.Client = NewClient(w.URL)
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.Rand == nil {
		w.Rand = rand.Float64
	}
}

// deliverDue sends every due delivery and returns how long until the next
// is due, -1 when none is queued.
//
// A failed attempt ends the round: the receiver is likely down, and trying
// every other call's event now would cost a timeout each. The next round
// starts when the failed event is due again, with the deliveries due
// longest first, so one event the receiver keeps refusing does not hold
// back the others.
func (w *Worker) deliverDue(ctx context.Context) (time.Duration, error) {
	if hold := w.holdUntil.Sub(w.Now()); hold > 0 {
		return hold, nil
	}
	for ctx.Err() == nil {
		ds, err := w.Store.DueDeliveries(ctx, w.Name, w.Now(), batch)
		if err != nil {
			return 0, err
		}
		if len(ds) == 0 {
			break
		}
		for _, d := range ds {
			retryAt, err := w.deliver(ctx, d)
			if err != nil {
				return 0, err
			}
			if !retryAt.IsZero() {
				w.holdUntil = retryAt
				return max(retryAt.Sub(w.Now()), 0), nil
			}
		}
	}
	next, ok, err := w.Store.NextDelivery(ctx, w.Name)
	if err != nil || !ok {
		return -1, err
	}
	// Stored times have millisecond precision: wait past the instant.
	return max(next.Sub(w.Now())+time.Millisecond, time.Millisecond), nil
}

// deliver makes one attempt at d and records its outcome. It returns when
// d is to be tried again if the attempt failed (zero if it was delivered
// or dropped), and only the store's errors.
func (w *Worker) deliver(ctx context.Context, d store.Delivery) (retryAt time.Time, _ error) {
	body, event, err := Body(d.HistoryID, w.Name, d.Payload)
	if err != nil { // cannot happen with rows the store wrote; never retry it
		w.log.Error().Err(err).Int64("id", d.HistoryID).Msg("webhook event dropped: bad payload")
		w.dropped.Add(1)
		return time.Time{}, w.Store.DeliveryDone(ctx, d.ID)
	}
	status, err := w.post(ctx, d.HistoryID, event, body)
	if ctx.Err() != nil {
		return time.Time{}, nil // shutting down: the row stays queued for the next start
	}
	log := w.log.With().Int64("id", d.HistoryID).Str("event", event).Str("call", string(d.Call)).Int("attempt", d.Attempts+1).Logger()
	if err == nil {
		w.delivered.Add(1)
		log.Debug().Int("status", status).Msg("webhook delivered")
		return time.Time{}, w.Store.DeliveryDone(ctx, d.ID)
	}
	w.failed.Add(1)
	now := w.Now()
	next := now.Add(w.backoff(d.Attempts + 1))
	if next.Sub(d.CreatedAt) > w.MaxAge {
		w.dropped.Add(1)
		log.Error().Err(err).Dur("max_age", w.MaxAge).Msg("webhook event dropped: not delivered within max_age")
		return now.Add(w.backoff(1)), w.Store.DeliveryDone(ctx, d.ID)
	}
	log.Warn().Err(err).Time("retry_at", next.UTC()).Msg("webhook delivery failed; retrying")
	return next, w.Store.DeliveryFailed(ctx, d.ID, next, err.Error())
}

// backoff is the wait after the attempt-th failure: MinBackoff doubled per
// earlier failure, capped at MaxBackoff, less up to a quarter at random so
// that webhooks failing together do not retry together.
func (w *Worker) backoff(attempt int) time.Duration {
	d := w.MinBackoff
	for i := 1; i < attempt && d < w.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, w.MaxBackoff)
	return d - time.Duration(w.Rand()*float64(d/4))
}

// post sends one attempt, signed now. It returns the response's status,
// and an error unless it is 2xx; the error never holds the secret or the
// URL's query.
func (w *Worker) post(ctx context.Context, id int64, event string, body []byte) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, w.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		return 0, errors.New("bad URL")
	}
	ts := strconv.FormatInt(w.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "parkd-webhook")
	req.Header.Set(HeaderEvent, event)
	req.Header.Set(HeaderDelivery, strconv.FormatInt(id, 10))
	req.Header.Set(HeaderTimestamp, ts)
	req.Header.Set(HeaderSignature, Sign(w.Secret, ts, body))
	resp, err := w.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the URL, whose query may hold a token
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return 0, fmt.Errorf("no answer within %s", w.Timeout)
		}
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("HTTP status %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// Sign returns the X-Parkd-Signature of body sent at ts (Unix seconds):
// "sha256=" and the hex HMAC-SHA256 of ts, ".", body keyed with secret.
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(ts))
	mac.Write([]byte("."))
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}

// Verify reports whether sig is the signature of body sent at ts, in
// constant time. Receivers written in Go can use it; they should also
// refuse a ts far from their clock, against replays.
func Verify(secret, ts string, body []byte, sig string) bool {
	return hmac.Equal([]byte(Sign(secret, ts, body)), []byte(sig))
}

// Body is the JSON POSTed for the history row payload (as
// store.HistoryRow.MarshalJSON renders it) with id, for webhook: the row's
// keys after "id" and "webhook". It also returns the event's name.
func Body(id int64, webhook string, payload []byte) (body []byte, event string, err error) {
	var row struct {
		Event string `json:"event"`
	}
	if err := json.Unmarshal(payload, &row); err != nil || len(payload) < 2 || payload[0] != '{' {
		return nil, "", fmt.Errorf("event %d: payload is not a JSON object", id)
	}
	name, _ := json.Marshal(webhook)
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"id":%d,"webhook":%s`, id, name)
	if rest := bytes.TrimSpace(payload[1:]); len(rest) > 0 && rest[0] != '}' {
		b.WriteByte(',')
	}
	b.Write(payload[1:])
	return b.Bytes(), row.Event, nil
}

// redactURL is the URL without user info, query or fragment, for logs.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}
