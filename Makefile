# Parley: the two commands are `make demo` (process the sample meeting) and
# `make test` (the whole suite against the real stack). `make help` lists all.
SHELL := /bin/bash
.DEFAULT_GOAL := help

.PHONY: help
help: ## list targets
	@awk 'BEGIN{FS=":.*## "} /^[a-z][a-z-]*:.*## /{printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: up
up: ## start the local stack (installs what is missing; idempotent)
	@scripts/stack.sh up

.PHONY: down
down: ## stop everything `make up` started (keeps data)
	@scripts/stack.sh down

.PHONY: status
status: ## show which stack services run
	@scripts/stack.sh status

.PHONY: demo
demo: ## make up, then process the bundled sample meeting and print the result
	@scripts/demo.sh

# golangci-lint, pinned in its own tools module (built once, then cached by go).
LINT := go tool -modfile=tools/lint/go.mod golangci-lint

.PHONY: test
test: ## install what is missing, lint, then the whole test suite against the real stack (CI runs this)
	@scripts/stack.sh install
	@$(MAKE) --no-print-directory lint
	@scripts/test.sh

.PHONY: lint
lint: ## golangci-lint (.golangci.yml; version pinned in tools/lint/go.mod)
	@pkg-config --exists libavcodec libavfilter 2>/dev/null || { echo "lint: FFmpeg's headers are missing (media/ uses cgo); run 'scripts/stack.sh install' or 'make up' first" >&2; exit 1; }
	@$(LINT) run ./...

.PHONY: check
check: vet lint ## vet, lint and the fast tier (go test -short, node --test): no stack needed
	@node --test --test-reporter=dot api/webtest/
	@go test -short ./...

.PHONY: bench
bench: ## benchmarks; results under bench/results/
	@scripts/bench.sh

.PHONY: bench-restart
bench-restart: ## restart your stack 5x (make down/up) and time the first meeting after each start
	@scripts/bench-restart.sh

.PHONY: chaos
chaos: ## the whole fault-injection suite (make test runs its fast part)
	@GOTESTFLAGS="-tags chaos -run Chaos|Fault|WorkerCrash|Hostile -p 1" scripts/test.sh

.PHONY: dashboard
dashboard: ## build the Hatchet dashboard of the pinned version (make up does too) and serve it
	@scripts/dashboard.sh

.PHONY: build
build: ## build bin/parley and bin/parley-sim
	@go build -o bin/ ./cmd/parley ./cmd/parley-sim

.PHONY: vet
vet: ## go vet + gofmt check
	@go vet ./... && test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); exit 1; }
