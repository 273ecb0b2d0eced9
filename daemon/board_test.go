package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/parkd/parkd/conf"
	"github.com/parkd/parkd/esl/fstest"
	"github.com/parkd/parkd/internal/passhash"
)

// The board's browser tests drive a headless Chromium (Debian's chromium
// package; PARKD_CHROMIUM names another binary) against the real daemon
// and the simulator over TCP. Without a browser they skip, unless
// PARKD_REQUIRE_BROWSER is set (as .ci/run does), so that CI cannot pass
// them by skipping. PARKD_SCREENSHOT=path writes a screenshot of a busy
// board there, for the README.

const (
	agentPass = "front-desk-agent-pw"
	bossPass  = "supervisor-boss-pw"
)

// findChromium returns the browser to drive, or skips the test.
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("PARKD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("PARKD_REQUIRE_BROWSER") != "" {
		t.Fatal("no Chromium found and PARKD_REQUIRE_BROWSER is set: install Debian's chromium package or set PARKD_CHROMIUM")
	}
	t.Skip("no Chromium found: the board's browser tests need one (apt-get install chromium, or set PARKD_CHROMIUM)")
	return ""
}

// boardHarness boots parkd with lot main (201-220, recalled after ten
// minutes, amber after one second), an agent "front" whose phone is 2002
// and a supervisor "boss".
func boardHarness(t *testing.T) *harness {
	t.Helper()
	sim := fstest.Start(t, fstest.Options{PlaybackTime: 5 * time.Millisecond})
	cfg := startConfig(t, sim, lot("main", "201-220", func(l *conf.Lot) {
		l.Timeout = 10 * time.Minute
		l.WarnAfter = time.Second
	}))
	pw, err := passhash.Hash(agentPass)
	if err != nil {
		t.Fatal(err)
	}
	bpw, err := passhash.Hash(bossPass)
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTP = conf.HTTP{
		Listen: "127.0.0.1:0",
		Users: []conf.HTTPUser{
			{Name: "front", PasswordHash: pw, Role: conf.RoleAgent, Extension: "2002", Lots: []string{"main"}},
			{Name: "boss", PasswordHash: bpw, Role: conf.RoleSupervisor},
		},
	}
	h := &harness{t: t, sim: sim, cfg: cfg}
	h.boot()
	return h
}

// browser is a headless Chromium tab that saves a screenshot under the
// test's artifact directory when the test fails.
type browser struct {
	t   *testing.T
	ctx context.Context
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := findChromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox, // CI runs as root
		chromedp.WindowSize(1280, 900),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	// Cleanups run last first: the screenshot, then the tab, then the
	// browser.
	t.Cleanup(cancelAlloc)
	t.Cleanup(cancelTab)
	// The first action starts the browser; its context must outlive the test.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b.screenshot(filepath.Join(t.ArtifactDir(), "board-failure.png"))
		}
	})
	return b
}

// do runs actions with a deadline, failing the test with what it was doing.
func (b *browser) do(what string, d time.Duration, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// until waits for a JavaScript condition on the page.
func (b *browser) until(what string, d time.Duration, cond string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, d+time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(d))); err != nil {
		text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		b.t.Fatalf("%s: not within %v: %v\npage:\n%s", what, d, err, text)
	}
}

func (b *browser) screenshot(path string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot: %v", err)
		return
	}
	b.t.Logf("screenshot of the board: %s", path)
}

// tile is a JavaScript expression for the board's tile of a call.
func tile(call string) string {
	return "document.getElementById(" + strconv.Quote("call-"+call) + ")"
}

// loggedIn boots parkd and a browser, and logs the agent in to the board.
func loggedIn(t *testing.T) (*harness, *browser) {
	t.Helper()
	return loggedInAs(t, "front", agentPass)
}

func loggedInAs(t *testing.T, name, pass string) (*harness, *browser) {
	t.Helper()
	findChromium(t) // skip before booting anything
	// parkd first, so that the browser (and its screenshot on failure)
	// is done before parkd stops: cleanups run last first.
	h := boardHarness(t)
	b := newBrowser(t)
	b.do("log in", 10*time.Second,
		chromedp.Navigate("http://"+h.m.HTTPAddr()+"/login"),
		chromedp.SendKeys(chromedp.ID("name"), name),
		chromedp.SendKeys(chromedp.ID("password"), pass),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("park-mine")),
	)
	b.until("the board loaded", 5*time.Second, `document.getElementById('lots').getAttribute('aria-busy') === 'false'`)
	return h, b
}

