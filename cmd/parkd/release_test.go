package main

import (
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
)

// The release binary runs on hosts as old as Debian 11 and RHEL 8 because
// it needs nothing from them but the kernel: no dynamic loader, no shared
// glibc. RHEL 8's kernel, 4.18, is the oldest of those.
var oldestKernel = [3]uint32{4, 18, 0}

// TestReleaseBinary checks the binary `make release` built (make
// release-check passes its path): static, for linux/amd64, built with the
// release flags, and working. It is not part of every test run because
// the static build with cgo SQLite takes about two minutes on a cold cache.
func TestReleaseBinary(t *testing.T) {
	bin := os.Getenv("PARKD_RELEASE_BIN")
	if bin == "" {
		t.Skip("PARKD_RELEASE_BIN unset: make release-check builds the release binary and runs this test on it")
	}
	for _, p := range staticProblems(bin) {
		t.Error(p)
	}

	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatalf("read build info: %v", err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	for key, want := range map[string]string{"GOOS": "linux", "GOARCH": "amd64", "CGO_ENABLED": "1", "-trimpath": "true"} {
		if settings[key] != want {
			t.Errorf("built with %s=%q, want %q", key, settings[key], want)
		}
	}
	// netgo and osusergo keep glibc's NSS (getaddrinfo, getpwnam), which a
	// static glibc can only load from the host's shared libraries, out of
	// the binary; sqlite_omit_load_extension keeps dlopen out.
	tags := strings.Split(settings["-tags"], ",")
	for _, tag := range []string{"netgo", "osusergo", "sqlite_omit_load_extension"} {
		if !slices.Contains(tags, tag) {
			t.Errorf("built without the %s tag (tags: %q)", tag, settings["-tags"])
		}
	}
	if !slices.ContainsFunc(info.Deps, func(m *debug.Module) bool { return m.Path == "github.com/mattn/go-sqlite3" }) {
		t.Error("the release binary does not link the SQLite driver")
	}

	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("%s version: %v\n%s", bin, err, out)
	}
	if v := os.Getenv("PARKD_RELEASE_VERSION"); v != "" && strings.TrimSpace(string(out)) != "parkd "+v {
		t.Errorf("%s version printed %q, want %q", bin, out, "parkd "+v)
	}
	t.Logf("%s version: %s", bin, strings.TrimSpace(string(out)))
}

// TestStaticProblemsFindsADynamicBinary runs the release check on this test
// binary, which links cgo SQLite dynamically, so the check is known to
// catch what it looks for.
func TestStaticProblemsFindsADynamicBinary(t *testing.T) {
	bi, ok := debug.ReadBuildInfo()
	if !ok || !slices.Contains(bi.Settings, debug.BuildSetting{Key: "CGO_ENABLED", Value: "1"}) {
		t.Skip("this test binary was built without cgo, so it is static")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	problems := strings.Join(staticProblems(self), "\n")
	for _, want := range []string{"PT_INTERP", "PT_DYNAMIC", "libc.so"} {
		if !strings.Contains(problems, want) {
			t.Errorf("the check on a dynamic binary does not report %s; it reports:\n%s", want, problems)
		}
	}
}

// staticProblems lists why the ELF file at path is not a static
// linux/amd64 executable that runs on oldestKernel; none when it is.
func staticProblems(path string) []string {
	f, err := elf.Open(path)
	if err != nil {
		return []string{fmt.Sprintf("open %s: %v", path, err)}
	}
	defer f.Close()
	var problems []string
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		problems = append(problems, fmt.Sprintf("%s is %v %v %v, not a linux/amd64 executable", path, f.Class, f.Machine, f.OSABI))
	}
	for _, p := range f.Progs {
		switch p.Type {
		case elf.PT_INTERP:
			interp, _ := io.ReadAll(p.Open())
			problems = append(problems, fmt.Sprintf("%s has a PT_INTERP header: it needs the dynamic loader %s", path, bytes.TrimRight(interp, "\x00")))
		case elf.PT_DYNAMIC:
			problems = append(problems, fmt.Sprintf("%s has a PT_DYNAMIC header: it is dynamically linked", path))
		}
	}
	if libs, err := f.ImportedLibraries(); err == nil && len(libs) > 0 {
		problems = append(problems, fmt.Sprintf("%s needs shared libraries (DT_NEEDED): %s", path, strings.Join(libs, ", ")))
	}
	if kernel, ok := minKernel(f); ok && compareVersion(kernel, oldestKernel) > 0 {
		problems = append(problems, fmt.Sprintf("%s needs Linux %d.%d.%d, newer than %d.%d.%d", path,
			kernel[0], kernel[1], kernel[2], oldestKernel[0], oldestKernel[1], oldestKernel[2]))
	}
	return problems
}

// minKernel reads the oldest Linux kernel the C library in f supports, from
// its .note.ABI-tag (name "GNU", type 1, OS 0 = Linux, then the version).
func minKernel(f *elf.File) ([3]uint32, bool) {
	s := f.Section(".note.ABI-tag")
	if s == nil {
		return [3]uint32{}, false
	}
	b, err := s.Data()
	if err != nil || len(b) < 32 || string(b[12:16]) != "GNU\x00" {
		return [3]uint32{}, false
	}
	le := binary.LittleEndian
	if le.Uint32(b[0:]) != 4 || le.Uint32(b[4:]) != 16 || le.Uint32(b[8:]) != 1 || le.Uint32(b[16:]) != 0 {
		return [3]uint32{}, false
	}
	return [3]uint32{le.Uint32(b[20:]), le.Uint32(b[24:]), le.Uint32(b[28:])}, true
}

func compareVersion(a, b [3]uint32) int {
	return slices.Compare(a[:], b[:])
}
