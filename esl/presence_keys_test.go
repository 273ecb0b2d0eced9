package esl

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parkd/parkd/parking"
)

func TestValidateLampKeys(t *testing.T) {
	ok := LampKey{Lot: "a", First: 701, Last: 720, Prefix: "park+", LotKey: "70"}
	tests := []struct {
		name string
		keys LampKeys
		ok   bool
	}{
		{"one lot", LampKeys{ok}, true},
		{"none", nil, true},
		{"no lot key", LampKeys{{Lot: "a", First: 1, Last: 9, Prefix: "park+"}}, true},
		{"empty prefix", LampKeys{{Lot: "a", First: 1, Last: 9}}, true},
		{"fusionpbx style", LampKeys{{Lot: "a", First: 1, Last: 9, Prefix: "park+*590", LotKey: "*5900"}}, true},
		{"two lots", LampKeys{ok, {Lot: "b", First: 801, Last: 820, Prefix: "park+", LotKey: "80"}}, true},
		{"lot twice", LampKeys{ok, {Lot: "a", First: 801, Last: 820, Prefix: "park+"}}, false},
		{"bad lot", LampKeys{{Lot: "A B", First: 1, Last: 2, Prefix: "park+"}}, false},
		{"no slots", LampKeys{{Lot: "a", First: 5, Last: 4, Prefix: "park+"}}, false},
		{"slot zero", LampKeys{{Lot: "a", First: 0, Last: 4, Prefix: "park+"}}, false},
		{"overlapping slots", LampKeys{ok, {Lot: "b", First: 720, Last: 730, Prefix: "park+"}}, false},
		{"overlap across case", LampKeys{ok, {Lot: "b", First: 720, Last: 730, Prefix: "PARK+"}}, false},
		{"overlap across prefixes", LampKeys{ok, {Lot: "b", First: 1, Last: 9, Prefix: "park+70"}}, false},
		{"lot key is a slot", LampKeys{{Lot: "a", First: 1, Last: 9, Prefix: "p+", LotKey: "5"}}, false},
		{"lot key is another lot's slot", LampKeys{ok, {Lot: "b", First: 1, Last: 2, Prefix: "park+", LotKey: "701"}}, false},
		{"CR LF prefix", LampKeys{{Lot: "a", First: 1, Last: 2, Prefix: "park\r\n+"}}, false},
		{"at in prefix", LampKeys{{Lot: "a", First: 1, Last: 2, Prefix: "park@"}}, false},
		{"space in lot key", LampKeys{{Lot: "a", First: 1, Last: 2, Prefix: "park+", LotKey: "a b"}}, false},
		{"colon in lot key", LampKeys{{Lot: "a", First: 1, Last: 2, Prefix: "park+", LotKey: "x: y"}}, false},
		{"too many", LampKeys{{Lot: "a", First: 1, Last: maxLampKeys + 1, Prefix: "p+"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateLampKeys(tt.keys)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, ErrBadLampKeys)) {
				t.Fatalf("ValidateLampKeys = %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestValidDomain(t *testing.T) {
	for d, want := range map[string]bool{
		"127.0.0.1": true, "pbx.example.com": true, "a": true, "": false, "a b": false,
		"x\r\ny": false, "user@host": false, "-x": false, "x.": false, strings.Repeat("a", 254): false,
	} {
		if got := ValidDomain(d); got != want {
			t.Errorf("ValidDomain(%q) = %v", d, got)
		}
	}
}

func TestSanitizeCallerText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Jane Roe", "Jane Roe"},
		{"  Jane \t Roe  ", "Jane Roe"},
		{"Eve\r\n\r\napi uuid_kill", "Eve api uuid_kill"},
		{`"><b>&amp;'`, "b amp"},
		{"100% sure; ok", "100 sure ok"},
		{"Ève 駐車", "Ève 駐車"},
		{"a\u202eb\u200bc", "abc"},
		{"\xffok\x00", "ok"},
		{"Dr. O'Brien, Jr: +1/555@x", "Dr. O Brien, Jr: +1/555@x"},
		{strings.Repeat("é", 100), strings.Repeat("é", maxCallerText)},
	}
	for _, tt := range tests {
		if got := SanitizeCallerText(tt.in); got != tt.want {
			t.Errorf("SanitizeCallerText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// FuzzPresenceIn: whatever the caller's name and number, and whatever
// keys and domains pass validation, the sendevent frame is one command of
// the transcript's headers, each once, on lines of their own.
func FuzzPresenceIn(f *testing.F) {
	f.Add("park+", "701", "127.0.0.1", "Jane Roe", "+15550100", "1-8901@127.0.0.1", 1)
	f.Add("park+", "70", "pbx", "Eve\r\n\r\napi uuid_kill", "1\nX: y", "x\r\ny", 2)
	f.Add("", "lotb", "a.b", `"><&'%`, "\x00", "", 0)
	f.Fuzz(func(t *testing.T, prefix, id, domain, name, number, callID string, state int) {
		l := parking.Lamp{Lot: "a", Slot: 1, State: parking.LampState(state % 3),
			Caller: parking.Caller{Name: name, Number: number}, Parked: state}
		ev, ok := newPresenceIn(prefix, id, domain, l, callID, 7)
		if !ok {
			if prefixRE.MatchString(prefix) && lotKeyRE.MatchString(id) && ValidDomain(domain) {
				t.Fatalf("refused valid key %q %q %q", prefix, id, domain)
			}
			return
		}
		msg := ev.BuildMessage()
		// Every line ends in CR LF, like the blank line Conn adds: no bare
		// CR or LF, no empty line, no line ending at the end.
		lines := strings.Split(msg, "\r\n")
		if !utf8.ValidString(msg) || strings.ContainsAny(strings.Join(lines, ""), "\r\n") || strings.HasSuffix(msg, "\n") {
			t.Fatalf("bad frame %q", msg)
		}
		if lines[0] != "sendevent PRESENCE_IN" {
			t.Fatalf("first line %q", lines[0])
		}
		seen := map[string]bool{}
		allowed := map[string]bool{"call-id": true}
		for _, n := range []string{"proto", "login", "from", "status", "force-status", "rpid", "event_type", "alt_event_type",
			"event_count", "unique-id", "channel-state", "answer-state", "presence-call-direction"} {
			allowed[n] = true
		}
		for _, line := range lines[1:] {
			n, v, ok := strings.Cut(line, ": ")
			if !ok || !allowed[n] || seen[n] {
				t.Fatalf("line %q in %q", line, msg)
			}
			seen[n] = true
			if (n == "status" || n == "force-status") && (strings.ContainsAny(v, "<>&\"'%;\\") || strings.HasPrefix(strings.ToLower(v), "hold")) {
				t.Fatalf("status %q", v)
			}
			if (n == "from" || n == "login") && strings.Count(v, "@") != 1 {
				t.Fatalf("%s %q", n, v)
			}
		}
		if len(seen) < 12 {
			t.Fatalf("missing headers in %q", msg)
		}
	})
}

// Ensure one lot name and the same keys may be in two domains, each
// domain's keys its own, but not twice in one domain.
func TestValidateLampKeys_Domains(t *testing.T) {
	a := LampKey{Lot: "main", Domain: "a.example", First: 701, Last: 720, Prefix: "park+", LotKey: "*70"}
	b := a
	b.Domain = "b.example"
	plain := a
	plain.Domain = ""
	if err := ValidateLampKeys(LampKeys{a, b, plain}); err != nil {
		t.Fatal(err)
	}
	a2 := a
	a2.Domain = "A.EXAMPLE"
	if err := ValidateLampKeys(LampKeys{a, a2}); !errors.Is(err, ErrBadLampKeys) {
		t.Fatalf("main twice in a.example: %v", err)
	}
	other := a
	other.Lot, other.LotKey = "vip", ""
	if err := ValidateLampKeys(LampKeys{a, other}); !errors.Is(err, ErrBadLampKeys) {
		t.Fatalf("park+701 of two lots of a.example: %v", err)
	}
	bad := a
	bad.Domain = "a example"
	if err := ValidateLampKeys(LampKeys{bad}); !errors.Is(err, ErrBadLampKeys) {
		t.Fatalf("bad domain: %v", err)
	}
}
