package esl

import (
	"errors"
	"os"
	"strings"
	"testing"
	gounsafe "unsafe"

	"github.com/parkd/parkd/parking"
)

// readConnect loads a connect reply captured from a real FreeSWITCH and
// decodes it as the server does.
func readConnect(t testing.TB, name string, extra ...Header) Headers {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewReader(strings.NewReader(string(data))).ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	h := make(Headers, 0, len(f.Headers)+len(extra))
	for _, x := range f.Headers {
		h = append(h, Header{Name: x.Name, Value: URLDecode(x.Value)})
	}
	return append(extra, h...)
}

// Ensure the connect replies FreeSWITCH really sends parse into requests:
// the parker comes from Referred-By, else from the party the caller was
// bridged to (docs/freeswitch.md#referred-by-names-the-parker); a call
// dialled directly is not transferred and parks itself.
func TestParseRequest_Transcripts(t *testing.T) {
	park := Header{Name: "variable_parkd_action", Value: "park"}
	for _, tc := range []struct {
		file       string
		wantParker string
		wantDomain string
		answered   bool
		slot       int
		caller     string
		xfer       bool
	}{
		{file: "connect-refer.txt", wantParker: "1000", wantDomain: "127.0.0.1", answered: true, slot: 202, caller: "Patient", xfer: true},
		{file: "connect-refer-no-referred-by.txt", wantParker: "1000", wantDomain: "127.0.0.1", answered: true, slot: 202, caller: "Patient", xfer: true},
		{file: "connect-direct.txt", wantParker: "patient", wantDomain: "", answered: false, caller: "Patient"},
	} {
		t.Run(tc.file, func(t *testing.T) {
			req, err := ParseRequest(readConnect(t, tc.file, park))
			if err != nil {
				t.Fatal(err)
			}
			if req.Action != ActionPark || req.Parker != tc.wantParker || req.ParkerDomain != tc.wantDomain || req.Answered != tc.answered ||
				req.Slot != tc.slot || req.Caller.Name != tc.caller || req.Context != "default" || !ValidUUID(req.Call) ||
				req.Transferred != tc.xfer || !ValidCallID(req.Dialog) || req.Replaces != "" {
				t.Fatalf("request=%+v", req)
			}
		})
	}
}

// Ensure the Referred-By user wins over the callee when they differ.
func TestParseRequest_ReferredByFirst(t *testing.T) {
	h := readConnect(t, "connect-refer.txt",
		Header{Name: "variable_parkd_action", Value: "park"},
		Header{Name: "variable_sip_h_Referred-By", Value: `"Reception" <sip:reception-1@pbx.example;transport=udp>`})
	req, err := ParseRequest(h)
	if err != nil || req.Parker != "reception-1" {
		t.Fatalf("parker=%q err=%v, want reception-1", req.Parker, err)
	}
}

// Ensure the parker's domain is Referred-By's host (no port, no parameters),
// else domain_name, else dialed_domain, and only ever a plain host name.
func TestParseRequest_ParkerDomain(t *testing.T) {
	park := Header{Name: "variable_parkd_action", Value: "park"}
	refer := func(v string) Header { return Header{Name: "variable_sip_h_Referred-By", Value: v} }
	domainName := func(v string) Header { return Header{Name: "variable_domain_name", Value: v} }
	dialed := func(v string) Header { return Header{Name: "variable_dialed_domain", Value: v} }
	for _, tc := range []struct {
		name  string
		file  string
		extra []Header
		want  string
	}{
		{"ReferredByPortParams", "connect-refer.txt", []Header{refer("<sip:1000@pbx.example.com:5060;transport=udp>")}, "pbx.example.com"},
		{"ReferredByDisplayName", "connect-refer.txt", []Header{refer(`"Reception" <sips:reception-1@PBX-2.example.org>`)}, "PBX-2.example.org"},
		{"ReferredByUserParams", "connect-refer.txt", []Header{refer("<sip:+1555;npdi@sbc.example.net;user=phone>")}, "sbc.example.net"},
		{"ReferredByWinsOverDomainName", "connect-refer.txt", []Header{domainName("other.example"), refer("<sip:1000@pbx.example.com>")}, "pbx.example.com"},
		{"DomainNameBeforeDialed", "connect-refer-no-referred-by.txt", []Header{domainName("tenant.example")}, "tenant.example"},
		{"DialedDomain", "connect-refer-no-referred-by.txt", nil, "127.0.0.1"},
		{"UnsafeReferredByFallsBack", "connect-refer.txt", []Header{refer("<sip:1000@evil'host}>")}, "127.0.0.1"},
		{"IPv6Refused", "connect-direct.txt", []Header{refer("<sip:1000@[::1]:5060>")}, ""},
		{"UndefIgnored", "connect-direct.txt", []Header{domainName("_undef_"), dialed("a b")}, ""},
		{"InjectionRefused", "connect-direct.txt", []Header{domainName("x.example\n\napi hupall")}, ""},
		{"TelURI", "connect-direct.txt", []Header{refer("<tel:+15551234>")}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ParseRequest(readConnect(t, tc.file, append(tc.extra, park)...))
			if err != nil {
				t.Fatal(err)
			}
			if req.ParkerDomain != tc.want {
				t.Fatalf("ParkerDomain=%q, want %q", req.ParkerDomain, tc.want)
			}
		})
	}
}

