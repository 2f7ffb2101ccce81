# hookline — webhook normalization gateway. `make help` lists the targets.
# Every tool runs at a version pinned in tools/go.mod (buf, protoc plugins)
# or in clients/ts/package-lock.json (protoc-gen-es, TypeScript), so a fresh
# clone needs only Go, Node 20 with npm, and make.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

GO       ?= go
TOOL     := $(GO) tool -modfile=tools/go.mod
BUF      := $(TOOL) buf
BASELINE := proto/baseline.binpb
BIN      := bin
NPM      ?= npm
TS       := clients/ts
# Extra flags for `go test` (e.g. TESTFLAGS='-run TestIngest -count=1').
TESTFLAGS ?=

.PHONY: help
help: ## List the targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: generate
generate: $(TS)/node_modules ## Regenerate gen/ (Go) and clients/ts/gen/ (TypeScript) from proto/ (local plugins only).
	$(BUF) generate

.PHONY: check-generate
check-generate: $(TS)/node_modules ## Fail when `make generate` would change gen/ or clients/ts/gen/.
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	$(BUF) generate -o "$$tmp"; \
	stale=0; \
	for d in gen $(TS)/gen; do \
		if ! diff -r "$$d" "$$tmp/$$d" >/dev/null; then \
			{ diff -r "$$d" "$$tmp/$$d" || true; } | head -40; \
			echo "$$d/ is stale: run 'make generate' and commit the result" >&2; stale=1; \
		fi; \
	done; \
	if [ "$$stale" != 0 ]; then exit 1; fi; echo "gen/ and $(TS)/gen/ are up to date"

# The TypeScript client's npm packages (protoc-gen-es for `generate`, tsc for
# `test-ts`), exactly as pinned in its package-lock.json.
$(TS)/node_modules: $(TS)/package.json $(TS)/package-lock.json
	cd $(TS) && $(NPM) ci --no-audit --no-fund
	@touch $@

.PHONY: breaking
breaking: ## Fail on breaking changes against the released baseline and the previous commit.
	$(BUF) breaking --against $(BASELINE)
	@if git rev-parse -q --verify HEAD~1 >/dev/null 2>&1 && \
	    git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then \
		echo "buf breaking --against .git#ref=HEAD~1"; \
		$(BUF) breaking --against '.git#ref=HEAD~1'; \
	fi

.PHONY: baseline
baseline: ## Record the current contract as the release baseline for `make breaking`.
	$(BUF) build -o $(BASELINE)

.PHONY: lint
lint: ## go vet, staticcheck, gofmt, buf lint and buf format.
	$(GO) vet ./...
	$(TOOL) staticcheck ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go') | grep -v '^gen/' || true); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(BUF) lint
	$(BUF) format -d --exit-code

.PHONY: check-deploy
check-deploy: ## Check the alert rules in deploy/ with promtool: they parse, lint clean, and pass their unit tests (deploy/prometheus/alerts_test.yml).
	$(TOOL) promtool check rules --lint=all --lint-fatal deploy/prometheus/alerts.yml
	$(TOOL) promtool test rules deploy/prometheus/alerts_test.yml

.PHONY: test
test: lint check-generate check-deploy breaking test-ts ## What CI runs: lint, generated-code, deploy-rules and breaking checks, the TypeScript client's tests, then all Go tests with -race.
	$(GO) test -race -timeout 12m $(TESTFLAGS) ./...

.PHONY: test-ts
test-ts: $(TS)/node_modules ## Type-check and build clients/ts, then run its tests (node --test) against the real gateway.
	cd $(TS) && $(NPM) test

.PHONY: bench
bench: ## Run the Go benchmarks and write their figures and goals into BENCHMARKS.md (about 5 min on 2 cores).
	@mkdir -p $(BIN)
	$(GO) test -run '^$$' -bench . -benchtime 1s -timeout 20m $(BENCHFLAGS) ./... | tee $(BIN)/bench.txt
	$(GO) run ./scripts/benchreport -section go -in $(BIN)/bench.txt

.PHONY: bench-ingest
bench-ingest: ## The ingest goals on the real binary (wrk, a no-op handler, the JetStream floors), embedded NATS then a nats-server of its own, written into BENCHMARKS.md (needs wrk; scripts/bench.sh lists its settings; about 20 min).
	@mkdir -p $(BIN)
	bash scripts/bench.sh | tee $(BIN)/ingest.txt
	$(GO) run ./scripts/benchreport -section ingest -in $(BIN)/ingest.txt
	NATS=external bash scripts/bench.sh | tee $(BIN)/ingest-external.txt
	$(GO) run ./scripts/benchreport -section ingest-external -in $(BIN)/ingest-external.txt

