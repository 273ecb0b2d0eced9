package main

import (
	"bufio"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/parkd/parkd/cli"
	"github.com/parkd/parkd/internal/passhash"
)

// The board scenario (BENCHMARKS.md, issue 14's figures): Calls callers
// parked and held for the whole run, Rate parks/s parked and retrieved
// beside them, and a probe using the board like its users do: the first
// page load of a logged-in agent, GET /api/slots, and an SSE client timing
// how long a transition takes to reach it. Halfway through, SSE clients
// connect (1,000 by default) and stay; parkd's memory before and after
// and the park latency of both halves are compared.

// boardAccess is how the probe reaches parkd's HTTP server.
type boardAccess struct {
	addr     string // host:port
	user     string
	password string
	token    string
}

// newBoardAccess makes a user and a token for a bench run, with fresh
// secrets, and the TOML that configures them.
func newBoardAccess() (boardAccess, string, error) {
	addr, err := freeAddr()
	if err != nil {
		return boardAccess{}, "", err
	}
	a := boardAccess{addr: addr, user: "bench", password: randomHex(12), token: randomHex(24)}
	ph, err := passhash.Hash(a.password)
	if err != nil {
		return boardAccess{}, "", err
	}
	th, err := passhash.Hash(a.token)
	if err != nil {
		return boardAccess{}, "", err
	}
	toml := fmt.Sprintf("[http]\nlisten = %q\n[[http.user]]\nname = %q\npassword_hash = %q\nrole = \"supervisor\"\nextension = \"1000\"\n"+
		"[[http.token]]\nname = \"bench\"\nhash = %q\nrole = \"supervisor\"\n", addr, a.user, ph, th)
	return a, toml, nil
}

// boardFigures is what the probe measured. Latencies in milliseconds.
type boardFigures struct {
	PageLoadP50   float64 `json:"page_load_p50_ms"`
	PageLoadP99   float64 `json:"page_load_p99_ms"`
	PageLoads     int     `json:"page_loads"`
	SlotsP50      float64 `json:"slots_p50_ms"`
	SlotsP99      float64 `json:"slots_p99_ms"`
	SlotsRequests int     `json:"slots_requests"`
	SlotsCalls    int     `json:"slots_calls_listed_max"`
	// SlotsP99Without and SlotsP99With split SlotsP99 into the halves
	// without and with the SSE clients.
	SlotsP99Without float64 `json:"slots_p99_without_sse_ms"`
	SlotsP99With    float64 `json:"slots_p99_with_sse_ms"`
	SSEP50          float64 `json:"sse_p50_ms"`
	SSEP99          float64 `json:"sse_p99_ms"`
	SSEEvents       int     `json:"sse_events"`
	SSEClients      int     `json:"sse_clients"`
	RSSBeforeMB     float64 `json:"rss_before_sse_mb"`
	RSSWithMB       float64 `json:"rss_with_sse_mb"`
	ParkP99Without  float64 `json:"park_p99_without_sse_ms"`
	ParkP99With     float64 `json:"park_p99_with_sse_ms"`
	// ParkOwnP99Without and ParkOwnP99With are the same without the
	// simulator's time to answer parkd's commands: parkd's own, the
	// figure issue 14's target is about.
	ParkOwnP99Without float64 `json:"park_own_p99_without_sse_ms"`
	ParkOwnP99With    float64 `json:"park_own_p99_with_sse_ms"`

	// phaseB is when the SSE clients were all connected, until they left:
	// the parks completed in it are the "with" half.
	phaseA, phaseB [2]time.Time
}

