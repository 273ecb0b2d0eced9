package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/parkd/parkd/cli"
)

// testParkd is a link named parkd to this test binary: started under that
// name, the binary is parkd itself (see TestMain), so the bench's
// child-process mode runs the real serve command without a build step.
var testParkd string

func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "parkd" {
		cli.Main(cli.Run)
	}
	dir, err := os.MkdirTemp("", "parkd-bench-test-")
	if err != nil {
		panic(err)
	}
	testParkd = filepath.Join(dir, "parkd")
	exe, err := os.Executable()
	if err == nil {
		err = os.Symlink(exe, testParkd)
	}
	if err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
