package cli

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/internal/pgtest"
	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Ensure slots and history show each call's node when lots are shared by
// several nodes (a NODE column, "node" in JSON), and keep their shape
// otherwise.
func TestNodes_SlotsAndHistoryShowTheNode(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Second)
	for i, node := range []string{"a", "b"} {
		db := store.NewPostgres(dsn)
		db.Node = node
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		o := parking.Occupant{Lot: "main", Slot: 201 + i, Call: parking.CallID("call-" + node), Caller: parking.Caller{Name: "Jane", Number: "100" + node},
			Parker: "1000", ParkedAt: now, Deadline: now.Add(time.Minute)}
		if err := db.ClaimSlot(ctx, o); err != nil {
			t.Fatal(err)
		}
		if err := db.Record(ctx, parking.Transition{At: now, Event: parking.EventParked, Lot: "main", Slot: o.Slot, Call: o.Call, Caller: o.Caller, Parker: "1000", Occupancy: &o}); err != nil {
			t.Fatal(err)
		}
		db.Close()
	}
	code, out, errOut := runCLI(t, "slots", "--db", "postgres:"+dsn)
	if code != 0 {
		t.Fatalf("slots: exit %d\n%s%s", code, out, errOut)
	}
	for _, re := range []string{`(?m)^NODE +LOT +SLOT`, `(?m)^a +main +201 `, `(?m)^b +main +202 `} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("slots output lacks %s:\n%s", re, out)
		}
	}
	code, out, errOut = runCLI(t, "slots", "--json", "--db", "postgres:"+dsn)
	if code != 0 || !strings.Contains(out, `"node":"a"`) || !strings.Contains(out, `"node":"b"`) {
		t.Fatalf("slots --json: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = runCLI(t, "history", "--db", "postgres:"+dsn)
	if code != 0 || !regexp.MustCompile(`(?m)^AT +EVENT +NODE +LOT`).MatchString(out) || !regexp.MustCompile(`parked +b +main +202`).MatchString(out) {
		t.Fatalf("history: exit %d\n%s%s", code, out, errOut)
	}
}

// Ensure parkd report --by node counts each node's calls.
func TestNodes_ReportByNode(t *testing.T) {
	dsn := pgtest.DSN(t)
	ctx := context.Background()
	now := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	for i, node := range []string{"a", "b", "b"} {
		db := store.NewPostgres(dsn)
		db.Node = node
		if err := db.Open(); err != nil {
			t.Fatal(err)
		}
		o := parking.Occupant{Lot: "main", Slot: 201 + i, Call: parking.CallID("call-" + string(rune('0'+i))), Parker: "1000",
			ParkedAt: now, Deadline: now.Add(time.Minute)}
		for _, tr := range []parking.Transition{
			{At: now, Event: parking.EventParked, Lot: "main", Slot: o.Slot, Call: o.Call, Parker: "1000", Occupancy: &o},
			{At: now.Add(time.Minute), Event: parking.EventRetrieved, Lot: "main", Slot: o.Slot, Call: o.Call, Parker: "1000", Retriever: "2002", Wait: time.Minute},
		} {
			if err := db.Record(ctx, tr); err != nil {
				t.Fatal(err)
			}
		}
		db.Close()
	}
	code, out, errOut := runCLI(t, "report", "--by", "node", "--db", "postgres:"+dsn)
	if code != 0 {
		t.Fatalf("report: exit %d\n%s%s", code, out, errOut)
	}
	for _, re := range []string{`(?m)^ *a +1 +1 `, `(?m)^ *b +2 +2 `} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("report lacks %s:\n%s", re, out)
		}
	}
}
