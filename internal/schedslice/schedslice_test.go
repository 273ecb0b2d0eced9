package schedslice

import (
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"", Default, false},
		{"off", 0, false},
		{"0", 0, false},
		{" 250us ", 250 * time.Microsecond, false},
		{"100ms", Max, false},
		{"50us", 0, true},   // under what the kernel grants
		{"1s", 0, true},     // over it
		{"fast", 0, true},   // not a duration
		{"-100us", 0, true}, // negative
	} {
		got, err := Parse(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestApply_Bounds(t *testing.T) {
	if n, err := Apply(0); n != 0 || err != nil {
		t.Fatalf("Apply(0) = %d, %v; want nothing done", n, err)
	}
	if _, err := Apply(time.Microsecond); err == nil {
		t.Fatal("Apply(1µs): no error")
	}
}
