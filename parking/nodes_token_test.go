package parking_test

import (
	"strings"
	"testing"

	"github.com/parkd/parkd/parking"
)

func TestValidHopToken(t *testing.T) {
	for _, tc := range []struct {
		token string
		want  bool
	}{
		{"0123456789abcdef0123456789abcdef", true},
		{strings.Repeat("f", 32), true},
		{"0123456789ABCDEF0123456789abcdef", false},  // upper case: never issued
		{"0123456789abcdef0123456789abcde", false},   // short
		{"0123456789abcdef0123456789abcdef0", false}, // long
		{"0123456789abcdef0123456789abcdeg", false},  // not hex
		{"0123456789abcdef0123456789abcd'f", false},  // quote: never reaches a command
		{"", false},
	} {
		if got := parking.ValidHopToken(tc.token); got != tc.want {
			t.Errorf("ValidHopToken(%q) = %v, want %v", tc.token, got, tc.want)
		}
	}
}
