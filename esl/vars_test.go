package esl

import (
	"errors"
	"slices"
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

// Ensure an instance name either is refused everywhere it would reach a
// command, or reaches it as exactly one variable value: one setvar entry,
// one originate variable, no second command.
func FuzzInstance(f *testing.F) {
	for _, s := range []string{"pbx1", "pbx-1.example.com", "pbx1;parkd_slot=1", "pbx1,park_timeout=1", "a'b", "a\n\napi hupall", "", "-"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, instance string) {
		valid := ValidateInstance(instance) == nil
		set, err := setVars(uuidA, [][2]string{{VarInstance, instance}, {VarLot, "main"}})
		if valid {
			if err != nil {
				t.Fatalf("setVars refused valid instance %q: %v", instance, err)
			}
			if parts := strings.Split(set.Arguments, ";"); len(parts) != 2 || parts[0] != uuidA+" "+VarInstance+"="+instance {
				t.Fatalf("setVars with %q: %q", instance, set.Arguments)
			}
		}
		cmd, err := recallOriginate(testOrigination(), jobA, instance)
		if !valid {
			if !errors.Is(err, ErrUnsafeValue) {
				t.Fatalf("recallOriginate with invalid instance %q: %v, want ErrUnsafeValue", instance, err)
			}
			return
		}
		if err != nil {
			t.Fatalf("recallOriginate with valid instance %q: %v", instance, err)
		}
		line, _, _ := strings.Cut(cmd.BuildMessage(), "\r\n")
		if got := originateVarNames(t, line, testOrigination().Dial); !slices.Equal(got, recallVars) {
			t.Fatalf("instance %q: vars %q", instance, got)
		}
		if !strings.Contains(line, ","+VarInstance+"="+instance+","+VarRecall+"=") {
			t.Fatalf("instance %q not one value: %q", instance, line)
		}
	})
}

// Ensure the default instance is the host name with every character an
// instance name may not hold replaced, cut to 64, and "parkd" without one.
func TestInstanceFromHost(t *testing.T) {
	for host, want := range map[string]string{
		"pbx1":                  "pbx1",
		"pbx-1.example.com":     "pbx-1.example.com",
		"PBX_1":                 "PBX_1",
		"pbx 1;x":               "pbx-1-x",
		"zürich":                "z-rich",
		"":                      "parkd",
		strings.Repeat("h", 70): strings.Repeat("h", 64),
	} {
		if got := instanceFromHost(host); got != want {
			t.Errorf("instanceFromHost(%q)=%q, want %q", host, got, want)
		}
	}
}
