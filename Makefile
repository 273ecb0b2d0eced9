# parkd: call park for FreeSWITCH.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
export CGO_ENABLED = 1

.PHONY: all build test check demo demo-serve fuzz clean release release-check

all: build

## build: bin/parkd (the daemon and operator CLI), bin/parkd-bench (the load tool) and bin/parkd-demo
build:
	$(GO) build -ldflags "-X github.com/parkd/parkd/cli.Version=$(VERSION)" -o bin/parkd ./cmd/parkd
	$(GO) build -o bin/parkd-bench ./cmd/parkd-bench
	$(GO) build -o bin/parkd-demo ./cmd/parkd-demo

## test: static checks, every test with the race detector, then the SIGKILL test at full size
test: check
	$(GO) test -race -count=1 ./...
	$(GO) test -count=1 -run 'TestE2E_Kill9MidTraffic' ./cmd/parkd

## check: formatting, vet, the domain's dependency rule, and a production binary free of test code
check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@if $(GO) list -deps ./parking/... | grep -E 'eslgo|go-sqlite3|BurntSushi/toml|parkd/(esl|store|conf|fsconf)$$'; then \
	  echo "package parking must not depend on adapters or drivers"; exit 1; fi
	@if $(GO) list -deps ./cmd/parkd | grep -E '^testing$$|/esl/fstest$$|/storetest$$|/internal/testkit$$|/internal/pgtest$$'; then \
	  echo "the production binary cmd/parkd must not link test code or the simulator"; exit 1; fi

## release: a static linux/amd64 parkd in dist/. SQLite is compiled in with
## cgo and glibc is linked statically, so the binary needs nothing from the
## host but the kernel: it runs on Debian 11, RHEL 8 (glibc 2.28) and newer.
## Build it on linux/amd64 with glibc's static libraries (libc6-dev).
## netgo and osusergo use Go's resolver and user lookup instead of glibc's
## NSS, which a static glibc could only load from the host's shared
## libraries; the build is refused if the linker still warns about that.
DIST            ?= dist
RELEASE_BIN     := $(DIST)/parkd-linux-amd64
RELEASE_TAGS    := netgo osusergo sqlite_omit_load_extension
RELEASE_LDFLAGS := -linkmode external -extldflags "-static" -s -w -X github.com/parkd/parkd/cli.Version=$(VERSION)
release:
	@mkdir -p $(DIST)
	@echo "building $(RELEASE_BIN) ($(VERSION))"
	@out=$$(GOOS=linux GOARCH=amd64 $(GO) build -trimpath -tags '$(RELEASE_TAGS)' \
	    -ldflags '$(RELEASE_LDFLAGS)' -o $(RELEASE_BIN) ./cmd/parkd 2>&1); rc=$$?; \
	  if [ -n "$$out" ]; then echo "$$out"; fi; \
	  if [ $$rc -ne 0 ]; then exit $$rc; fi; \
	  if echo "$$out" | grep -q 'statically linked applications requires at runtime'; then \
	    rm -f $(RELEASE_BIN); echo "release: the static binary would need glibc's shared libraries at run time"; exit 1; fi
	@ls -l $(RELEASE_BIN)

## release-check: build the release binary and prove it: static (no loader, no
## shared libraries), built with the release flags, and `parkd version` runs.
## Separate from test: the cold static build takes about two minutes on 2 cores.
release-check: release
	PARKD_RELEASE_BIN=$(abspath $(RELEASE_BIN)) PARKD_RELEASE_VERSION=$(VERSION) \
	  $(GO) test -count=1 -run '^TestReleaseBinary$$' -v ./cmd/parkd

## demo: the hospital scenario against the built-in FreeSWITCH simulator
demo:
	rm -f parkd-demo.db parkd-demo.db-wal parkd-demo.db-shm
	$(GO) run ./cmd/parkd-demo --db parkd-demo.db

## demo-serve: the board on 127.0.0.1:8085 with synthetic calls on the simulator, until Ctrl-C
demo-serve:
	rm -f parkd-demo.db parkd-demo.db-wal parkd-demo.db-shm
	$(GO) run ./cmd/parkd-demo --db parkd-demo.db --serve

## fuzz: a short run of every fuzz target (FUZZTIME per target)
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzReadFrame$$' -fuzztime $(FUZZTIME)
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzURLCode$$' -fuzztime $(FUZZTIME)
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzParseRequest$$' -fuzztime $(FUZZTIME)
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzReplacesCallID$$' -fuzztime $(FUZZTIME)
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzBuilders$$' -fuzztime $(FUZZTIME)
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzAppendEventFrame$$' -fuzztime $(FUZZTIME)
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzParseEventOracle$$' -fuzztime $(FUZZTIME)
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzReaderOracle$$' -fuzztime $(FUZZTIME)
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzOriginateCommand$$' -fuzztime $(FUZZTIME)
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzInstance$$' -fuzztime $(FUZZTIME)
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzPresenceIn$$' -fuzztime $(FUZZTIME)
	$(GO) test ./esl -run '^$$' -fuzz '^FuzzScanShowCalls$$' -fuzztime $(FUZZTIME)
	$(GO) test ./conf -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/passhash -run '^$$' -fuzz '^FuzzCheck$$' -fuzztime $(FUZZTIME)
	$(GO) test ./web -run '^$$' -fuzz '^FuzzQuery$$' -fuzztime $(FUZZTIME)
	$(GO) test ./web -run '^$$' -fuzz '^FuzzSlotJSON$$' -fuzztime $(FUZZTIME)

clean:
	rm -rf bin $(DIST) parkd-demo.db parkd-demo.db-wal parkd-demo.db-shm

## bench: the load scenarios of BENCHMARKS.md against the simulator (each under 3 minutes on 2 cores), then the Go benchmarks
BENCH_SCENARIOS ?= steady parked10k burst report1m
bench: build
	@for s in $(BENCH_SCENARIOS); do echo "== parkd-bench --scenario $$s"; bin/parkd-bench --scenario $$s || exit 1; done
	$(GO) test -run '^$$' -bench . -benchtime 1s ./parking ./esl
	$(GO) test -run '^$$' -bench 'BenchmarkRecord$$' -benchtime 1s ./store
