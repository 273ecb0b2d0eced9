package web

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
)

// fakeActions answers every action with err, and finds call-main.
type fakeActions struct {
	err error
}

func (f *fakeActions) Occupant(call parking.CallID) (parking.Occupant, error) {
	if call != "call-main" {
		return parking.Occupant{}, parking.ErrNoCall
	}
	return parking.Occupant{Lot: "main", Slot: 202, Call: call}, nil
}

func (f *fakeActions) Pickup(context.Context, parking.PickupRequest) (parking.Occupant, error) {
	return parking.Occupant{}, f.err
}

func (f *fakeActions) Move(context.Context, parking.CallID, string, int, string) (parking.Occupant, error) {
	return parking.Occupant{}, f.err
}

func (f *fakeActions) Extend(context.Context, parking.CallID, time.Duration, string) (parking.Occupant, error) {
	return parking.Occupant{}, f.err
}

func (f *fakeActions) HangUpParked(context.Context, parking.CallID, string) (parking.Occupant, error) {
	return parking.Occupant{}, f.err
}

// Ensure the service's failures map to the documented status codes, with
// messages that say whether the call is still parked and leak no
// internal text.
func TestActions_ErrorStatus(t *testing.T) {
	fa := &fakeActions{}
	e := newEnv(t, func(c *Config) { c.Actions = fa })
	for _, tc := range []struct {
		err    error
		status int
		want   string
	}{
		{fmt.Errorf("kill x: %w", parking.ErrSwitchDown), 503, "still parked"},
		{parking.ErrClosed, 503, "shutting down"},
		{fmt.Errorf("pickup: %w", parking.ErrNoCall), 404, "no such parked call"},
		{fmt.Errorf("pickup: %w: %w", parking.ErrPickupFailed, &parking.CallFailure{Cause: "NO_ANSWER"}), 409, "NO_ANSWER"},
		{fmt.Errorf("pickup: %w: retrieved", parking.ErrMovedOn), 409, "moved on"},
		{fmt.Errorf("move: %w: main/204", parking.ErrSlotTaken), 409, "another call"},
		{fmt.Errorf("extend call-main: %w: 2h", parking.ErrInvalid), 400, "invalid request: 2h"},
		{fmt.Errorf("secret internal detail /var/lib/parkd"), 500, "internal error"},
	} {
		fa.err = tc.err
		for _, action := range []string{"pickup", "move", "extend", "hangup"} {
			body := map[string]string{"pickup": `{"extension":"2002"}`, "move": `{"slot":205}`, "extend": `{"seconds":60}`}[action]
			req := httptest.NewRequest(http.MethodPost, "/api/calls/call-main/"+action, strings.NewReader(body))
			req.Header.Set("Authorization", "Bearer "+superTok)
			w := e.do(req)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Errorf("%s with %v: %d %s, want %d naming %q", action, tc.err, w.Code, w.Body, tc.status, tc.want)
			}
			if strings.Contains(w.Body.String(), "/var/lib") {
				t.Errorf("%s: internal text leaked: %s", action, w.Body)
			}
		}
	}
}

// Ensure a server without actions answers them 404.
func TestActions_Off(t *testing.T) {
	e := newEnv(t, nil)
	req := httptest.NewRequest(http.MethodPost, "/api/calls/call-main/extend", strings.NewReader(`{"seconds":60}`))
	req.Header.Set("Authorization", "Bearer "+superTok)
	if w := e.do(req); w.Code != 404 {
		t.Fatalf("actions off: %d %s", w.Code, w.Body)
	}
}
