SHELL := /bin/bash
.DEFAULT_GOAL := help

GO          ?= go
OCB_VERSION := v0.165.0
CACHE       := $(CURDIR)/.cache
# ocb is installed per version, so bumping OCB_VERSION installs the new one.
OCB         := $(CACHE)/bin/ocb-$(OCB_VERSION)/builder
DIST        := dist/otelcol-xdp
CONFIG      ?= testdata/default.yaml
# A count, not a duration: a duration-bounded run can fail spuriously with
# "context deadline exceeded" at its end (go.dev/issue/75804, unfixed in Go
# 1.26). 300000 runs take about 20 s here.
FUZZTIME    ?= 300000x
TEST_FLAGS  ?= -count=1 -timeout=30m
TEST_LOG    := $(CACHE)/test.log

# Everything the distribution is built from: a change to any of these makes
# `make run` rebuild the binary.
SOURCES := builder-config.yaml go.mod go.sum $(wildcard bpf/*.o) \
	$(shell find bpf internal xdpreceiver -name '*.go' -not -name '*_test.go' 2>/dev/null)

.PHONY: help
help: ## Show this help
	@echo "otelcol-xdp: an OpenTelemetry Collector that counts packets with XDP"
	@echo
	@echo "Targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-10s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: generate
generate: ## Regenerate the BPF object (bpf2go) and the receiver's metadata (mdatagen)
	@missing=""; \
	for tool in clang llvm-strip; do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	[ -e /usr/include/bpf/bpf_helpers.h ] || missing="$$missing bpf/bpf_helpers.h"; \
	if [ -n "$$missing" ]; then \
		echo "make generate: missing:$$missing" >&2; \
		echo "install them with: apt-get install clang llvm libbpf-dev" >&2; \
		exit 1; \
	fi
	$(GO) generate ./...

$(OCB):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)

.PHONY: ocb
ocb: $(OCB) ## Install ocb (the collector builder) into .cache/bin

.PHONY: build
build: $(DIST) ## Build the collector distribution into dist/otelcol-xdp with ocb

# ocb makes an empty /tmp/otelcol-distributionNNN on every run: give it a
# temporary directory of its own and remove that afterwards.
$(DIST): $(OCB) $(SOURCES)
	@tmp=$$(mktemp -d); \
	TMPDIR=$$tmp $(OCB) --config=builder-config.yaml; rc=$$?; \
	rm -rf $$tmp; exit $$rc
	@touch $@

# helm, per version like ocb, from the module proxy: deploy/'s tests lint and
# render the chart with it, and `make chart` packages it. go install leaves
# helm's version string at its minor version: -X sets the whole of it.
HELM_VERSION := v4.3.1
HELM         := $(CACHE)/bin/helm-$(HELM_VERSION)/helm
CHART        := deploy/helm/otelcol-xdp
# The collector's version, which the packaged chart's appVersion (and so its
# default image tag) must be.
CHART_APP_VERSION ?= $(shell sed -n 's/^  version: *//p' builder-config.yaml)

$(HELM):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install -ldflags=-X=helm.sh/helm/v4/internal/version.version=$(HELM_VERSION) helm.sh/helm/v4/cmd/helm@$(HELM_VERSION)

.PHONY: helm
helm: $(HELM) ## Install helm (the version deploy/'s tests use) into .cache/bin

.PHONY: chart
chart: $(HELM) ## Lint the Helm chart and package it into dist/ with appVersion CHART_APP_VERSION (the collector's version)
	$(HELM) lint --strict $(CHART)
	$(HELM) package $(CHART) --app-version $(CHART_APP_VERSION) --destination dist

# As root, or with a binary that has CAP_BPF and CAP_NET_ADMIN, do nothing;
# otherwise say what is needed and fail before anything cryptic happens.
# Kernels before 5.18 need CAP_PERFMON too (README, Least privilege).
CAPS := cap_bpf,cap_net_admin
define check_privileges
	@if [ "$$(id -u)" != 0 ]; then \
		caps=$$(getcap $(DIST) 2>/dev/null); \
		for c in cap_bpf cap_net_admin; do \
			case "$$caps" in *$$c*) ;; *) missing=1 ;; esac; \
		done; \
		if [ -n "$$missing" ]; then \
			echo "otelcol-xdp loads an eBPF program and attaches it to network interfaces with XDP." >&2; \
			echo "That needs CAP_BPF and CAP_NET_ADMIN (and CAP_PERFMON before Linux 5.18), which $$(id -un) does not have." >&2; \
			echo "Either run it as root:" >&2; \
			echo "    sudo make run" >&2; \
			echo "or give the binary those capabilities (again after each rebuild: a new binary has none):" >&2; \
			echo "    make build && sudo setcap $(CAPS)+ep $(DIST) && make run" >&2; \
			exit 1; \
		fi; \
	fi
