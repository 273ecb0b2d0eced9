package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Tenants: hospital-a's and hospital-b's calls both wait in slot 202 of
// lot main; dora supervises hospital-a alone, erin is an agent of
// hospital-b alone.
const (
	domA = "hospital-a.example"
	domB = "hospital-b.example"
)

// tenantActions finds the calls of slots, and records who acted on which.
type tenantActions struct {
	slots *fakeSlots
	acted []parking.CallID
}

func (f *tenantActions) Occupant(call parking.CallID) (parking.Occupant, error) {
	for _, o := range f.slots.occ {
		if o.Call == call {
			return o, nil
		}
	}
	return parking.Occupant{}, parking.ErrNoCall
}

func (f *tenantActions) act(call parking.CallID) (parking.Occupant, error) {
	f.acted = append(f.acted, call)
	return f.Occupant(call)
}

func (f *tenantActions) Pickup(_ context.Context, r parking.PickupRequest) (parking.Occupant, error) {
	return f.act(r.Call)
}
func (f *tenantActions) Move(_ context.Context, c parking.CallID, _ string, _ int, _ string) (parking.Occupant, error) {
	return f.act(c)
}
func (f *tenantActions) Extend(_ context.Context, c parking.CallID, _ time.Duration, _ string) (parking.Occupant, error) {
	return f.act(c)
}
func (f *tenantActions) HangUpParked(_ context.Context, c parking.CallID, _ string) (parking.Occupant, error) {
	return f.act(c)
}

func newTenantEnv(t *testing.T) (*env, *tenantActions) {
	t.Helper()
	h := testHashes(t)
	fa := &tenantActions{}
	e := newEnv(t, func(c *Config) {
		c.Users = append(c.Users,
			User{Name: "dora", Hash: h[bobPass], Role: RoleSupervisor, Domains: []string{domA}},
			User{Name: "erin", Hash: h[alicePass], Role: RoleAgent, Extension: "2001", Domains: []string{domB}})
		c.Actions = fa
		c.Lots = func() []LotView {
			return []LotView{{Name: "main", Domain: domA, First: 201, Last: 220}, {Name: "main", Domain: domB, First: 201, Last: 220}}
		}
	})
	e.slots.occ = []parking.Occupant{
		{Lot: "main", Domain: domA, Slot: 202, Call: "call-a", Caller: parking.Caller{Name: "Ann A"}, ParkedAt: t0.Add(-time.Minute), Deadline: t0.Add(time.Minute)},
		{Lot: "main", Domain: domB, Slot: 202, Call: "call-b", Caller: parking.Caller{Name: "Bob B"}, ParkedAt: t0.Add(-time.Minute), Deadline: t0.Add(time.Minute)},
	}
	fa.slots = e.slots
	return e, fa
}

func calls(t *testing.T, w *httptest.ResponseRecorder) []string {
	t.Helper()
	var out []struct{ Call, Domain string }
	decode(t, w, &out)
	var cs []string
	for _, s := range out {
		cs = append(cs, s.Domain+"/"+s.Call)
	}
	return cs
}

// Ensure a user restricted to one domain sees only its calls and lots, is
// refused another domain's (403 when asked by name, 404 for a call), and
// acts on none of them; an unrestricted supervisor filters with ?domain=.
func TestTenants_API(t *testing.T) {
	e, fa := newTenantEnv(t)
	dora, doraCSRF := e.login("dora", bobPass)
	erin, erinCSRF := e.login("erin", alicePass)

	if got := calls(t, e.get("/api/slots", "", dora)); !slices.Equal(got, []string{domA + "/call-a"}) {
		t.Fatalf("dora's slots %v", got)
	}
	if got := calls(t, e.get("/api/slots", "", erin)); !slices.Equal(got, []string{domB + "/call-b"}) {
		t.Fatalf("erin's slots %v", got)
	}
	if got := calls(t, e.get("/api/slots?domain="+domB, superTok, nil)); !slices.Equal(got, []string{domB + "/call-b"}) {
		t.Fatalf("?domain=b for the wallboard: %v", got)
	}
	for _, path := range []string{"/api/slots", "/api/history", "/api/report", "/api/lots", "/api/events"} {
		// Cancelled from the start: a stream wrongly opened ends at once
		// instead of hanging the test.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, path+"?domain="+domB, nil)
		req.AddCookie(dora)
		if w := e.do(req); w.Code != http.StatusForbidden {
			t.Errorf("dora GET %s?domain=b: %d %s", path, w.Code, w.Body)
		}
	}
	var lots []struct{ Name, Domain string }
	decode(t, e.get("/api/lots", "", dora), &lots)
	if len(lots) != 1 || lots[0].Domain != domA {
		t.Fatalf("dora's lots %+v", lots)
	}

	// Another domain's call is no call at all: 404, nothing done.
	post := func(c *http.Cookie, csrf, path, body string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
		req.AddCookie(c)
		req.Header.Set("X-CSRF-Token", csrf)
		return e.do(req)
	}
	for _, action := range []string{"pickup", "move", "extend", "hangup", "note"} {
		body := map[string]string{"pickup": `{"extension":"2002"}`, "move": `{"slot":205}`, "extend": `{"seconds":60}`, "note": `{"text":"x"}`}[action]
		if w := post(dora, doraCSRF, "/api/calls/call-b/"+action, body); w.Code != http.StatusNotFound {
			t.Errorf("dora %s on hospital-b's call: %d %s", action, w.Code, w.Body)
		}
		if action != "hangup" {
			if w := post(erin, erinCSRF, "/api/calls/call-a/"+action, body); w.Code != http.StatusNotFound {
				t.Errorf("erin %s on hospital-a's call: %d %s", action, w.Code, w.Body)
			}
		}
	}
	if len(fa.acted) != 0 {
		t.Fatalf("acted on %v", fa.acted)
	}
	if w := post(dora, doraCSRF, "/api/calls/call-a/extend", `{"seconds":60}`); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), `"domain":"`+domA+`"`) {
		t.Fatalf("dora extends hospital-a's call: %d %s", w.Code, w.Body)
	}

	// History and report: the store is asked for dora's domain only.
	e.get("/api/history", "", dora)
	if f := e.store.filters[len(e.store.filters)-1]; !slices.Equal(f.Domains, []string{domA}) {
		t.Fatalf("dora's history filter %+v", f)
	}
	e.get("/api/history?domain="+domB, superTok, nil)
	if f := e.store.filters[len(e.store.filters)-1]; !slices.Equal(f.Domains, []string{domB}) {
		t.Fatalf("?domain=b history filter %+v", f)
	}
	e.get("/api/history", superTok, nil)
	if f := e.store.filters[len(e.store.filters)-1]; f.Domains != nil {
		t.Fatalf("unrestricted history filter %+v", f)
	}
	if w := e.get("/api/report?by=domain", "", dora); w.Code != http.StatusOK {
		t.Fatalf("dora's report: %d %s", w.Code, w.Body)
	}
	if q := e.store.queries[len(e.store.queries)-1]; q.By != store.ByDomain || !slices.Equal(q.Domains, []string{domA}) {
		t.Fatalf("dora's report query %+v", q)
	}
}