// Ensure bad requests are refused with ErrBadRequest, keeping what is needed
// to refuse the channel politely.
func TestParseRequest_Bad(t *testing.T) {
	for _, tc := range []struct {
		name  string
		extra []Header
	}{
		{"NoAction", nil},
		{"UnknownAction", []Header{{"variable_parkd_action", "steal"}}},
		{"SlotNotDigits", []Header{{"variable_parkd_action", "park"}, {"variable_parkd_slot", "20a"}}},
		{"SlotInjection", []Header{{"variable_parkd_action", "park"}, {"variable_parkd_slot", "202\n\napi uuid_kill x"}}},
		{"SlotZero", []Header{{"variable_parkd_action", "park"}, {"variable_parkd_slot", "000"}}},
		{"SlotHuge", []Header{{"variable_parkd_action", "park"}, {"variable_parkd_slot", "12345678901"}}},
		{"LotWithSpace", []Header{{"variable_parkd_action", "park"}, {"variable_parkd_lot", "main lot"}}},
		{"LotUpperCase", []Header{{"variable_parkd_action", "retrieve"}, {"variable_parkd_lot", "MAIN"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Extra headers come first, so they win over the transcript's.
			req, err := ParseRequest(readConnect(t, "connect-refer.txt", tc.extra...))
			if !errors.Is(err, ErrBadRequest) {
				t.Fatalf("err=%v, want ErrBadRequest", err)
			}
			if !ValidUUID(req.Call) || req.Parker != "1000" {
				t.Fatalf("request=%+v: call and parker must survive for the refusal", req)
			}
		})
	}
	if _, err := ParseRequest(Headers{{"Unique-ID", "not-a-uuid"}}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("bad Unique-ID: err=%v", err)
	}
}

// Ensure SIP user extraction only returns plain tokens.
func TestSipUser(t *testing.T) {
	for in, want := range map[string]string{
		"<sip:1000@127.0.0.1>":                   "1000",
		"sip:alice@example.com":                  "alice",
		`"Bob" <sips:bob.smith@example.com;x=y>`: "bob.smith",
		"<sip:evil'user@x>":                      "",
		"<sip:a%0Ab@x>":                          "",
		"<tel:+15551234>":                        "",
		"<sip:nohost>":                           "",
		"":                                       "",
	} {
		if got := sipUser(in); got != want {
			t.Errorf("sipUser(%q)=%q, want %q", in, got, want)
		}
	}
}

// FuzzParseRequest: any channel data parses without panic, and whatever is
// accepted is safe to splice into a command.
func FuzzParseRequest(f *testing.F) {
	f.Add("park", "main", "202", "<sip:1000@h>", "Jane")
	f.Add("retrieve", "", "", "", "x\ny")
	f.Fuzz(func(t *testing.T, action, lot, slot, referredBy, name string) {
		h := Headers{
			{"Unique-ID", "0c9f5a1e-8a7b-4c1d-9e2f-3a4b5c6d7e8f"},
			{"variable_parkd_action", action}, {"variable_parkd_lot", lot}, {"variable_parkd_slot", slot},
			{"variable_sip_h_Referred-By", referredBy}, {"Caller-Caller-ID-Name", name},
		}
		req, err := ParseRequest(h)
		if req.Parker != "" && !tokenRE.MatchString(req.Parker) {
			t.Fatalf("unsafe parker %q", req.Parker)
		}
		if req.ParkerDomain != "" && !domainRE.MatchString(req.ParkerDomain) {
			t.Fatalf("unsafe parker domain %q", req.ParkerDomain)
		}
		if strings.ContainsAny(req.Caller.Name, "\r\n\x00") {
			t.Fatalf("control characters kept in %q", req.Caller.Name)
		}
		if err == nil && req.Lot != "" && !lotRE.MatchString(req.Lot) {
			t.Fatalf("unsafe lot %q", req.Lot)
		}
	})
}

// Ensure a request shares no memory with the connect reply it was read
// from: the Reader cuts every header from one string, and a parked call's
// UUID or caller kept from it would keep the whole reply alive.
func TestParseRequest_Detached(t *testing.T) {
	h := readConnect(t, "connect-refer.txt", Header{Name: "variable_parkd_action", Value: "park"},
		Header{Name: "variable_parkd_lot", Value: "main"})
	req, err := ParseRequest(h)
	if err != nil {
		t.Fatal(err)
	}
	within := func(s, in string) bool {
		if len(s) == 0 || len(in) == 0 {
			return false
		}
		p, lo := uintptr(gounsafe.Pointer(gounsafe.StringData(s))), uintptr(gounsafe.Pointer(gounsafe.StringData(in)))
		return p >= lo && p < lo+uintptr(len(in))
	}
	for name, v := range map[string]string{
		"Action": req.Action, "Call": req.Call, "Lot": req.Lot, "Caller.Name": req.Caller.Name,
		"Caller.Number": req.Caller.Number, "Parker": req.Parker, "Context": req.Context, "ParkerDomain": req.ParkerDomain,
	} {
		if v == "" {
			t.Errorf("%s is empty: the test shows nothing for it", name)
		}
		for _, x := range h {
			if within(v, x.Value) || within(v, x.Name) {
				t.Errorf("%s %q shares memory with header %s", name, v, x.Name)
			}
		}
	}
}

// Ensure the request's Domain, which picks the tenant's lots, is the
// channel's own domain_name only (never Referred-By's host nor the dialled
// domain), case-folded, and empty when it is not a plain host name.
func TestParseRequest_Domain(t *testing.T) {
	park := Header{Name: "variable_parkd_action", Value: "park"}
	outside := Header{Name: "variable_parkd_action", Value: "outside"}
	domainName := func(v string) Header { return Header{Name: "variable_domain_name", Value: v} }
	lotDomain := func(v string) Header { return Header{Name: "variable_" + VarDomain, Value: v} }
	for _, tc := range []struct {
		name  string
		file  string
		extra []Header
		want  string
	}{
		{"DomainName", "connect-refer.txt", []Header{domainName("Hospital-A.example"), park}, "hospital-a.example"},
		{"NotReferredByHost", "connect-refer.txt", []Header{park}, ""},
		{"NotDialedDomain", "connect-refer-no-referred-by.txt", []Header{park}, ""},
		{"Undef", "connect-direct.txt", []Header{domainName("_undef_"), park}, ""},
		{"Injection", "connect-direct.txt", []Header{domainName("x.example\n\napi hupall"), park}, ""},
		{"Space", "connect-direct.txt", []Header{domainName("a b"), park}, ""},
		// A park is matched by the phone's own domain, never by a
		// variable a dialplan or a previous park left.
		{"ParkIgnoresLotDomain", "connect-direct.txt", []Header{lotDomain("b.example"), park}, ""},
		// An outside call's domain_name is the public context's, not a
		// tenant's: the lot's domain comes from the outside dialplan.
		{"OutsideLotDomain", "connect-direct.txt", []Header{domainName("public.example"), lotDomain("Hospital-B.example"), outside}, "hospital-b.example"},
		{"OutsideNoLotDomain", "connect-direct.txt", []Header{domainName("hospital-a.example"), outside}, ""},
		{"OutsideInjection", "connect-direct.txt", []Header{lotDomain("x.example\n\napi hupall"), outside}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := ParseRequest(readConnect(t, tc.file, tc.extra...))
			if err != nil {
				t.Fatal(err)
			}
			if req.Domain != tc.want {
				t.Fatalf("Domain=%q, want %q", req.Domain, tc.want)
			}
		})
	}
}

