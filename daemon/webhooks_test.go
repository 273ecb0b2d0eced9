package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/webhook"
)

const hookSecret = "crm-webhook-secret-0123"

// hookReceiver answers 503 while down and records the signed deliveries
// it accepts.
type hookReceiver struct {
	t     *testing.T
	down  atomic.Bool
	tried chan struct{}       // an attempt was refused
	got   chan map[string]any // accepted deliveries
}

func (rc *hookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if rc.down.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		select {
		case rc.tried <- struct{}{}:
		default:
		}
		return
	}
	if !webhook.Verify(hookSecret, r.Header.Get(webhook.HeaderTimestamp), body, r.Header.Get(webhook.HeaderSignature)) {
		rc.t.Errorf("delivery %s: signature does not verify", body)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		rc.t.Errorf("delivery %s: %v", body, err)
	}
	rc.got <- m
}

// bootHooks starts parkd on h's config, retrying failed deliveries fast.
func (h *harness) bootHooks() {
	h.t.Helper()
	h.bootWith(func(m *Main) { m.WebhookBackoff = 10 * time.Millisecond })
}

// Ensure a call parked while the webhook's receiver is down, with parkd
// stopped before the receiver came back, is delivered by the next parkd:
// signed, with the history row's id, once.
func TestWebhooks_DeliveredAfterRestart(t *testing.T) {
	rc := &hookReceiver{t: t, tried: make(chan struct{}, 1), got: make(chan map[string]any, 16)}
	rc.down.Store(true)
	srv := httptest.NewServer(rc)
	defer srv.Close()

	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	cfg := startConfig(t, sim)
	cfg.Webhooks = []conf.Webhook{{Name: "crm", URL: srv.URL + "/hook?token=abc", Secret: hookSecret,
		Timeout: 5 * time.Second, MaxAge: time.Hour}}
	h := &harness{t: t, sim: sim, cfg: cfg}
	h.bootHooks()
	h.park("201")
	select {
	case <-rc.tried:
	case <-time.After(wait5s):
		t.Fatal("no delivery attempted")
	}
	h.stop()

	rc.down.Store(false)
	h.bootHooks()
	var first map[string]any
	select {
	case first = <-rc.got:
	case <-time.After(wait5s):
		t.Fatal("nothing delivered after the restart")
	}
	if first["id"] != float64(1) || first["event"] != "parked" || first["webhook"] != "crm" || first["slot"] != float64(201) {
		t.Fatalf("first delivery %v, want the park, id 1", first)
	}
	h.eventually("the outbox emptied", func() bool {
		n, err := h.m.DB.QueuedDeliveries(context.Background(), "crm")
		return err == nil && n == 0
	})
	for len(rc.got) > 0 {
		if d := <-rc.got; d["id"] == float64(1) {
			t.Fatalf("event 1 delivered twice")
		}
	}
}
