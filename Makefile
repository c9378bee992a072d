# vigil's developer entry points. `make test` is the whole suite, exactly as CI runs it.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build test lint fmt run keys-demo clean

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/vigil ./cmd/vigil

test:
	scripts/test.sh

lint:
	$(GO) vet ./...
	@out="$$(gofmt -l $$(git ls-files '*.go'))"; if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

run: build
	scripts/run.sh

keys-demo: build
	scripts/keys-demo.sh

clean:
	rm -rf bin

# The end-to-end run alone (about 11 minutes): builds or reuses the devnet and
# Vault binaries first, and fails rather than skips without them.
.PHONY: e2e
e2e:
	VIGIL_DEVNET_BIN_DIR="$$(scripts/build-devnet.sh)" VIGIL_VAULT_BIN="$$(scripts/build-vault.sh)" VIGIL_REQUIRE_INTEGRATION=1 \
		$(GO) test -race -count=1 -v -timeout 40m -run TestDevnet ./e2e/

# Every fuzzer in the repository (each `func FuzzXxx` in a _test.go file), one
# at a time for FUZZTIME each with one worker, so that it fits beside other
# work (FUZZTIME=1000000x runs a million executions instead). New corpus
# entries land in Go's cache; FUZZ_SAVE=1 copies them into each package's
# testdata/fuzz/FuzzXxx to be committed.
FUZZTIME ?= 30s
FUZZMINIMIZETIME ?= 10s
.PHONY: fuzz
fuzz:
	@set -e; cache="$$($(GO) env GOCACHE)/fuzz/$$($(GO) list -m)"; \
	for file in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
		dir=$$(dirname $$file); \
		for name in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$file); do \
			echo "== $$name (./$$dir)"; \
			$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZETIME) -parallel 1 ./$$dir; \
			if [ -n "$(FUZZ_SAVE)" ] && [ -d "$$cache/$$dir/$$name" ]; then \
				mkdir -p $$dir/testdata/fuzz/$$name && cp -n $$cache/$$dir/$$name/* $$dir/testdata/fuzz/$$name/; \
			fi; \
		done; \
	done
