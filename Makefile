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

.PHONY: all build run test check lint deps tools fmt vet staticcheck tidy cross bench fuzz clean deb image image-inject image-test

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN)/veille ./cmd/veille

## run: the demo — simulated hardware, embedded broker, a night in about a minute.
run: build
	$(BIN)/veille demo

## test: every test (installs what the tests need when missing: mosquitto, dbus-daemon, node and npm),
## then the recipes of docs/recipes run in Telegraf and Node-RED against veille (tests/recipes, its own module;
## the first run builds Telegraf and installs Node-RED into bin/recipes/).
test: deps
	CGO_ENABLED=1 $(GO) test -race -count=1 -timeout 20m ./...
	cd tests/recipes && CGO_ENABLED=0 $(GO) test -count=1 -timeout 15m -v ./...

## check: formatting, vet, staticcheck, tidy, cross-builds, and every test with -race.
check: lint test

lint: fmt vet staticcheck tidy cross

deps:
	@./.ci/deps.sh

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...
	cd tests/recipes && $(GO) vet ./...

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

## bench: every figure of BENCHMARKS.md (about 13 minutes), printed and written there; see bench/run.sh.
bench: deps
	./bench/run.sh

## fuzz: each fuzz target for FUZZTIME (default 20s).
fuzz:
	@./.ci/fuzz.sh $(FUZZTIME)

clean:
	rm -rf $(BIN)

## deb: veille_<version>_{arm64,armhf,amd64}.deb in dist/ (dpkg-deb), checked by lintian.
deb:
	VERSION=$(VERSION) ./packaging/build.sh dist

## image: bootable Raspberry Pi SD-card image in dist/ (.img.xz, .bmap, .sha256); root, Debian's archive.
image:
	VERSION=$(VERSION) DIST=$(CURDIR)/dist ./image/build.sh

## image-inject BASE=x.img [CONFIG=veille.toml] [OMV_REPO=uri OMV_KEYRING=file]: veille into an existing image.
image-inject:
	@test -n "$(BASE)" || { echo "usage: make image-inject BASE=path/to/base.img [CONFIG=veille.toml] [OMV_REPO=uri OMV_KEYRING=keyring.gpg]"; exit 2; }
	VERSION=$(VERSION) ./packaging/build.sh dist arm64 >/dev/null
	./image/inject.sh $(if $(CONFIG),--config $(CONFIG)) $(if $(OMV_REPO),--omv-repo $(OMV_REPO)) \
		$(if $(OMV_SUITE),--omv-suite $(OMV_SUITE)) $(if $(OMV_KEYRING),--omv-keyring $(OMV_KEYRING)) \
		$(BASE) dist/veille_$$(./packaging/version.sh $(VERSION))_arm64.deb \
		dist/$$(basename $(BASE) | sed -E 's/(\.img)?(\.xz)?$$//')+veille.img

## image-test [VEILLE_IMAGE=dist/x.img]: boots the image under QEMU and checks veille in it (needs make image).
image-test:
	./image/test-deps.sh
	VEILLE_IMAGE=$${VEILLE_IMAGE:-$$(ls -t dist/veille-*-rpi-arm64.img | head -n1)} \
		$(GO) test -count=1 -v -timeout 30m ./tests/image/

.PHONY: faults-long soak

## faults-long: the long variants of tests/faults (100 kills, longer broker outages, more sensor faults, noise on a sensor), verbose: each test prints what it injected and counted.
faults-long: deps
	VEILLE_LONG=1 $(GO) test -count=1 -v -timeout 60m ./tests/faults/

## soak: 30 simulated days of veille demo against mosquitto (about ten minutes); the figures go to bin/soak.md (for BENCHMARKS.md, "Soak").
soak: deps
	@mkdir -p $(BIN)
	VEILLE_SOAK=1 VEILLE_SOAK_REPORT=$(CURDIR)/$(BIN)/soak.md $(GO) test -count=1 -v -timeout 90m ./tests/soak/