// Ensure the live events of a user restricted to one domain carry only
// that domain's rows and lamps, live and replayed.
func TestTenants_Events(t *testing.T) {
	le := newLiveEnv(t, 0)
	h := testHashes(t)
	le.srv.users["dora"] = User{Name: "dora", Hash: h[bobPass], Role: RoleSupervisor, Domains: []string{domA}}
	dora, _ := le.login("dora", bobPass)
	record := func(call, domain string, slot int) int64 {
		at := t0
		c := parking.Caller{Name: "X", Number: "1"}
		err := le.db.Record(context.Background(), parking.Transition{At: at, Event: parking.EventParked, Lot: "main", Domain: domain,
			Slot: slot, Call: parking.CallID(call), Caller: c, Occupancy: &parking.Occupant{Lot: "main", Domain: domain, Slot: slot,
				Call: parking.CallID(call), Caller: c, ParkedAt: at, Deadline: at.Add(time.Minute)}})
		if err != nil {
			t.Fatal(err)
		}
		rows, _ := le.db.History(context.Background(), store.HistoryFilter{Call: parking.CallID(call)})
		return rows[len(rows)-1].ID
	}
	first := record("call-0", domA, 201)
	s := le.open("/api/events", "", dora, nil)
	record("call-b", domB, 202)
	le.hub.Light(parking.Lamp{Lot: "main", Domain: domB, Slot: 202, State: parking.LampParked})
	a := record("call-a", domA, 202)
	le.hub.Light(parking.Lamp{Lot: "main", Domain: domA, Slot: 202, State: parking.LampParked})
	le.wantRow(s.next(), a)
	if e := s.next(); e.Event != "slot" || !strings.Contains(e.Data, `"domain":"`+domA+`"`) {
		t.Fatalf("dora's lamp event %+v", e)
	}
	r := le.open("/api/events", "", dora, map[string]string{"Last-Event-ID": strconv.FormatInt(first, 10)})
	le.wantRow(r.next(), a)
}

// Ensure the report page of a supervisor restricted to one domain counts
// that domain's calls only, its figures and its waits, and refuses
// another domain's.
func TestTenants_ReportPage(t *testing.T) {
	var bs *bucketStore
	e := newEnv(t, func(c *Config) {
		c.Users = append(c.Users, User{Name: "dora", Hash: testHashes(t)[bobPass], Role: RoleSupervisor, Domains: []string{domA}})
		bs = &bucketStore{fakeStore: c.Store.(*fakeStore)}
		c.Store = bs
	})
	dora, _ := e.login("dora", bobPass)
	if w := e.get("/report", "", dora); w.Code != http.StatusOK {
		t.Fatalf("dora's report page: %d", w.Code)
	}
	for _, q := range e.store.queries {
		if !slices.Equal(q.Domains, []string{domA}) {
			t.Fatalf("report query %+v", q)
		}
	}
	if !slices.Equal(bs.domains, []string{domA}) {
		t.Fatalf("wait buckets of domains %v", bs.domains)
	}
	if w := e.get("/report?domain="+domB, "", dora); w.Code != http.StatusForbidden {
		t.Fatalf("dora's report page of hospital-b: %d", w.Code)
	}
}

// Ensure /metrics, whose figures are every domain's, is refused to a user
// restricted to domains, and /api/me names their domains.
func TestTenants_Metrics(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Users = append(c.Users, User{Name: "dora", Hash: testHashes(t)[bobPass], Role: RoleSupervisor, Domains: []string{domA}})
		c.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("parkd_up 1\n")) })
	})
	dora, _ := e.login("dora", bobPass)
	if w := e.get("/metrics", "", dora); w.Code != http.StatusForbidden {
		t.Fatalf("dora's /metrics: %d %s", w.Code, w.Body)
	}
	if w := e.get("/metrics", superTok, nil); w.Code != http.StatusOK {
		t.Fatalf("the wallboard's /metrics: %d", w.Code)
	}
	var me struct{ Domains []string }
	decode(t, e.get("/api/me", "", dora), &me)
	if !slices.Equal(me.Domains, []string{domA}) {
		t.Fatalf("/api/me domains %v", me.Domains)
	}
}
