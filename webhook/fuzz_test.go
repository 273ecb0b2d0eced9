package webhook_test

import (
	"encoding/json"
	"testing"
	"unicode/utf8"

	"github.com/parkd/parkd/webhook"
)

// Ensure Body, whatever the payload, either refuses it or returns one JSON
// object whose id and webhook are the ones given and whose other keys are
// the payload's.
func FuzzBody(f *testing.F) {
	for _, s := range []string{`{}`, `{ }`, `{"event":"parked","slot":701}`, `[]`, ``, `{"id":7}`, " {}", `{"a":1}x`} {
		f.Add(int64(3), "crm", []byte(s))
	}
	f.Fuzz(func(t *testing.T, id int64, name string, payload []byte) {
		body, _, err := webhook.Body(id, name, payload)
		if err != nil {
			return
		}
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("Body(%q)=%s: not JSON: %v", payload, body, err)
		}
		var head struct {
			ID      int64  `json:"id"`
			Webhook string `json:"webhook"`
		}
		var p map[string]json.RawMessage
		_ = json.Unmarshal(payload, &p)
		if _, ok := p["id"]; ok {
			return // a payload's own id would win; the store never writes one
		}
		if err := json.Unmarshal(body, &head); err != nil || head.ID != id {
			t.Fatalf("Body(%d, %q)=%s: id %d, %v", id, payload, body, head.ID, err)
		}
		if _, ok := p["webhook"]; !ok && utf8.ValidString(name) && head.Webhook != name {
			t.Fatalf("Body(%q)=%s: webhook %q, want %q", payload, body, head.Webhook, name)
		}
	})
}