// parkJane parks Jane in 202 and waits for her tile.
func parkJane(h *harness, b *browser) *fstest.Channel {
	h.t.Helper()
	jane := h.park("202", caller("Jane Roe", "+15550100"))
	b.until("Jane's tile", 5*time.Second, tile(jane.UUID())+` !== null`)
	return jane
}

// Ensure the board in a real browser shows what phones do, live: a call
// the simulator parks appears within a second without a reload, with who
// parked it, its slot no longer free; its waiting time turns amber at the
// lot's warn_after; and it leaves the board when the caller hangs up.
func TestBoard_LiveCalls(t *testing.T) {
	h, b := loggedIn(t)
	b.until("the free slots of lot main", time.Second, `document.querySelectorAll('#lot-main .chips li.free').length === 20`)
	// Live by the event stream, not by the polling fallback (which would
	// also be within a second).
	b.until("the event stream open", 5*time.Second, `document.body.dataset.live === 'events'`)

	jane := h.park("202", caller("Jane Roe", "+15550100"))
	b.until("Jane's tile", time.Second, tile(jane.UUID())+` !== null && `+tile(jane.UUID())+`.innerText.includes('Jane Roe')`)
	b.until("Jane's tile says who parked her", time.Second, tile(jane.UUID())+`.innerText.includes('parked by 1000')`)
	b.until("202 no longer free", time.Second, `document.querySelectorAll('#lot-main .chips li.free').length === 19`)
	b.until("the arrival announced", time.Second, `document.getElementById('status').innerText.includes('Jane Roe parked in 202')`)
	b.until("Jane's wait in amber", 5*time.Second, tile(jane.UUID())+`.querySelector('.wait.warn') !== null`)

	jane.Hangup("")
	b.until("Jane's tile gone after she hung up", 5*time.Second, tile(jane.UUID())+` === null`)
	b.until("202 free again", time.Second, `document.querySelectorAll('#lot-main .chips li.free').length === 20`)
	b.until("no error shown", time.Second, `document.getElementById('error').hidden`)
}

// Ensure a note written on the board is saved and shown on the call.
// Needs POST /api/calls/{call}/note.
func TestBoard_Note(t *testing.T) {
	h, b := loggedIn(t)
	jane := parkJane(h, b)
	b.do("write a note", 5*time.Second,
		chromedp.SendKeys(chromedp.ID("note-"+jane.UUID()), "Dr. Smith is on ward 4"),
		chromedp.Click(chromedp.CSS("#call-"+jane.UUID()+" .note-form button")),
	)
	b.until("the note on Jane's tile", 5*time.Second, tile(jane.UUID())+`.querySelector('.notes').innerText.includes('Dr. Smith is on ward 4')`)
	b.until("no error shown", time.Second, `document.getElementById('error').hidden`)
}

// Ensure Pick up rings the agent's phone (2002, from her account) and the
// simulator bridges it to the parked caller, who then leaves the board.
// Needs POST /api/calls/{call}/pickup.
func TestBoard_PickUp(t *testing.T) {
	h, b := loggedIn(t)
	jane := parkJane(h, b)
	h.sim.Register("2002", fstest.Endpoint{AnswerAfter: 50 * time.Millisecond})
	b.do("press Pick up", 5*time.Second, chromedp.Click(chromedp.CSS("#call-"+jane.UUID()+" button.primary")))
	var leg *fstest.Channel
	h.eventually("an INVITE to 2002", func() bool {
		for _, inv := range h.sim.Invites() {
			if inv.User == "2002" {
				leg = h.sim.Channel(inv.UUID)
				return leg != nil
			}
		}
		return false
	})
	h.waitFor(jane, "Jane bridged to the agent's phone", bridgedTo(leg))
	b.until("Jane's tile gone after the pickup", 5*time.Second, tile(jane.UUID())+` === null`)
	b.until("no error shown", time.Second, `document.getElementById('error').hidden`)
}

