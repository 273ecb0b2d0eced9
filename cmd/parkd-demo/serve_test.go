package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/parkd/parkd/esl/fstest"
)

// lockedBuffer is a bytes.Buffer the demo writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Ensure demo --serve serves the board with the agent whose password it
// prints, and its synthetic calls park in the lot: a newcomer sees calls
// on the board.
func TestServeDemo(t *testing.T) {
	sim, err := fstest.New(fstest.Options{PlaybackTime: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	c := demoConfig(sim.Addr(), filepath.Join(t.TempDir(), "demo.db"), demoLot())
	ctx, cancel := context.WithCancel(context.Background())
	var out lockedBuffer
	done := make(chan error, 1)
	go func() {
		done <- serveDemo(ctx, sim, c, serveOptions{Listen: "127.0.0.1:0", Every: 20 * time.Millisecond}, &out)
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serveDemo: %v", err)
		}
	}()

	board := regexp.MustCompile(`board is at (http://\S+)/`)
	agent := regexp.MustCompile(`agent: +reception +password (\S+)`)
	var base, pw string
	until(t, func() bool {
		s := out.String()
		if m := board.FindStringSubmatch(s); m != nil {
			base = m[1]
		}
		if m := agent.FindStringSubmatch(s); m != nil {
			pw = m[1]
		}
		return base != "" && pw != ""
	})

	jar := http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := jar.PostForm(base+"/login", url.Values{"name": {"reception"}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "parkd_session" {
			session = ck
		}
	}
	if session == nil {
		t.Fatalf("login with the printed password: status %d and no session cookie", resp.StatusCode)
	}
	until(t, func() bool {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/slots", nil)
		req.AddCookie(session)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var slots []struct {
			State string `json:"state"`
		}
		if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&slots) != nil {
			return false
		}
		for _, sl := range slots {
			if sl.State == "parked" {
				return true
			}
		}
		return false
	})
}

// until waits for cond, failing the test after a generous limit.
func until(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