endef

.PHONY: run
run: ## Build if needed and run the collector with testdata/default.yaml (CONFIG=...); needs root or capabilities
	$(check_privileges)
	@$(MAKE) --no-print-directory build
	$(check_privileges)
	./$(DIST) --config=$(CONFIG)

# What the tests run besides Go, as command:Debian package. A fresh Debian
# has them all but possibly systemd; as root, `make test` installs what is
# missing, and otherwise names it.
TEST_COMMANDS := setpriv:util-linux systemd-analyze:systemd

.PHONY: test-deps
test-deps: ## Install what the tests need besides Go (as root, with apt-get), or say what is missing
	@missing=""; \
	for pair in $(TEST_COMMANDS); do \
		command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "make test needs these packages:$$missing; install them as root: apt-get install$$missing" >&2; \
		exit 1; \
	fi; \
	echo "make test: installing what the tests need:$$missing (apt-get)"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null

.PHONY: test
test: test-deps build $(HELM) ## Run every test: go test ./... (privileged ones and e2e, needs root), deploy/'s checks and the fuzz target
	@mkdir -p $(CACHE)
	set -o pipefail; $(GO) test $(TEST_FLAGS) -v ./... 2>&1 | tee $(TEST_LOG)
	@# deploy/ is a module of its own (it needs the Kubernetes API types); its
	@# chart tests run the helm pinned here.
	set -o pipefail; cd deploy && HELM=$(HELM) $(GO) test $(TEST_FLAGS) -v ./... 2>&1 | tee -a $(TEST_LOG)
	@$(MAKE) --no-print-directory fuzz
	@if grep -q -- '--- SKIP' $(TEST_LOG); then \
		echo "make test: skipped tests are failures here:" >&2; \
		grep -- '--- SKIP' $(TEST_LOG) >&2; \
		exit 1; \
	fi

.PHONY: fuzz
# Minimizing a new large input (up to 60 KB) takes the fuzzer up to its
# default minute, the whole run's budget: 2000 runs keep it fuzzing.
fuzz: ## Fuzz the BPF counter (FuzzCount) for FUZZTIME runs (300000x, about 20 s)
	@mkdir -p $(CACHE)
	set -o pipefail; $(GO) test -run='^$$' -fuzz='^FuzzCount$$' -fuzztime=$(FUZZTIME) -fuzzminimizetime=2000x ./bpf 2>&1 | tee $(CACHE)/fuzz.log
	@if grep -q 'no fuzz tests to fuzz' $(CACHE)/fuzz.log; then echo "make fuzz: FuzzCount not found in ./bpf" >&2; exit 1; fi

BENCHSTAT := $(CACHE)/bin/benchstat
BENCHSTAT_VERSION := v0.0.0-20260908200009-22c9c6c9d4da

$(BENCHSTAT):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)

# Per packet: each op is one packet, 10M of them per sample in one
# BPF_PROG_TEST_RUN, so sub-nanosecond differences show; benchstat sets the
# floor, the seed design and the counter side by side. Then the read of one
# interface's totals and one receiver scrape.
.PHONY: bench
bench: $(BENCHSTAT) ## Benchmark the counter per packet (floor, seed design, counter), a read, and a scrape
	@mkdir -p $(CACHE)
	set -o pipefail; $(GO) test -run='^$$' -bench=PerPacket -benchtime=10000000x -count=8 ./bpf | tee $(CACHE)/bench-packet.txt
	$(BENCHSTAT) -col /prog $(CACHE)/bench-packet.txt
	set -o pipefail; $(GO) test -run='^$$' -bench='Read|Scrape' -benchmem -count=6 ./bpf ./xdpreceiver | tee $(CACHE)/bench-read.txt
	$(BENCHSTAT) $(CACHE)/bench-read.txt

GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(CACHE)/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

$(GOLANGCI_LINT):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint (.golangci.yml: formatting, vet, errorlint, misspell, gocritic, revive, ...) on both modules
	$(GOLANGCI_LINT) run ./...
	cd deploy && $(GOLANGCI_LINT) run --config ../.golangci.yml ./...

# The platforms the receiver package builds for: a collector that bundles it
# may be built for any of them (on all but Linux, Start says it needs Linux).
PLATFORMS := linux/amd64 linux/arm64 darwin/arm64 windows/amd64

.PHONY: cross
cross: ## go build and go vet ./... for every platform in PLATFORMS
	@set -e; for p in $(PLATFORMS); do \
		echo "GOOS=$${p%/*} GOARCH=$${p#*/}: go build ./... && go vet ./..."; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build ./...; \
		GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) vet ./...; \
	done

.PHONY: clean
clean: ## Remove dist/ and .cache/ (the installed tools and test logs)
	rm -rf dist $(CACHE)