// Ensure Park my call parks the far end of the call the agent's phone is
// on, and the board shows it. Needs POST /api/park. With PARKD_SCREENSHOT
// set, it then fills the board and saves a screenshot there.
func TestBoard_ParkMyCall(t *testing.T) {
	h, b := loggedIn(t)
	ann, _, err := h.sim.BridgedCall("Ann Lee", "5550142", "2002")
	if err != nil {
		t.Fatal(err)
	}
	b.do("press Park my call", 5*time.Second, chromedp.Click(chromedp.ID("park-mine")))
	h.waitFor(ann, "Ann parked with music", func(s fstest.ChannelState) bool {
		return s.Alive && strings.HasPrefix(s.Hearing, "music:")
	})
	b.until("Ann's tile", 5*time.Second, tile(ann.UUID())+` !== null && `+tile(ann.UUID())+`.innerText.includes('Ann Lee')`)
	b.until("no error shown", time.Second, `document.getElementById('error').hidden`)
	if path := os.Getenv("PARKD_SCREENSHOT"); path != "" {
		busyBoard(t, h, b, path)
	}
}

// Ensure a supervisor's report page shows, in a browser, the figures of
// the calls parkd handled and the two charts drawn as SVG, and that an
// agent's board has no report link and the page refuses her. With
// PARKD_REPORT_SCREENSHOT set, it saves a screenshot of the report there.
func TestBoard_Report(t *testing.T) {
	h, b := loggedInAs(t, "boss", bossPass)
	jane := h.park("202", caller("Jane Roe", "+15550100"))
	smith := h.call("retrieve", "main", "202", caller("Dr. Smith", "2002"))
	h.waitFor(jane, "Jane picked up", bridgedTo(smith))
	john := h.park("203", caller("John Doe", "+15550111"))
	john.Hangup("")
	h.eventually("both calls over", func() bool { return len(h.occupied()) == 0 })

	b.do("open the report", 10*time.Second,
		chromedp.Click(chromedp.CSS(`a[href="/report"]`)),
		chromedp.WaitVisible(chromedp.ID("chart-hours")),
	)
	b.until("the totals", time.Second, `document.querySelector('table.figures tfoot').innerText.startsWith('Total\t2\t1\t0\t0\t1')`)
	b.until("the hour chart's bars", time.Second, `document.querySelectorAll('#chart-hours svg rect.s-picked').length === 1 && document.querySelectorAll('#chart-hours svg rect.s-abandoned').length === 1`)
	b.until("the abandon rate", time.Second, `document.querySelector('#chart-hours svg circle.s-rate title').textContent.endsWith('abandon rate 50.0%')`)
	b.until("the wait chart", time.Second, `document.querySelectorAll('#chart-waits svg rect').length === 2`)
	if path := os.Getenv("PARKD_REPORT_SCREENSHOT"); path != "" {
		b.screenshot(path)
	}

	b.do("log out", 10*time.Second,
		chromedp.Navigate("http://"+h.m.HTTPAddr()+"/"),
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button`)),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("name"), "front"),
		chromedp.SendKeys(chromedp.ID("password"), agentPass),
		chromedp.Submit(chromedp.ID("password")),
		chromedp.WaitVisible(chromedp.ID("park-mine")),
	)
	b.until("no report link for an agent", time.Second, `document.querySelector('a[href="/report"]') === null`)
	b.do("open the report as an agent", 10*time.Second, chromedp.Navigate("http://"+h.m.HTTPAddr()+"/report"))
	b.until("the refusal", time.Second, `document.body.innerText.includes('Reports are for supervisors')`)
}

// busyBoard parks a few more calls with notes and saves a screenshot of
// the board at path.
func busyBoard(t *testing.T, h *harness, b *browser, path string) {
	t.Helper()
	for i, c := range []struct{ name, number, slot, note string }{
		{"Maria Garcia", "+15550133", "204", "Billing question, asked for Tom"},
		{"Wei Chen", "+15550144", "207", ""},
		{"Sam Okafor", "+15550155", "211", "Lab results; call back if dropped"},
	} {
		ch := h.park(c.slot, caller(c.name, c.number))
		b.until(c.name+"'s tile", 5*time.Second, tile(ch.UUID())+` !== null`)
		if c.note != "" {
			b.do(fmt.Sprintf("note %d", i), 5*time.Second,
				chromedp.SendKeys(chromedp.ID("note-"+ch.UUID()), c.note),
				chromedp.Click(chromedp.CSS("#call-"+ch.UUID()+" .note-form button")))
			b.until(c.name+"'s note", 5*time.Second, tile(ch.UUID())+`.querySelector('.notes').innerText.length > 0`)
		}
	}
	b.screenshot(path)
}
