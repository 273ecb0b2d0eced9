package esl

import (
	"errors"
	"strings"
	"testing"
)

// Ensure an instance name that could end a uuid_setvar_multi value, an
// originate {…} block or a command line is refused, and host names pass.
func TestValidateInstance(t *testing.T) {
	for _, ok := range []string{"pbx1", "pbx-1.example.com", "PBX_2", "a", "-pbx", strings.Repeat("a", 64), DefaultInstance()} {
		if err := ValidateInstance(ok); err != nil {
			t.Errorf("ValidateInstance(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{
		"", "pbx 1", "pbx1;parkd_slot=1", `pbx"1`, "pbx'1", "pbx1,x=y", "pbx1\n\napi hupall", "pbx1\r",
		"pbx{1}", "pbx=1", "pbx\u00e9", "pbx/1", strings.Repeat("a", 65),
	} {
		if err := ValidateInstance(bad); !errors.Is(err, ErrBadInstance) {
			t.Errorf("ValidateInstance(%q)=%v, want ErrBadInstance", bad, err)
		}
	}
}
