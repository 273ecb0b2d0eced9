package conf

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
)

// DefaultPath is the configuration file read when neither -c nor the
// environment variable EnvPath names one.
const DefaultPath = "/etc/parkd/parkd.toml"

// EnvPath is the environment variable that names the configuration file
// when no -c is given.
const EnvPath = "PARKD_CONFIG"

// ErrNoConfig is returned, wrapped, by Locate when no configuration file
// exists where it looked.
var ErrNoConfig = errors.New("no configuration file")

// Locate returns the configuration file to read: flagPath (the -c flag) if
// set, else the file named by $PARKD_CONFIG as getenv reports it (os.Getenv
// in production), else DefaultPath. The first of those that is set is the
// only one tried, so that a mistyped -c never falls back to another file.
// When that file does not exist the error wraps ErrNoConfig and names every
// place considered.
func Locate(flagPath string, getenv func(string) string) (string, error) {
	env := getenv(EnvPath)
	var path string
	var looked []string
	switch {
	case flagPath != "":
		path = flagPath
	case env != "":
		path, looked = env, []string{"-c (not given)", EnvPath + "=" + env}
	default:
		path, looked = DefaultPath, []string{"-c (not given)", EnvPath + " (unset)", DefaultPath}
	}
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && flagPath != "":
		return "", fmt.Errorf("%w: -c %s does not exist", ErrNoConfig, path)
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("%w: %s does not exist (looked at %s)", ErrNoConfig, path, strings.Join(looked, ", "))
	case err != nil:
		return "", fmt.Errorf("config: %w", err)
	case info.IsDir():
		return "", fmt.Errorf("config %s: is a directory, not a file", path)
	}
	return path, nil
}