// probeBoard runs the probe from start until ctx ends. pid is parkd's
// process (0: not measured); clients is the SSE clients to add halfway;
// half is when to add them.
func probeBoard(ctx context.Context, a boardAccess, pid, clients int, begin, half time.Time, fail func(string, ...any)) *boardFigures {
	f := &boardFigures{SSEClients: clients}
	base := "http://" + a.addr
	tr := &http.Transport{MaxIdleConnsPerHost: 16, DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext}
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer tr.CloseIdleConnections()

	select {
	case <-time.After(time.Until(begin)):
	case <-ctx.Done():
		return f
	}
	cookie, err := login(hc, base, a)
	if err != nil {
		fail("board: log in: %v", err)
		return f
	}

	var mu sync.Mutex
	var sse []time.Duration
	sseCtx, stopSSE := context.WithCancel(ctx)
	defer stopSSE()
	go watchSSE(sseCtx, base, a.token, func(d time.Duration) {
		mu.Lock()
		sse = append(sse, d)
		mu.Unlock()
	}, fail)

	var pages, slots []time.Duration
	measure := func(until time.Time) {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for n := 0; time.Now().Before(until); n++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			d, calls, err := timeSlots(hc, base, a.token)
			if err != nil {
				fail("board: GET /api/slots: %v", err)
				continue
			}
			slots = append(slots, d)
			f.SlotsCalls = max(f.SlotsCalls, calls)
			if n%5 == 0 {
				d, err := pageLoad(hc, base, cookie)
				if err != nil {
					fail("board: page load: %v", err)
					continue
				}
				pages = append(pages, d)
			}
		}
	}
	f.phaseA[0] = time.Now()
	measure(half)
	f.phaseA[1] = time.Now()
	slotsA := len(slots)
	if pid > 0 {
		f.RSSBeforeMB = float64(procStatus(pid, "VmRSS")) / 1024
	}
	idle := spawnSSE(ctx, base, a.token, clients, fail)
	f.phaseB[0] = time.Now()
	if pid > 0 {
		f.RSSWithMB = float64(procStatus(pid, "VmRSS")) / 1024
	}
	end, _ := ctx.Deadline()
	measure(end)
	f.phaseB[1] = time.Now()
	if pid > 0 {
		f.RSSWithMB = max(f.RSSWithMB, float64(procStatus(pid, "VmRSS"))/1024)
	}
	idle()

	mu.Lock()
	defer mu.Unlock()
	f.PageLoads, f.PageLoadP50, f.PageLoadP99 = len(pages), pct(pages, 50), pct(pages, 99)
	f.SlotsRequests, f.SlotsP50, f.SlotsP99 = len(slots), pct(slots, 50), pct(slots, 99)
	f.SlotsP99Without, f.SlotsP99With = pct(slots[:slotsA], 99), pct(slots[slotsA:], 99)
	f.SSEEvents, f.SSEP50, f.SSEP99 = len(sse), pct(sse, 50), pct(sse, 99)
	return f
}

// login logs the bench user in and returns the session cookie.
func login(hc *http.Client, base string, a boardAccess) (*http.Cookie, error) {
	resp, err := hc.PostForm(base+"/login", url.Values{"name": {a.user}, "password": {a.password}})
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	for _, c := range resp.Cookies() {
		if c.Name == "parkd_session" {
			return c, nil
		}
	}
	return nil, fmt.Errorf("status %d and no session cookie", resp.StatusCode)
}

// assetRE finds what a page loads from parkd: its scripts and styles.
var assetRE = regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)

// pageLoad is the board's first page load as a browser with an empty cache
// makes it: the page, every script and style it names, and the slots its
// script asks for.
func pageLoad(hc *http.Client, base string, cookie *http.Cookie) (time.Duration, error) {
	start := time.Now()
	page, err := get(hc, base+"/", cookie, "")
	if err != nil {
		return 0, err
	}
	for _, m := range assetRE.FindAllStringSubmatch(string(page), -1) {
		if _, err := get(hc, base+m[1], cookie, ""); err != nil {
			return 0, err
		}
	}
	if _, err := get(hc, base+"/api/slots", cookie, ""); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// timeSlots times one GET /api/slots and counts the calls it listed.
func timeSlots(hc *http.Client, base, token string) (time.Duration, int, error) {
	start := time.Now()
	b, err := get(hc, base+"/api/slots", nil, token)
	d := time.Since(start)
	if err != nil {
		return 0, 0, err
	}
	var calls []json.RawMessage
	if err := json.Unmarshal(b, &calls); err != nil {
		return 0, 0, err
	}
	return d, len(calls), nil
}

func get(hc *http.Client, u string, cookie *http.Cookie, token string) ([]byte, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	if cookie != nil {
		req.AddCookie(cookie)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %d", u, resp.StatusCode)
	}
	return b, nil
}

// openSSE opens GET /api/events.
func openSSE(ctx context.Context, base, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp, nil
}

// watchSSE reads the live events and reports, for each transition, how
// long after parkd decided it (the row's "at") it arrived here. The row's
// time has millisecond precision: each figure is up to 1 ms long.
func watchSSE(ctx context.Context, base, token string, got func(time.Duration), fail func(string, ...any)) {
	resp, err := openSSE(ctx, base, token)
	if err != nil {
		fail("board: GET /api/events: %v", err)
		return
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:") && event == "transition":
			now := time.Now()
			var row struct {
				At string `json:"at"`
			}
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data:")), &row); err != nil {
				fail("board: an SSE transition is not JSON: %v", err)
				continue
			}
			at, err := time.Parse("2006-01-02T15:04:05.000Z", row.At)
			if err != nil {
				fail("board: an SSE transition's at %q: %v", row.At, err)
				continue
			}
			got(now.Sub(at))
		case line == "":
			event = ""
		}
	}
	if ctx.Err() == nil {
		fail("board: the SSE stream ended: %v", sc.Err())
	}
}

