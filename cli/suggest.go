package cli

import "strings"

// suggest returns the candidate closest to s, if one is close enough to be
// what was meant: a typo or two (edit distance at most 1 for words under
// five letters, 2 from five), or s is a prefix of it of at least three
// letters. It returns "" if none is, or if two are equally close.
func suggest(s string, candidates []string) string {
	s = strings.ToLower(s)
	best, bestDist, tie := "", 1<<30, false
	for _, c := range candidates {
		lc := strings.ToLower(c)
		d := editDistance(s, lc)
		if len(s) >= 3 && strings.HasPrefix(lc, s) {
			d = min(d, 1)
		}
		switch {
		case d < bestDist:
			best, bestDist, tie = c, d, false
		case d == bestDist:
			tie = true
		}
	}
	limit := 1
	if len(s) >= 5 {
		limit = 2
	}
	if tie || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the number of insertions, deletions, substitutions and
// swaps of two neighbours that turn a into b (optimal string alignment
// distance), in bytes: "lto" is one swap from "lot".
func editDistance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
