package fsconf

import (
	"math/rand/v2"
	"regexp"
	"strconv"
	"testing"
)

// Ensure a slot range's regex matches exactly the range's numbers, written
// without leading zeros, for fixed and random ranges.
func TestSlotRangeRegex(t *testing.T) {
	if got, want := slotRangeRegex(701, 720), `70[1-9]|71\d|720`; got != want {
		t.Fatalf("701-720: %s, want %s", got, want)
	}
	if got, want := slotRangeRegex(1, 999), `[1-9]|[1-9]\d|[1-9]\d{2}`; got != want {
		t.Fatalf("1-999: %s, want %s", got, want)
	}
	ranges := [][2]int{{1, 1}, {9, 10}, {99, 101}, {1, 100000}, {201, 201}, {100, 199}, {999999990, 999999999}}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		a := 1 + rng.IntN(20000)
		ranges = append(ranges, [2]int{a, a + rng.IntN(3000)})
	}
	for _, r := range ranges {
		re := regexp.MustCompile(`^(?:` + slotRangeRegex(r[0], r[1]) + `)$`)
		lo, hi := max(1, r[0]-1100), min(999999999, r[1]+1100)
		for n := lo; n <= hi; n++ {
			if got, want := re.MatchString(strconv.Itoa(n)), n >= r[0] && n <= r[1]; got != want {
				t.Fatalf("%d-%d: %d matched=%v (%s)", r[0], r[1], n, got, re)
			}
		}
		if re.MatchString("0"+strconv.Itoa(r[0])) || re.MatchString("") {
			t.Fatalf("%d-%d: leading zero or empty matched", r[0], r[1])
		}
	}
}
