package esl

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"
)

// Ensure the listing's scanner reads what FreeSWITCH writes as
// encoding/json does, and leaves whatever else it meets to it.
func TestParseShowCalls_ScannerMatchesJSON(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		scanned    bool // the scanner reads it itself
	}{
		{"Empty", `{"row_count": 0}`, true},
		{"EmptyRows", `{"row_count":0,"rows":[]}`, true},
		{"OneParked", `{"row_count":1,"rows":[{"uuid":"a","direction":"inbound","cid_name":"Jane Roe","cid_num":"5550100","callstate":"ACTIVE","b_uuid":"","b_cid_name":"","b_cid_num":"","b_callstate":""}]}`, true},
		{"Bridged", `{"row_count":1,"rows":[{"uuid":"a","cid_name":"A","cid_num":"1","callstate":"ACTIVE","b_uuid":"b","b_cid_name":"B","b_cid_num":"2","b_callstate":"ACTIVE"}]}`, true},
		{"Spaces", " {\n \"rows\" : [ { \"uuid\" : \"a\" , \"cid_name\" : \"x\" } ] , \"row_count\" : 1 } \n", true},
		{"Escapes", `{"row_count":1,"rows":[{"uuid":"a","cid_name":"Jo \"the\" \\ back"}]}`, true},
		{"UTF8", `{"row_count":1,"rows":[{"uuid":"a","cid_name":"José Müller 李"}]}`, true},
		{"RepeatedKey", `{"row_count":1,"rows":[{"uuid":"a","uuid":"b"}]}`, true},
		{"OtherEscape", `{"row_count":1,"rows":[{"uuid":"a","cid_name":"tab\there"}]}`, false},
		{"Unicode", `{"row_count":1,"rows":[{"uuid":"a","cid_name":"\u00e9"}]}`, false},
		{"InvalidUTF8", "{\"row_count\":1,\"rows\":[{\"uuid\":\"a\",\"cid_name\":\"\xff\"}]}", false},
		{"CaseFolded", `{"row_count":1,"rows":[{"UUID":"a"}]}`, false},
		{"UnicodeFolded", `{"row_count":1,"rows":[{"uuid":"a","callſtate":"ACTIVE"}]}`, false},
		{"NullValue", `{"row_count":1,"rows":[{"uuid":"a","cid_name":null}]}`, false},
		{"Garbage", `{"row_count":1,"rows":[{"uuid":"a"}]} x`, false},
		{"Truncated", `{"row_count":1,"rows":[{"uuid":"a"`, false},
		{"Negative", `{"row_count":-1}`, false},
		{"NotJSON", `-ERR no reply`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, ok := scanShowCalls([]byte(tc.body))
			if ok != tc.scanned {
				t.Fatalf("scanned=%v, want %v", ok, tc.scanned)
			}
			want, werr := decodeShowCalls([]byte(tc.body))
			got, err := parseShowCalls([]byte(tc.body))
			if (err == nil) != (werr == nil) || !reflect.DeepEqual(got, want) {
				t.Fatalf("parseShowCalls: %+v, %v; encoding/json: %+v, %v", got, err, want, werr)
			}
			if ok && !reflect.DeepEqual(rows, want) {
				t.Fatalf("scanned %+v, encoding/json reads %+v", rows, want)
			}
		})
	}
}

// FuzzScanShowCalls: whatever the scanner reads, encoding/json reads the
// same from it.
func FuzzScanShowCalls(f *testing.F) {
	f.Add([]byte(`{"row_count":1,"rows":[{"uuid":"a","cid_name":"Jo \"x\"","callstate":"ACTIVE","b_uuid":"b","b_callstate":"RINGING"}]}`))
	f.Add([]byte(`{"row_count": 0}`))
	f.Add([]byte(` {"rows":[],"row_count":0}`))
	f.Add(showCallsBody(2))
	f.Fuzz(func(t *testing.T, body []byte) {
		rows, ok := scanShowCalls(body)
		if !ok {
			return
		}
		want, err := decodeShowCalls(body)
		if err != nil {
			t.Fatalf("scanned %q, which encoding/json refuses: %v", body, err)
		}
		if !reflect.DeepEqual(rows, want) {
			t.Fatalf("%q: scanned %+v, encoding/json %+v", body, rows, want)
		}
	})
}

// showCallsBody is a listing of n parked calls with every column
// FreeSWITCH's `show calls as json` has, the b_ ones empty.
func showCallsBody(n int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, `{"row_count":%d,"rows":[`, n)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"uuid":"5e7c0a00-0000-4000-8000-%012d","direction":"inbound","created":"2026-12-06 03:00:00","created_epoch":"1796526000",`+
			`"name":"sofia/internal/%d@127.0.0.1:5070","state":"CS_EXECUTE","cid_name":"Patient %d","cid_num":"%d","ip_addr":"127.0.0.1",`+
			`"dest":"endless_playback:local_stream://moh","presence_id":"%d@127.0.0.1","presence_data":"","accountcode":"","callstate":"ACTIVE",`+
			`"callee_name":"","callee_num":"1000","callee_direction":"","call_uuid":"","hostname":"fs1","sent_callee_name":"","sent_callee_num":"",`+
			`"b_uuid":"","b_direction":"","b_created":"","b_created_epoch":"","b_name":"","b_state":"","b_cid_name":"","b_cid_num":"",`+
			`"b_ip_addr":"","b_dest":"","b_presence_id":"","b_presence_data":"","b_accountcode":"","b_callstate":"","b_callee_name":"",`+
			`"b_callee_num":"","b_callee_direction":"","b_sent_callee_name":"","b_sent_callee_num":"","call_created_epoch":""}`,
			i, 5550000+i, i, 5550000+i, 5550000+i)
	}
	b.WriteString("]}")
	return b.Bytes()
}

// BenchmarkParseShowCalls reads a listing of 10,000 parked calls (about
// 11 MB), with the scanner and with encoding/json.
func BenchmarkParseShowCalls(b *testing.B) {
	body := showCallsBody(10_000)
	for _, tc := range []struct {
		name  string
		parse func([]byte) ([]showRow, error)
	}{{"scanner", parseShowCalls}, {"encoding-json", decodeShowCalls}} {
		b.Run(tc.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				rows, err := tc.parse(body)
				if err != nil || len(rows) != 10_000 {
					b.Fatalf("%d rows, %v", len(rows), err)
				}
			}
		})
	}
}
