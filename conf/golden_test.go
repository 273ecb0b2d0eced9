package conf_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkd/parkd/conf"
)

var update = flag.Bool("update", false, "rewrite conf/testdata/*.golden with the messages Parse gives now")

// goldenSecret is the ESL password the files in testdata use.
const goldenSecret = "Sup3rSecretPW"

// Ensure the messages for each broken file in testdata are exactly those in
// its .golden file, and never show the password. Run with -update to
// rewrite the .golden files, then read the diff.
func TestParse_Golden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.toml: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".toml")
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			_, err = conf.Parse(data, filepath.Base(file))
			if err == nil {
				t.Fatalf("Parse(%s): no error", file)
			}
			got := err.Error() + "\n"
			if strings.Contains(got, goldenSecret) || strings.Contains(got, "12345678901") {
				t.Fatalf("the password is shown:\n%s", got)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./conf -run Golden -update)", err)
			}
			if got != string(want) {
				t.Errorf("Parse(%s) messages:\n%s\nwant (%s):\n%s", file, got, golden, want)
			}
		})
	}
}
