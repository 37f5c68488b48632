# celeroot — `make help` lists the targets.
SHELL := /bin/bash
GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64

.PHONY: help build install test unit e2e e2e-long bench lint fuzz fuzz-short dist deps clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  %-10s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## Build ./bin/cl for this machine
	@test -e bin/cl || echo "building bin/cl: the first build downloads and compiles the Go dependencies (a few minutes, no output meanwhile)"
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/cl ./cmd/cl

install: build ## Install cl into /usr/local/bin
	install -m 0755 bin/cl /usr/local/bin/cl

deps: ## Install (as root) or list the Debian packages the tests need
	@scripts/deps.sh

test: deps lint ## The whole test suite: lint (gofmt, vet, staticcheck, go mod tidy), unit, e2e (real sshd, redis-server, git), task scripts
	$(GO) test -count=1 -timeout 25m ./...
	bash examples/fleet/tasks/test_scripts.sh
	$(MAKE) --no-print-directory fuzz-short

unit: ## Unit tests only (no root, no services)
	$(GO) test -count=1 -short ./...

e2e: deps ## End-to-end tests only (needs root: network namespaces, sshd)
	$(GO) test -count=1 -timeout 25m ./e2e/...

e2e-long: deps ## Long soak and fault runs (not part of make test)
	CL_E2E_LONG=1 $(GO) test -count=1 -timeout 60m ./e2e/...

bench: deps build ## Benchmarks: go test -bench plus bench/ scripts against peers; updates nothing by itself
	$(GO) test -run '^$$' -bench . -benchmem ./config/ ./queue/
	@for s in bench/*/run.sh; do [ -x "$$s" ] && { echo "== $$s"; "$$s"; } || true; done

STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := $(shell $(GO) env GOPATH)/bin/staticcheck

lint: ## gofmt, go vet, staticcheck (installed at STATICCHECK_VERSION when missing), go mod tidy leaves no diff, cl builds for macOS
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@[ -x "$(STATICCHECK)" ] || { echo "installing staticcheck $(STATICCHECK_VERSION)"; $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION); }
	$(STATICCHECK) ./...
	@$(GO) mod tidy -diff || { echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1; }
	CGO_ENABLED=0 GOOS=darwin GOARCH=arm64 $(GO) build -o /dev/null ./cmd/cl

FUZZTIME ?= 60s
FUZZ_TARGETS := config:FuzzLoad config:FuzzEdits signing:FuzzAllowedSigners signing:FuzzSignatureFile

fuzz: ## Fuzz the config loader and editor and the allowed-signers parser, FUZZTIME (60s) each
	@for t in $(FUZZ_TARGETS); do \
		p=$${t%%:*}; f=$${t#*:}; \
		echo "== $$p $$f ($(FUZZTIME))"; \
		$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) ./$$p/ || exit 1; \
	done

# fuzz-short counts executions rather than seconds: a duration budget on a
# loaded machine can fail with "context deadline exceeded" and no crasher
# (golang/go#75804), which CI must not report as a finding.
fuzz-short: ## The fuzz targets for 5000 executions each, ~10s (part of make test)
	@$(MAKE) --no-print-directory fuzz FUZZTIME=5000x

dist: ## Static binaries for every platform into dist/ (goreleaser when installed: `goreleaser release --snapshot --clean`)
	@mkdir -p dist
	@for p in $(PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; \
		echo "dist/cl_$${os}_$${arch}/cl"; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o dist/cl_$${os}_$${arch}/cl ./cmd/cl || exit 1; \
	done

clean: ## Remove build output
	rm -rf bin dist
