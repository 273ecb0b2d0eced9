package conf_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/parkd/parkd/conf"
)

// Ensure Locate prefers -c, then PARKD_CONFIG, and never falls back from a
// path it was given to another file.
func TestLocate(t *testing.T) {
	dir := t.TempDir()
	flagFile := filepath.Join(dir, "flag.toml")
	envFile := filepath.Join(dir, "env.toml")
	for _, f := range []string{flagFile, envFile} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	missing := filepath.Join(dir, "missing.toml")
	for _, tt := range []struct {
		name      string
		flag, env string
		want      string
		wantErr   []string // each in the message; the error wraps ErrNoConfig
	}{
		{"Flag", flagFile, envFile, flagFile, nil},
		{"Env", "", envFile, envFile, nil},
		{"FlagMissing", missing, envFile, "", []string{"-c " + missing + " does not exist"}},
		{"EnvMissing", "", missing, "", []string{"-c (not given)", "PARKD_CONFIG=" + missing}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			getenv := func(k string) string {
				if k != "PARKD_CONFIG" {
					t.Fatalf("getenv(%q)", k)
				}
				return tt.env
			}
			got, err := conf.Locate(tt.flag, getenv)
			if tt.wantErr == nil {
				if err != nil || got != tt.want {
					t.Fatalf("Locate=%q, %v; want %q", got, err, tt.want)
				}
				return
			}
			if !errors.Is(err, conf.ErrNoConfig) {
				t.Fatalf("Locate=%q, %v; want an error wrapping ErrNoConfig", got, err)
			}
			for _, w := range tt.wantErr {
				if n := strings.Count(err.Error(), w); n != 1 {
					t.Errorf("error %q says %q %d times, want once", err, w, n)
				}
			}
		})
	}
}

// Ensure Locate without -c or PARKD_CONFIG uses DefaultPath, and says where
// it looked when that does not exist either.
func TestLocate_Default(t *testing.T) {
	got, err := conf.Locate("", func(string) string { return "" })
	if _, statErr := os.Stat(conf.DefaultPath); statErr == nil {
		if err != nil || got != conf.DefaultPath {
			t.Fatalf("Locate=%q, %v; want %s", got, err, conf.DefaultPath)
		}
		return
	}
	want := "no configuration file: /etc/parkd/parkd.toml does not exist (looked at -c (not given), PARKD_CONFIG (unset), /etc/parkd/parkd.toml)"
	if !errors.Is(err, conf.ErrNoConfig) || err.Error() != want {
		t.Fatalf("Locate=%q, %v; want %q", got, err, want)
	}
}

// Ensure Locate refuses a directory.
func TestLocate_Directory(t *testing.T) {
	dir := t.TempDir()
	if _, err := conf.Locate(dir, func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Fatalf("Locate(dir)=%v, want an error saying it is a directory", err)
	}
}

// Ensure Load finds a relative store.path beside the configuration file,
// whatever the working directory, and leaves an absolute one alone.
func TestLoad_RelativeStorePath(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "etc", "parkd.toml")
	for _, d := range []string{"etc", "var"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct{ path, want string }{
		{"parkd.db", filepath.Join(dir, "etc", "parkd.db")},
		{"../var/parkd.db", filepath.Join(dir, "var", "parkd.db")},
		{"/var/lib/parkd/parkd.db", "/var/lib/parkd/parkd.db"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			if err := os.WriteFile(file, []byte("[store]\npath = \""+tt.path+"\"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			t.Chdir(t.TempDir()) // another working directory
			for _, load := range []string{file, "../" + filepath.Base(filepath.Dir(file)) + "/parkd.toml"} {
				if !filepath.IsAbs(load) {
					t.Chdir(filepath.Join(dir, "var")) // reach the file by a relative path
				}
				c, err := conf.Load(load)
				if err != nil {
					t.Fatalf("Load(%s): %v", load, err)
				}
				if c.Store.Path != tt.want {
					t.Fatalf("Load(%s) store.path=%q, want %q", load, c.Store.Path, tt.want)
				}
			}
		})
	}
	// Without a file, the default stays as given.
	if got := conf.Default().Store.Path; got != "parkd.db" {
		t.Fatalf("Default store.path=%q, want parkd.db", got)
	}
}
