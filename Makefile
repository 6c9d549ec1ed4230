# Axon: eBPF L7 HTTP policy and observability. `make help` lists the targets.

SHELL := /usr/bin/env bash
GO ?= go
BIN := bin
FUZZTIME ?= 1m
export CGO_ENABLED ?= 0

.DEFAULT_GOAL := help

##@ General

.PHONY: help
help: ## Show this list of targets.
	@awk 'BEGIN {FS = ":.*##"; printf "Usage: make <target>\n"} \
		/^[a-zA-Z0-9_-]+:.*?##/ { printf "  %-18s %s\n", $$1, $$2 } \
		/^##@/ { printf "\n%s\n", substr($$0, 5) }' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## Install the system packages the build and tests need (clang-19, libbpf-dev, bpftool, iproute2, curl).
	@scripts/deps.sh

##@ Development

.PHONY: generate
generate: deps ## Regenerate the BPF objects (bpf2go, clang-19; bpf/ and test/kernels/verifier), CRDs, deepcopy code, RBAC, the Grafana dashboards and deploy/monitoring's PrometheusRule.
	@scripts/gen-bpf.sh
	@scripts/gen-crds.sh
	@$(GO) run ./dashboards/gen -out dashboards
	@scripts/gen-deploy.sh

.PHONY: check-generated
check-generated: deps ## Fail if committed generated files differ from a fresh `make generate`.
	@scripts/check-generated.sh

.PHONY: build
build: ## Build every binary into bin/.
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/ ./cmd/...

VERSION ?= $(shell cat VERSION)

.PHONY: images
images: ## Build the agent and controller images (static binaries, empty base, amd64+arm64 OCI index) into bin/images/*.oci.tar for docker load / ctr import; PUSH=1 also pushes them.
	$(GO) run ./build/mkimages --version $(VERSION) --out $(BIN)/images $(if $(PUSH),--push)

.PHONY: lint
lint: deps ## Check formatting (gofmt, clang-format on bpf/, opa fmt on Rego), run go vet, and refuse tracked build output.
	@scripts/check-tracked.sh
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	@files=$$(git ls-files 'bpf/*.c' 'bpf/*.h' | grep -v '^bpf/include/vmlinux.h$$' || true); \
	if [ -n "$$files" ]; then clang-format-19 --dry-run --Werror $$files; fi
	@out=$$(scripts/opa.sh fmt --list policy/rego examples/policies); if [ -n "$$out" ]; then echo "opa fmt needed:"; echo "$$out"; exit 1; fi

##@ Test

.PHONY: test
test: deps check-generated lint test-go test-rego test-kernels ## Run everything: generated-file check, lint, Go tests (BPF and netns as root), Rego tests, kernel matrix.

.PHONY: test-go
test-go: envtest-assets ## Run the Go tests (BPF_PROG_TEST_RUN, netns end-to-end, compiler differential tests, webhook on a real API server).
	@KUBEBUILDER_ASSETS=$$(scripts/envtest-assets.sh) AXON_REQUIRE_ROOT=1 scripts/test.sh ./...

.PHONY: envtest-assets
envtest-assets: ## Build etcd and kube-apiserver for envtest into ~/.cache/axon/envtest (once; minutes cold, instant warm) and print the folder.
	@scripts/envtest-assets.sh

.PHONY: test-dashboards
test-dashboards: ## Only the dashboards and alerts: generated JSON current, promtool check/test rules, every query on a real Prometheus scraping a real agent (root).
	$(GO) test -count=1 ./dashboards/...
	$(GO) test -count=1 -run TestDashboardsOnPrometheus ./test/e2e/

.PHONY: test-rego
test-rego: ## Run `opa test` on the Rego library with the pinned OPA CLI.
	@scripts/opa.sh test -v --ignore '*.yaml' policy/rego examples/policies

.PHONY: fuzz
fuzz: ## Run every Go fuzz target for FUZZTIME each (default 1m; BPF targets as root). `make test` runs their corpus.
	@FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

.PHONY: test-kernels
test-kernels: ## Run the BPF suite on Linux 5.10, 6.1, 6.12 under QEMU and on this kernel (AXON_SKIP_KERNELS=1 skips).
	@scripts/kernels/test.sh

# The datapath BenchmarkBeforeAfter compares against: b346983 is the last
# commit before the TCP normalizer (docs/security.md).
BASELINE_REV ?= b346983

.PHONY: bench
bench: deps ## Run the benchmarks: BPF_PROG_TEST_RUN per-packet cost against a no-op program and against BASELINE_REV's datapath, compiler cost, control-plane reload (full load vs 1 and 100 of 1,000 policies changed), HTTP observer overhead.
	@base=$$(mktemp /tmp/axon-baseline.XXXXXX.o); \
	if git show $(BASELINE_REV):bpf/axon_bpfel.o > $$base 2>/dev/null; then export AXON_BASELINE_OBJ=$$base; \
	else echo "bench: no datapath object at $(BASELINE_REV) (shallow clone?): BenchmarkBeforeAfter skips"; fi; \
	$(GO) test -run '^$$' -bench . -benchmem -count 1 ./agent/datapath/... ./policy/...; st=$$?; rm -f $$base; exit $$st
	$(GO) test -run '^$$' -bench BenchmarkReload -benchmem -benchtime 3x -count 1 ./agent/
	$(GO) test -run '^$$' -bench 'Unmonitored|Throughput|Capture' -benchtime 1x -count 1 ./agent/observe/
	$(GO) test -run '^$$' -bench Reader -benchmem -count 1 ./agent/observe/

.PHONY: bench-e2e
bench-e2e: ## Side-by-side benchmark as root: no agent, Axon (1,000 and 10 rules, with the observer), HAProxy ACLs; control plane; writes bench/RESULTS.md (~15 min; BENCH_QUICK=1: 2 min).
	@scripts/bench-e2e.sh

##@ Demo

.PHONY: demo
demo: ## Run Axon end to end on this host: namespaces, a real server, the agent, real requests, verdicts and metrics.
	@scripts/demo.sh

.PHONY: clean
clean: ## Remove build output and anything a demo left attached.
	rm -rf $(BIN)
