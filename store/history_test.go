package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
	"github.com/parkd/parkd/store"
)

// Ensure each HistoryFilter field selects the rows it names, fields combine,
// and Limit keeps the oldest rows.
func TestDB_History_Filter(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		db := b.open(t)

		// IDs 1..6, one minute apart.
		MustRecord(t, db, Parked("call-a", "default", 1, t0))                                      // 1
		MustRecord(t, db, Parked("call-b", "sales", 1, t0.Add(1*time.Minute)))                     // 2
		MustRecord(t, db, Retrieved("call-a", "default", 1, t0, 2*time.Minute))                    // 3
		MustRecord(t, db, Parked("call-c", "default", 2, t0.Add(3*time.Minute)))                   // 4
		MustRecord(t, db, Retrieved("call-b", "sales", 1, t0.Add(1*time.Minute), 3*time.Minute))   // 5
		MustRecord(t, db, Retrieved("call-c", "default", 2, t0.Add(3*time.Minute), 2*time.Minute)) // 6

		for _, tt := range []struct {
			name   string
			filter store.HistoryFilter
			want   []int64
		}{
			{"All", store.HistoryFilter{}, []int64{1, 2, 3, 4, 5, 6}},
			{"Lot", store.HistoryFilter{Lot: "sales"}, []int64{2, 5}},
			{"Slot", store.HistoryFilter{Slot: 2}, []int64{4, 6}},
			{"LotSlot", store.HistoryFilter{Lot: "default", Slot: 1}, []int64{1, 3}},
			{"Call", store.HistoryFilter{Call: "call-c"}, []int64{4, 6}},
			{"Event", store.HistoryFilter{Event: parking.EventRetrieved}, []int64{3, 5, 6}},
			// Since is inclusive, Until exclusive; a time zone other than UTC
			// compares by instant.
			{"Since", store.HistoryFilter{Since: t0.Add(3 * time.Minute)}, []int64{4, 5, 6}},
			{"Until", store.HistoryFilter{Until: t0.Add(2 * time.Minute)}, []int64{1, 2}},
			{"SinceUntilUTC", store.HistoryFilter{Since: t0.Add(time.Minute).UTC(), Until: t0.Add(4 * time.Minute).UTC()}, []int64{2, 3, 4}},
			{"Limit", store.HistoryFilter{Limit: 2}, []int64{1, 2}},
			{"LimitFiltered", store.HistoryFilter{Lot: "default", Limit: 3}, []int64{1, 3, 4}},
			{"NoMatch", store.HistoryFilter{Call: "call-z"}, nil},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got := historyIDs(t, db, tt.filter)
				if !slices.Equal(got, tt.want) {
					t.Fatalf("ids=%v, want %v", got, tt.want)
				}
			})
		}

		t.Run("ErrInvalid", func(t *testing.T) {
			for _, f := range []store.HistoryFilter{{Event: "teleported"}, {Limit: -1}, {Slot: -1}} {
				if _, err := db.History(ctx, f); !errors.Is(err, store.ErrInvalid) {
					t.Fatalf("filter %+v: err=%v, want %v", f, err, store.ErrInvalid)
				}
			}
		})
	})
}

// Ensure HistoryFilter.Caller is a substring of the caller's number or
// name, ignoring ASCII case, in which LIKE's wildcards % and _ and the
// escape character \ are plain characters: "--caller %" finds the callers
// with a percent sign, not everyone.
func TestDB_History_CallerLiteral(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		db := b.open(t)
		callers := []parking.Caller{
			{Name: "100% Gadgets", Number: "+15550001"}, // 1
			{Name: "1000 Gadgets", Number: "+15550002"}, // 2
			{Name: "A_B Corp", Number: "+15550003"},     // 3
			{Name: "AxB Corp", Number: "+15550004"},     // 4
			{Name: `C:\Temp`, Number: "+15550005"},      // 5
			{Name: "", Number: "555%0006"},              // 6
		}
		for i, c := range callers {
			tr := Parked(parking.CallID(fmt.Sprintf("call-%d", i+1)), "main", i+1, t0)
			tr.Caller, tr.Occupancy.Caller = c, c
			MustRecord(t, db, tr)
		}
		for _, tt := range []struct {
			caller string
			want   []int64
		}{
			{"%", []int64{1, 6}},
			{"0%", []int64{1}},
			{"%0", []int64{6}},
			{"%%", nil},
			{"_", []int64{3}},
			{"a_b", []int64{3}},
			{"A_B CORP", []int64{3}},
			{`\`, []int64{5}},
			{`\%`, nil},
			{"gadgets", []int64{1, 2}},
			{"+1555000", []int64{1, 2, 3, 4, 5}},
			{"", []int64{1, 2, 3, 4, 5, 6}},
		} {
			t.Run(tt.caller, func(t *testing.T) {
				got := historyIDs(t, db, store.HistoryFilter{Caller: tt.caller})
				if !slices.Equal(got, tt.want) {
					t.Fatalf("caller %q: ids=%v, want %v", tt.caller, got, tt.want)
				}
			})
		}
	})
}

// Ensure a history row marshals to the flat JSON object the CLI prints, with
// exactly the documented keys in order.
func TestHistoryRow_MarshalJSON(t *testing.T) {
	row := store.HistoryRow{
		ID:        7,
		At:        time.Date(2025, 3, 4, 10, 11, 12, 345_678_901, time.FixedZone("CET", 3600)),
		Event:     parking.EventRecalled,
		Lot:       "default",
		Slot:      202,
		Call:      "5f1c-77",
		Caller:    parking.Caller{Name: `Jane "JR" Roe`, Number: "+15550100"},
		Parker:    "1001",
		Retriever: "1001",
		Reason:    "parker answered",
		Wait:      125*time.Second + 300*time.Millisecond,
	}
	b, err := json.Marshal(row)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"at":"2025-03-04T09:11:12.345Z","event":"recalled","lot":"default","slot":202,"call":"5f1c-77",` +
		`"caller_number":"+15550100","caller_name":"Jane \"JR\" Roe","parker":"1001","retriever":"1001",` +
		`"reason":"parker answered","wait_ms":125300}`
	if got := string(b); got != want {
		t.Fatalf("json=%s\nwant %s", got, want)
	}

	// A pointer marshals the same way.
	if b2, err := json.Marshal(&row); err != nil || string(b2) != want {
		t.Fatalf("pointer json=%s, %v", b2, err)
	}
}

// historyIDs returns the IDs of the rows History finds for f, in order.
func historyIDs(t *testing.T, db *store.DB, f store.HistoryFilter) []int64 {
	t.Helper()
	rows, err := db.History(context.Background(), f)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, r := range rows {
		got = append(got, r.ID)
	}
	return got
}
