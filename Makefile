# veille — make targets. The two a newcomer needs: `make run` and `make test`.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN := bin
TOOLS := $(CURDIR)/bin/tools
STATICCHECK_VERSION := v0.7.0
FUZZTIME ?= 20s
export CGO_ENABLED ?= 0

.PHONY: all build run test check lint deps tools fmt vet staticcheck tidy cross bench fuzz clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/veille ./cmd/veille

## run: the demo — simulated hardware, embedded broker, a night in about a minute.
run: build
	$(BIN)/veille demo

## test: every test (installs what the tests need when missing: mosquitto, dbus-daemon).
test: deps
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...

## check: formatting, vet, staticcheck, tidy, cross-builds, and every test with -race.
check: lint test

lint: fmt vet staticcheck tidy cross

deps:
	@./.ci/deps.sh

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

staticcheck: $(TOOLS)/staticcheck
	$(TOOLS)/staticcheck ./...

tidy:
	$(GO) mod tidy -diff

cross:
	GOOS=linux GOARCH=arm64 $(GO) build -o /dev/null ./...
	GOOS=linux GOARCH=arm GOARM=7 $(GO) build -o /dev/null ./...
	GOOS=linux GOARCH=amd64 $(GO) build -o /dev/null ./...

## bench: benchmarks; figures go to BENCHMARKS.md by hand (see there).
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./... | tee bin/bench.txt

## fuzz: each fuzz target for FUZZTIME (default 20s).
fuzz:
	@./.ci/fuzz.sh $(FUZZTIME)

clean:
	rm -rf $(BIN)
