# Build, test and run the Telegram bot gateway. `make help` lists targets.
SHELL := /bin/bash
GO ?= go
BIN := bin
PKG := github.com/tgbotsvc/tgbot
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X $(PKG)/internal/buildinfo.Version=$(VERSION) -X $(PKG)/internal/buildinfo.Commit=$(COMMIT)
STATICCHECK_VERSION := v0.8.2
GOBIN_DIR := $(shell $(GO) env GOPATH)/bin
STATICCHECK := $(GOBIN_DIR)/staticcheck
GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(GOBIN_DIR)/golangci-lint
BINARIES := receiver sender tgemu
EXTRA_BINARIES := $(patsubst cmd/%/,%,$(filter-out $(addprefix cmd/,$(addsuffix /,$(BINARIES))),$(wildcard cmd/*/)))

.PHONY: all help build test test-short unit lint vet fmt tools demo demo-scale bench clean compose-check

all: build

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/receiver, bin/sender, bin/tgemu (and the other tools in cmd/)
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/ $(addprefix ./cmd/,$(BINARIES) $(EXTRA_BINARIES))

test: tools vet lint compose-check ## vet, lint, validate compose files, and run every test with -race
	$(GO) test -race -count=1 -timeout 15m ./...

test-short: ## the quick edit-test loop: go test -short -race, without the tests that build binaries or run whole process stacks
	$(GO) test -short -race -count=1 -timeout 5m ./...

unit: ## go test -race without the linters
	$(GO) test -race -count=1 -timeout 15m ./...

vet: ## go vet
	$(GO) vet ./...

lint: tools ## golangci-lint (.golangci.yml: staticcheck, govet, errcheck, unused, gocyclo, gochecknoinits)
	$(GOLANGCI_LINT) run ./...

fmt: ## gofmt the tree
	gofmt -s -w $$(git ls-files '*.go')

tools: ## install the linters (pinned versions) if missing
	@$(GOLANGCI_LINT) version 2>/dev/null | grep -q 'version $(GOLANGCI_LINT_VERSION:v%=%) ' || \
		$(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)
	@test -x $(STATICCHECK) || $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

compose-check: ## validate the compose files (docker-compose v1 when installed; go test ./deployments always)
	@if command -v docker-compose >/dev/null 2>&1; then \
		test -f .env || cp .env.example .env; \
		docker-compose -f docker-compose.yml config -q && \
		docker-compose -f docker-compose.yml -f deployments/docker-compose.offline.yml config -q && \
		docker-compose --env-file .env -f deployments/docker-compose.scale.yml config -q && \
		echo "compose files: valid"; \
	else echo "docker-compose not installed: compose files are checked by go test ./deployments"; fi

demo: build ## the whole loop offline: emulator, receiver, sender, example downstream, scripted chat (DEMO_ONCE=1: exit after it)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/downstream ./examples/downstream
	$(BIN)/demo

demo-scale: build ## the receiver scaled out, offline: nats-server, emulator, sender, downstream, 2 receivers; kills the active one midway (DEMO_ONCE=1: exit with the result)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/downstream ./examples/downstream
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/nats-server github.com/nats-io/nats-server/v2
	$(BIN)/demo-scale

bench: build ## benchmarks of the real binaries vs a bare gotd client; writes docs/BENCHMARKS.md (BENCH_FLAGS=-quick)
	$(BIN)/bench -bin $(BIN) -out docs/BENCHMARKS.md $(BENCH_FLAGS)

clean: ## remove build output
	rm -rf $(BIN)
