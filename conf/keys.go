package conf

import (
	"reflect"
	"regexp"
	"strconv"
	"strings"
)

// fieldIndex returns the index of the field of the struct type t whose toml
// tag is key, or -1. The tags are plain names, without options.
func fieldIndex(t reflect.Type, key string) int {
	for i := range t.NumField() {
		if tag := t.Field(i).Tag.Get("toml"); tag == key && tag != "-" {
			return i
		}
	}
	return -1
}

// tables says, for each table, where its keys are written: the hint given for
// a key written in the wrong table.
var tables = []struct {
	t    reflect.Type
	hint string
}{
	{reflect.TypeFor[Config](), "a top-level key: write it above the first [table]"},
	{reflect.TypeFor[ESL](), "an [esl] key: write it under [esl]"},
	{reflect.TypeFor[Store](), "a [store] key: write it under [store]"},
	{reflect.TypeFor[Log](), "a [log] key: write it under [log]"},
	{reflect.TypeFor[BLF](), "a [blf] key: write it under [blf]"},
	{reflect.TypeFor[Lot](), "a lot key: write it under [[lot]], above [lot.recall]"},
	{reflect.TypeFor[Recall](), "a recall key: write it under [lot.recall]"},
	{reflect.TypeFor[HTTP](), "an [http] key: write it under [http]"},
	{reflect.TypeFor[HTTPUser](), "a board user's key: write it under [[http.user]]"},
	{reflect.TypeFor[HTTPToken](), "an API token's key: write it under [[http.token]]"},
	{reflect.TypeFor[Webhook](), "a webhook's key: write it under [[webhook]]"},
	{reflect.TypeFor[Node](), "a node's key: write it under [[node]]"},
}

// unknown records the key k of the table at path parent, decoded into the
// struct type t, as unknown: with where it belongs if another table has it,
// else with the closest key of t if one is close.
func (d *decoder) unknown(parent, k string, t reflect.Type) {
	key := joinKey(parent, k)
	if t == reflect.TypeFor[HTTPUser]() && strings.EqualFold(k, "password") {
		// Not esl.password, which the table below would suggest: a board
		// password is never written in the file, only its hash.
		d.problems.addf(key, "unknown key: write the hash `parkd passwd` prints as password_hash, never the password itself")
		return
	}
	for _, tb := range tables {
		if tb.t != t && fieldIndex(tb.t, k) >= 0 {
			d.problems.addf(key, "unknown key (%s)", tb.hint)
			return
		}
	}
	best, bestDist := "", 3 // farther than 2 edits is no suggestion
	for i := range t.NumField() {
		name := t.Field(i).Tag.Get("toml")
		if dist := editDistance(strings.ToLower(k), name); name != "-" && dist < bestDist && dist < len(k) {
			best, bestDist = name, dist
		}
	}
	if best == "" {
		d.problems.addf(key, "unknown key")
	} else {
		d.problems.addf(key, "unknown key; did you mean %q?", best)
	}
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := range len(a) {
		cur := make([]int, len(b)+1)
		cur[0] = i + 1
		for j := range len(b) {
			cost := 1
			if a[i] == b[j] {
				cost = 0
			}
			cur[j+1] = min(prev[j]+cost, prev[j+1]+1, cur[j]+1)
		}
		prev = cur
	}
	return prev[len(b)]
}

// keyLine is a key path, in the form problems use ("esl.listen",
// "lot[1].recall.attempts"), and the line where it is written.
type keyLine struct {
	path string
	line int
}

// keyPiece is one piece of a dotted TOML key: bare, "quoted" or 'literal'.
const keyPiece = `[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|'[^']*'`

var (
	indexRE    = regexp.MustCompile(`\[[0-9]+\]`)
	keyPieceRE = regexp.MustCompile(keyPiece)
	// keyLineRE matches the dotted key at the start of a key = value line.
	keyLineRE = regexp.MustCompile(`^((?:` + keyPiece + `)(?:\s*\.\s*(?:` + keyPiece + `))*)\s*=`)
)

// keyLines finds the line of every table header and key = value line of a
// file that the TOML library accepted (the library keeps key positions to
// itself). It reads the file line by line, so a line inside a multi-line
// string that looks like a key can mislead it; it then only names a wrong
// line, never a wrong key.
func keyLines(data []byte) []keyLine {
	var lines []keyLine
	table := ""
	arrays := map[string]int{} // how many [[name]] headers so far, by name
	for i, line := range strings.Split(strings.TrimPrefix(string(data), "\ufeff"), "\n") {
		line = strings.TrimSpace(line)
		var path string
		switch {
		case strings.HasPrefix(line, "[["):
			name, _, _ := strings.Cut(line[2:], "]]")
			table = dotted(name)
			arrays[table]++
			path = table
		case strings.HasPrefix(line, "["):
			name, _, _ := strings.Cut(line[1:], "]")
			table, path = dotted(name), dotted(name)
		default:
			m := keyLineRE.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			path = strings.TrimPrefix(table+"."+dotted(m[1]), ".")
		}
		// Tables and keys under [[lot]] belong to the latest lot, those
		// under [[http.user]] to the latest user, and so on.
		for name, n := range arrays {
			if within(path, name) {
				path = name + "[" + strconv.Itoa(n-1) + "]" + path[len(name):]
				break
			}
		}
		lines = append(lines, keyLine{path, i + 1})
	}
	return lines
}

// dotted normalises a dotted TOML key as written ("a . b", `"x y".c`) to a
// key path as problems name it.
func dotted(s string) string {
	var path string
	for _, piece := range keyPieceRE.FindAllString(s, -1) {
		if uq, err := strconv.Unquote(piece); err == nil && piece[0] == '"' {
			piece = uq
		} else if piece[0] == '\'' {
			piece = strings.Trim(piece, "'")
		}
		path = joinKey(path, piece)
	}
	return path
}

// findLine returns the first of lines that writes key or a key inside it,
// else the line of the nearest table or array holding key, or 0.
func findLine(lines []keyLine, key string) int {
	for key != "" {
		for _, kl := range lines {
			if within(kl.path, key) {
				return kl.line
			}
		}
		i := strings.LastIndexAny(key, ".[")
		if i < 0 {
			break
		}
		key = key[:i]
	}
	return 0
}
