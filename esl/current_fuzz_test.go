package esl

import (
	"testing"
)

// FuzzParseCallPairs: whatever `show calls as json` answers, the parser
// never panics, and every pair it returns names two distinct valid UUIDs;
// a talk found in it never names an unsafe extension's domain.
func FuzzParseCallPairs(f *testing.F) {
	f.Add(`{"row_count": 0}`)
	f.Add(`{"row_count":1,"rows":[{"uuid":"a6a54793-d49b-436c-a31c-45716d901fbe","direction":"inbound","presence_id":"1003@127.0.0.1","callstate":"ACTIVE","cid_name":"Phone Three","cid_num":"1003","callee_name":"Outbound Call","callee_num":"1002","b_uuid":"892b2789-2e4e-4ea0-b446-a0ef8929461a","b_direction":"outbound","b_presence_id":"1002@127.0.0.1","b_callstate":"ACTIVE","b_cid_name":"Phone Three","b_cid_num":"1003","b_callee_name":"Outbound Call","b_callee_num":"1002"}]}`)
	f.Add(`{"rows":[{"uuid":"x","b_uuid":""}]}`)
	f.Add(`not json`)
	f.Fuzz(func(t *testing.T, body string) {
		pairs, err := parseCallPairs(body)
		if err != nil {
			return
		}
		for _, p := range pairs {
			if !ValidUUID(p.A.UUID) || !ValidUUID(p.B.UUID) || p.A.UUID == p.B.UUID {
				t.Fatalf("bad pair %+v", p)
			}
			for _, s := range []callSide{p.A, p.B} {
				u, _ := s.user()
				if !tokenRE.MatchString(u) {
					continue
				}
				if tk, ok := p.talkOf(u); ok && tk.Domain != "" && !domainRE.MatchString(tk.Domain) {
					t.Fatalf("unsafe domain %q", tk.Domain)
				}
			}
		}
	})
}