// connectSSE opens n idle SSE clients that read and discard; the returned
// func closes them. It returns once all are connected.
func connectSSE(ctx context.Context, base, token string, n int, fail func(string, ...any)) (closeAll func()) {
	cctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var opened sync.WaitGroup
	for range n {
		wg.Add(1)
		opened.Add(1)
		go func() {
			defer wg.Done()
			resp, err := openSSE(cctx, base, token)
			opened.Done()
			if err != nil {
				if cctx.Err() == nil {
					fail("board: SSE client: %v", err)
				}
				return
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
		}()
	}
	opened.Wait()
	return func() {
		cancel()
		wg.Wait()
	}
}

// randomHex is n random bytes in hex: a bench run's throwaway secret.
func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = crand.Read(b) // never fails (crypto/rand since Go 1.24)
	return hex.EncodeToString(b)
}

// boardWindow is when the probe measures: from 2 s after the held calls
// are parked to the end of the steady parks, its halves without and with
// the SSE clients.
func boardWindow(c benchConfig) (begin, half, end time.Duration) {
	begin = heldPhase(c) + 2*time.Second
	end = heldPhase(c) + c.Duration
	return begin, begin + (end-begin)/2, end
}

// heldPhase is how long parking the held calls takes.
func heldPhase(c benchConfig) time.Duration {
	return time.Duration(float64(c.Calls)/boardHeldRate*float64(time.Second)) + time.Second
}

// boardHeldRate is how fast the held calls are parked, before the load.
const boardHeldRate = 250

// planBoard is the board scenario's calls: Calls held in lot "held" until
// the end, and Rate/s parked in "main" and retrieved after about Wait.
func planBoard(c benchConfig, jitter func(time.Duration) time.Duration) ([]benchLot, []plannedCall, error) {
	if c.Calls <= 0 || c.Duration < 10*time.Second {
		return nil, nil, fmt.Errorf("%w: bench: board needs --calls > 0 and --duration of at least 10s", cli.ErrUsage)
	}
	held := heldPhase(c)
	lots := []benchLot{
		{name: "held", first: 1, last: c.Calls + 100, timeout: time.Hour},
		{name: "main", first: 5000, last: 5000 + max(100, int(4*c.Rate*(1.5*c.Wait.Seconds()+1))), timeout: time.Hour},
	}
	var calls []plannedCall
	leave := held + c.Duration + 2*time.Second
	for i := range c.Calls {
		at := time.Duration(float64(i) / boardHeldRate * float64(time.Second))
		calls = append(calls, plannedCall{at: at, lot: "held", fate: fateAbandon, wait: leave - at})
	}
	for i := range int(c.Rate * c.Duration.Seconds()) {
		calls = append(calls, plannedCall{
			at: held + time.Duration(float64(i)/c.Rate*float64(time.Second)), lot: "main", fate: fateRetrieve, wait: jitter(c.Wait),
		})
	}
	return lots, calls, nil
}

// parkP99In is the p99 of the parks completed within w.
func parkP99In(lat []time.Duration, at []time.Time, w [2]time.Time) float64 {
	var in []time.Duration
	for i, t := range at {
		if !t.Before(w[0]) && t.Before(w[1]) {
			in = append(in, lat[i])
		}
	}
	return pct(in, 99)
}

func (f *boardFigures) print(p func(k string, f string, a ...any)) {
	p("board: first page load", "p50 %.1f  p99 %.1f ms (%d loads: page, scripts, styles, /api/slots)", f.PageLoadP50, f.PageLoadP99, f.PageLoads)
	p("board: GET /api/slots", "p50 %.1f  p99 %.1f ms (%d requests, up to %d calls listed)", f.SlotsP50, f.SlotsP99, f.SlotsRequests, f.SlotsCalls)
	p("  without / with SSE", "p99 %.1f / %.1f ms", f.SlotsP99Without, f.SlotsP99With)
	p("board: transition to SSE client", "p50 %.1f  p99 %.1f ms (%d events)", f.SSEP50, f.SSEP99, f.SSEEvents)
	p("board: parkd RSS", "%.1f MB before, %.1f MB with %d SSE clients (+%.1f MB)", f.RSSBeforeMB, f.RSSWithMB, f.SSEClients, f.RSSWithMB-f.RSSBeforeMB)
	p("board: park p99", "%.2f ms without, %.2f ms with the SSE clients", f.ParkP99Without, f.ParkP99With)
	p("board: park p99, parkd's own", "%.2f ms without, %.2f ms with the SSE clients", f.ParkOwnP99Without, f.ParkOwnP99With)
}
