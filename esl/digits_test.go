package esl

import (
	"strings"
	"testing"
	"time"

	"github.com/parkd/parkd/parking"
)

// The play_and_get_digits argument is ten space-separated fields whatever
// the prompt, or refused: a prompt can never add a field, a variable
// expansion, a header or a second command.
func FuzzPlayAndGetDigits(f *testing.F) {
	f.Add("tone_stream://%(100,0,880);loops=2", 4, 12, 3, int64(5000))
	f.Add("ivr/ivr-please_enter_pin_followed_by_pound.wav", 1, 9, 1, int64(100))
	f.Add("a b", 4, 12, 3, int64(5000))
	f.Add("${pin}", 4, 12, 3, int64(5000))
	f.Add("x\n\napi uuid_kill", 4, 12, 3, int64(5000))
	f.Fuzz(func(t *testing.T, prompt string, lo, hi, tries int, ms int64) {
		arg, err := playAndGetDigits(parking.DigitsRequest{Prompt: prompt, Min: lo, Max: hi, Tries: tries, Timeout: time.Duration(ms) * time.Millisecond})
		if err != nil {
			return
		}
		f := strings.Split(arg, " ")
		if len(f) != 10 || f[5] != prompt || f[7] != VarDigits || f[4] != "#" {
			t.Fatalf("arg %q", arg)
		}
		if strings.ContainsAny(arg, "\r\n{}$'\"") && !strings.Contains(arg, `^\d+$`) {
			t.Fatalf("unsafe arg %q", arg)
		}
		if strings.ContainsAny(prompt, "\r\n {}$'\"\\") {
			t.Fatalf("unsafe prompt accepted: %q", prompt)
		}
	})
}