// Ensure a domain lot's park marks carry its domain, and a lot without
// one writes no parkd_domain; a domain that could break the command is
// refused.
func TestHoldCommands_Domain(t *testing.T) {
	h := parking.Hold{Lot: "main", Slot: 202, Music: "local_stream://moh"}
	set, _, err := holdCommands(NewUUID(), "pbx1", h)
	if err != nil || strings.Contains(set.Arguments, VarDomain) {
		t.Fatalf("no domain: %q, %v", set.Arguments, err)
	}
	h.Domain = "hospital-a.example"
	if set, _, err = holdCommands(NewUUID(), "pbx1", h); err != nil || !strings.Contains(set.Arguments, VarDomain+"=hospital-a.example") {
		t.Fatalf("domain: %q, %v", set.Arguments, err)
	}
	h.Domain = "a.example;parkd_lot=x"
	if _, _, err = holdCommands(NewUUID(), "pbx1", h); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("unsafe domain: %v", err)
	}
}

// Ensure the socket application's mode is read from the connect reply: a
// captured async reply is not sync, and "Socket-Mode: static" (`socket`
// without "async", as fsconf writes the retrieve extension) is.
func TestParseRequest_SocketMode(t *testing.T) {
	action := Header{Name: "variable_parkd_action", Value: "retrieve"}
	req, err := ParseRequest(readConnect(t, "connect-refer.txt", action))
	if err != nil {
		t.Fatal(err)
	}
	if req.Sync {
		t.Fatalf("an async socket's request has Sync set: %+v", req)
	}
	req, err = ParseRequest(readConnect(t, "connect-refer.txt", action, Header{Name: "Socket-Mode", Value: "static"}))
	if err != nil {
		t.Fatal(err)
	}
	if !req.Sync {
		t.Fatalf("Socket-Mode: static did not give Sync: %+v", req)
	}
}
