package web

import (
	"bytes"
	"encoding/json"
	"testing"
)

// strangeStrings are the strings encoding/json escapes in every way it
// has: quotes and backslashes, control characters, HTML's <, > and &,
// JavaScript's line separators, invalid UTF-8, and plain multibyte text.
var strangeStrings = []string{
	"", "Jane Roe", `say "hi"`, `back\slash`, "tab\tnew\nline\rcr", "\x00\x01\x1f\x7f", "\b\f",
	"<script>&amp;</script>", "line\u2028para\u2029end", "bad \xff\xfe utf8 \xc3", "Zoë Ünal 山田 🎧",
	"+15550100", "ends with \\", "\xed\xa0\x80", // an encoded surrogate: invalid UTF-8
}

func TestAppendSlots_AsEncodingJSON(t *testing.T) {
	var slots []slotJSON
	for i, s := range strangeStrings {
		sj := slotJSON{Lot: s, Slot: 200 + i, Call: "call-" + s, CallerName: s, CallerNumber: s, Parker: s,
			ParkedAt: "2026-12-05T09:00:00Z", WaitingSeconds: int64(i * 37), State: "parked", RecallAttempts: i % 3}
		switch i % 4 {
		case 0:
			sj.Notes = []noteJSON{}
		case 1:
			sj.Domain, sj.NextRecall, sj.Notes = s+".example", "2026-12-05T09:02:00Z", []noteJSON{{At: "2026-12-05T09:01:00Z", Text: s}}
		case 2:
			sj.Node, sj.Remote = "fs-b", true
			sj.Notes = []noteJSON{{At: "x", Text: "one"}, {At: "y", Text: s}}
		case 3:
			sj.WaitingSeconds, sj.Slot, sj.RecallAttempts = -1, -7, 12345 // nil notes: null
		}
		slots = append(slots, sj)
	}
	for _, list := range [][]slotJSON{{}, slots[:1], slots} {
		var want bytes.Buffer
		if err := json.NewEncoder(&want).Encode(list); err != nil {
			t.Fatal(err)
		}
		if got := appendSlots(nil, list); !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%d slots:\n got %s\nwant %s", len(list), got, want.Bytes())
		}
	}
}

// FuzzSlotJSON: for any string in any field, the hand-written encoder
// writes what encoding/json writes, so /api/slots stays valid JSON that
// a browser's JSON.parse and every client read the same way.
func FuzzSlotJSON(f *testing.F) {
	for _, s := range strangeStrings {
		f.Add(s, int64(len(s)))
	}
	f.Fuzz(func(t *testing.T, s string, n int64) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
		sj := slotJSON{Lot: s, Domain: s, Slot: int(n), Call: s, CallerName: s, CallerNumber: s, Parker: s, ParkedAt: s,
			WaitingSeconds: n, State: s, NextRecall: s, RecallAttempts: int(n), Notes: []noteJSON{{At: s, Text: s}}, Node: s, Remote: n%2 == 0}
		if want, err = json.Marshal(sj); err != nil {
			t.Fatal(err)
		}
		if got := appendSlot(nil, &sj); !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s\nwant %s", s, got, want)
		}
	})
}
