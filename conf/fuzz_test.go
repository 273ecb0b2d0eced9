package conf_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkd/parkd/conf"
)

// FuzzParse ensures Parse never panics, reports every problem on its own line
// naming the file, and only returns configurations that validate again.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.toml")
	for _, file := range append(files, "../parkd.example.toml") {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	for _, s := range []string{
		"",
		fullFile,
		lot(`slots = "720-701"`),
		lots(`on_full = "overflow:b"`, `on_full = "overflow:a"`),
		lots(`park_code = "*8"`, `park_code = "*80"`),
		`lot = [{name = "x", slots = "1-2"}, 3]`,
		"[lot]\nname = 1",
		"[esl]\npassword = \"x\\n\"\ncommand_timeout = 5",
		"[esl]\nallow = [\"10.0.0.1/99\", 1]",
		"[store\npath = \"x\"",
		"a = 1\na = 2",
		"[http]\nuser = [{name = \"a\", lots = [1]}, 3]\ntoken = {name = \"x\"}",
		"[[http.user]]\n[[http.user]]\nname = 1\npassword_hash = \"$2a$04$x\"\n[[http.token]]\nrole = \"agent\"",
		"http.listen = \"\"\nhttp.tls_cert = \"\\u0000\"\nhttp.tls_key = \".\"",
		"\xef\xbb\xbf[log]\nlevel = 'debug'",
		"[[lot]]\nslots = \"999999999\"\n[[lot]]\nname = \"b\"\nslots = \"1-100000\"\npark_code = \"#1\"\nretrieve_code = \"#2\"",
		"esl.command_timeout = \"9223372036s\"",
		"[[lot]]\ntimeout = \"-2562047h\"",
		recall(`caller_id_name = "Park {slot: {caller_name}}"`),
		recall(`dial = "user/{parker}@{domain}}"`),
		recall("attempts = 9223372036854775807\nring_for = \"-1ns\""),
		lot(`fallback = "9000 XML default"`) + "[lot.recall]\nenabled = false\nalert_info = \"<http://127.0.0.1>;info=ring1\"",
		lot(`recall = { domain = "{domain}" }`),
		"[[lot]]\n[[lot.recall]]\n[lot.recall.x]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := conf.Parse(data, "fuzz.toml")
		if err != nil {
			for line := range strings.Lines(err.Error()) {
				if !strings.HasPrefix(line, "fuzz.toml: ") {
					t.Fatalf("problem does not name the file: %q", line)
				}
			}
			return
		}
		if len(c.Lots) == 0 {
			t.Fatal("Parse returned a config without lots")
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted a config that Validate rejects: %v", err)
		}
	})
}
