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

.PHONY: e2e
e2e:
	$(GO) test -race -count=1 -v -run TestDevnet ./e2e/