# The fuzzers `make reliability` runs after the suite, package:Fuzzer, each
# for FUZZTIME in a `go test -fuzz` of its own.
FUZZERS ?= adapters/truv:FuzzNormalize adapters/truv:FuzzVerify \
	adapters/finicity:FuzzNormalize adapters/finicity:FuzzVerify adapters/finicity:FuzzVerifyReserialize \
	adapters/swyft:FuzzNormalize adapters/swyft:FuzzVerify server:FuzzIngest \
	internal/eventlog:FuzzKeyToken internal/eventlog:FuzzEscapeToken adapters/adaptertest:FuzzFakeNormalize
FUZZTIME ?= 20s
# Minimizing a new input is bounded by executions: a time bound (5s) made
# the slower targets spend most of FUZZTIME minimizing (Swyft FuzzNormalize ran
# 20 inputs in 20 s, 105 000 with a bound of 100 executions).
FUZZMINIMIZE ?= 200x

.PHONY: reliability
reliability: ## Try to lose or duplicate data on the built binary (kill -9, duplicate storms, failover, stuck subscribers, bad input; ~15 min), then each fuzzer for FUZZTIME; writes RELIABILITY.md.
	@status=0; \
	$(GO) test ./internal/reliability -run . -count=1 -timeout 60m -reliability.full -v || status=1; \
	{ echo "## Fuzzing"; echo; \
	  echo "Each fuzzer ran for $(FUZZTIME) (\`go test -fuzz … -parallel 1 -fuzzminimizetime $(FUZZMINIMIZE)\`) after the suite; executions are the fuzzer's own count."; echo; \
	  echo "| fuzzer | executions | result |"; echo "|---|---:|---|"; } >> RELIABILITY.md; \
	for f in $(FUZZERS); do \
		pkg=$${f%%:*}; name=$${f##*:}; \
		echo "fuzzing $$pkg $$name for $(FUZZTIME)"; \
		if out=$$($(GO) test ./$$pkg -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime $(FUZZMINIMIZE) -parallel 1 2>&1); \
		then result="no failures"; else result="**FAILED**"; status=1; fi; \
		echo "$$out" | tail -4; \
		execs=$$(echo "$$out" | grep -o 'execs: [0-9]*' | tail -1 | cut -d' ' -f2); \
		echo "| \`$$pkg\` $$name | $${execs:-?} | $$result |" >> RELIABILITY.md; \
	done; \
	echo "wrote RELIABILITY.md"; exit $$status

# The commit `hookline version` prints. Go stamps it itself (vcs.revision)
# when it builds in a primary git checkout, but not in a linked worktree
# (golang/go#58218) nor with GOFLAGS=-buildvcs=false; these linker values
# cover both, and win over Go's when both are there. Recursive (=) so that
# git runs only when `build` does.
VCS_LDFLAGS = -X main.buildCommit=$(shell git rev-parse HEAD 2>/dev/null) \
	-X main.buildCommitTime=$(shell git show -s --format=%cI HEAD 2>/dev/null) \
	-X main.buildModified=$(shell if [ -n "$$(git status --porcelain 2>/dev/null)" ]; then echo true; else echo false; fi)

.PHONY: build
build: ## Build bin/hookline (the gateway and its CLI), stamped with the git commit for `hookline version`.
	$(GO) build -ldflags '$(VCS_LDFLAGS)' -o $(BIN)/hookline ./cmd/hookline

DEV_ENV := HOOKLINE_DEV_TRUV_SECRET=dev-truv-access-secret \
	HOOKLINE_DEV_FINICITY_SECRET=dev-finicity-partner-secret \
	HOOKLINE_DEV_SWYFT_AUTH='Bearer dev-swyft-token' \
	HOOKLINE_ADMIN_TOKENS=dev-admin-token

.PHONY: run
run: build ## Build, then start the gateway on 127.0.0.1:8080 (HTTP) and :9090 (gRPC) with config/dev.yaml and embedded NATS in ./data (Ctrl-C stops it).
	@# exec: the gateway takes make's place, so Ctrl-C stops it cleanly.
	$(DEV_ENV) exec $(BIN)/hookline --config config/dev.yaml $(ARGS)

.PHONY: clean-data
clean-data: ## Start over: remove ./data (the log and the index of `make run`); stop the gateway first.
	rm -rf data

.PHONY: tools
tools: ## Build the pinned tools once (buf, grpcurl, staticcheck, promtool), so their first use is quick.
	$(TOOL) grpcurl -version
	$(BUF) --version
	$(TOOL) staticcheck -version
	$(TOOL) promtool --version
