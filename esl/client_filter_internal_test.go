package esl

import "testing"

// Ensure the filter matches exactly the instance name, whatever it starts
// with: mod_event_socket takes leading '+', '-' and spaces for the
// filter's sign.
func TestInstanceFilterValue(t *testing.T) {
	for _, tc := range []struct{ instance, want string }{
		{"pbx1", "pbx1"},
		{"pbx-1.example", "pbx-1.example"},
		{"-odd.name", `/^-odd\.name$/i`},
		{"_x", "_x"},
	} {
		if err := ValidateInstance(tc.instance); err != nil {
			t.Fatal(err)
		}
		if got := instanceFilterValue(tc.instance); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.instance, got, tc.want)
		}
	}
}
