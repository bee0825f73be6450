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

# The version every build carries (the binary's --version, the packages, the
# image and its labels), from git: X.Y.Z on a clean vX.Y.Z tag, otherwise a
# pre-release of the next patch version, X.Y.(Z+1)-dev.N+gSHA[.dirty]
# (deploy/version.sh says why). `make VERSION=...` overrides it; a VERSION
# in the environment does not, so that a shell's stray variable never
# renames a build.
ifneq ($(origin VERSION),command line)
VERSION := $(shell deploy/version.sh)
endif
ifeq ($(VERSION),)
$(error no version: deploy/version.sh failed)
endif
# Every build depends on this file, which is rewritten only when the version
# changes: a commit, or a tree turning dirty or clean, rebuilds with the new
# version; nothing else does.
VERSION_FILE := $(CACHE)/version
$(shell mkdir -p $(CACHE) && [ "$$(cat $(VERSION_FILE) 2>/dev/null)" = '$(VERSION)' ] || echo '$(VERSION)' >$(VERSION_FILE))
# The commit and its time: the image's revision and created labels, and
# every timestamp in the image and the packages (SOURCE_DATE_EPOCH), so that
# building one commit again gives the same files.
REVISION := $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
SOURCE_DATE_EPOCH := $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

comma := ,
space := $(subst ,, )

# The release artifacts in dist/, named as the collector's releases name
# theirs (otelcol-contrib_<version>_linux_amd64.deb).
RELEASE_ARCHES := amd64 arm64
DIST_BINARIES  := $(foreach a,$(RELEASE_ARCHES),dist/otelcol-xdp_$(VERSION)_linux_$(a))
IMAGE_ARCHIVE  := dist/otelcol-xdp_$(VERSION)_image.oci.tar
PACKAGES       := $(foreach a,$(RELEASE_ARCHES),dist/otelcol-xdp_$(VERSION)_linux_$(a).deb dist/otelcol-xdp_$(VERSION)_linux_$(a).rpm)

.PHONY: help
help: ## Show this help
	@echo "otelcol-xdp: an OpenTelemetry Collector that counts packets with XDP"
	@echo
	@echo "Targets:"
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-13s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

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

.PHONY: version
version: ## Print the version that builds carry (from git, deploy/version.sh)
	@echo '$(VERSION)'

# `make -s print-IMAGE_ARCHIVE`: the value of a variable, for the tests,
# which take the names of the artifacts from here.
print-%:
	@echo '$($*)'

.PHONY: build
build: $(DIST) ## Build the collector distribution into dist/otelcol-xdp with ocb

# ocb hard-codes dist.version into the main.go it generates, so every build
# runs it on a copy of builder-config.yaml, under .cache/build/, with the
# version and the output directory filled in; from the repository root, so
# that the relative path of this module (path: ./) still means this
# checkout. ocb copies `replaces` as they are into a go.mod in the output
# directory, so their paths, written relative to ./dist, are made absolute.
# builder-config.yaml stays the one source of everything else.
# $(1): the output directory, $(2): the copy to write.
define ocb_config
	@mkdir -p $(dir $(2))
	@if [ "$$(grep -c -e '^  version: ' -e '^  output_path: ' builder-config.yaml)" != 2 ]; then \
		echo "builder-config.yaml: want one 'version:' and one 'output_path:' line in dist:" >&2; exit 1; \
	fi
	sed -e 's|^  version: .*|  version: "$(VERSION)"|' -e 's|^  output_path: .*|  output_path: $(1)|' \
		-e 's|=> \.\./|=> $(CURDIR)/|' builder-config.yaml >$(2)
endef

# ocb makes an empty /tmp/otelcol-distributionNNN on every run: give it a
# temporary directory of its own and remove that afterwards.
# $(1): the configuration, $(2): environment for ocb (GOOS, GOARCH).
define ocb_run
	@tmp=$$(mktemp -d); \
	TMPDIR=$$tmp $(2) $(OCB) --config=$(1); rc=$$?; \
	rm -rf $$tmp; exit $$rc
endef

$(DIST): $(OCB) $(SOURCES) $(VERSION_FILE)
	$(call ocb_config,./dist,$(CACHE)/build/native.yaml)
	$(call ocb_run,$(CACHE)/build/native.yaml)
	@touch $@

.PHONY: dist
dist: $(DIST_BINARIES) ## Build static linux/amd64 and linux/arm64 binaries into dist/otelcol-xdp_<version>_linux_<arch>

# ocb builds with CGO_ENABLED=0, static, and hands GOOS and GOARCH to go
# build; both architectures embed the same little-endian BPF object.
$(DIST_BINARIES): dist/otelcol-xdp_$(VERSION)_linux_%: $(OCB) $(SOURCES) $(VERSION_FILE)
	$(call ocb_config,$(CACHE)/build/linux_$*,$(CACHE)/build/linux_$*.yaml)
	$(call ocb_run,$(CACHE)/build/linux_$*.yaml,GOOS=linux GOARCH=$*)
	@mkdir -p $(@D)
	cp $(CACHE)/build/linux_$*/otelcol-xdp $@

# The image: deploy/image/Containerfile, FROM scratch, built by podman for
# both architectures into a manifest list and written with it as one OCI
# archive. podman works in storage of its own under .cache/image, removed
# once the archive is written: the user's images and the builds of other
# checkouts are never touched. Its run root may not be longer than 50
# characters, so that and its state live in a short directory in /tmp,
# removed as well. vfs needs no mounts, and nothing here runs a container
# (no cgroups, no events); nothing is ever pulled.
IMAGE      := localhost/otelcol-xdp
# Tags may not hold "+": the build metadata follows "_" there.
IMAGE_TAG  := $(subst +,_,$(VERSION))
IMAGE_WORK := $(CACHE)/image
PODMAN_OPTIONS := --root=$(IMAGE_WORK)/storage --storage-driver=vfs --cgroup-manager=cgroupfs --events-backend=none
# What make image needs besides Go, as command:Debian package (see test-deps);
# the image carries Debian's CA certificates, for exporters that use TLS.
IMAGE_COMMANDS := podman:podman update-ca-certificates:ca-certificates
CA_CERTIFICATES := /etc/ssl/certs/ca-certificates.crt

.PHONY: image
image: $(IMAGE_ARCHIVE) ## Build the linux/amd64+arm64 OCI image archive dist/otelcol-xdp_<version>_image.oci.tar with podman

$(IMAGE_ARCHIVE): $(DIST_BINARIES) deploy/image/Containerfile deploy/config.yaml $(VERSION_FILE)
	$(call ensure_commands,make image,$(IMAGE_COMMANDS))
	rm -rf $(IMAGE_WORK)
	mkdir -p $(IMAGE_WORK)/context
	for a in $(RELEASE_ARCHES); do install -D -m 0755 dist/otelcol-xdp_$(VERSION)_linux_$$a $(IMAGE_WORK)/context/linux_$$a/otelcol-xdp; done
	install -m 0644 deploy/config.yaml $(IMAGE_WORK)/context/config.yaml
	install -m 0644 $(CA_CERTIFICATES) $(IMAGE_WORK)/context/ca-certificates.crt
	run=$$(mktemp -d /tmp/otelcol-xdp-podman.XXXXXX) && trap 'rm -rf "$$run"' EXIT && \
	podman="podman $(PODMAN_OPTIONS) --runroot=$$run/run --tmpdir=$$run/tmp" && \
	$$podman build --pull=never --layers=false --timestamp=$(SOURCE_DATE_EPOCH) \
		--platform=$(subst $(space),$(comma),$(addprefix linux/,$(RELEASE_ARCHES))) \
		--manifest=$(IMAGE):$(IMAGE_TAG) \
		--build-arg=VERSION=$(VERSION) --build-arg=REVISION=$(REVISION) \
		--build-arg=CREATED=$$(date -u -d @$(SOURCE_DATE_EPOCH) +%Y-%m-%dT%H:%M:%SZ) \
		--file=deploy/image/Containerfile $(IMAGE_WORK)/context && \
	$$podman manifest push --all --format=oci --quiet $(IMAGE):$(IMAGE_TAG) oci-archive:$@.tmp:$(IMAGE):$(IMAGE_TAG)
	mv -f $@.tmp $@
	rm -rf $(IMAGE_WORK)

# The packages, with nfpm (deploy/package/nfpm.yaml). nfpm v2.46 and later
# need go.digitalxero.dev modules that the module proxy here does not serve.
NFPM_VERSION := v2.45.2
NFPM         := $(CACHE)/bin/nfpm-$(NFPM_VERSION)/nfpm
PACKAGE_UNIT := $(CACHE)/package/otelcol-xdp.service

$(NFPM):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install github.com/goreleaser/nfpm/v2/cmd/nfpm@$(NFPM_VERSION)

.PHONY: package
package: $(PACKAGES) ## Build .deb and .rpm packages (amd64, arm64) into dist/ with nfpm

# The unit runs /usr/local/bin/otelcol-xdp, where a hand installation puts
# it; the packages install /usr/bin/otelcol-xdp. One unit stays the source:
# the packaged copy differs in that one line.
$(PACKAGE_UNIT): deploy/otelcol-xdp.service
	@mkdir -p $(dir $@)
	@if [ "$$(grep -c '^ExecStart=/usr/local/bin/otelcol-xdp ' $<)" != 1 ]; then \
		echo "$<: want one line starting ExecStart=/usr/local/bin/otelcol-xdp" >&2; exit 1; \
	fi
	sed 's|^ExecStart=/usr/local/bin/otelcol-xdp |ExecStart=/usr/bin/otelcol-xdp |' $< >$@

PACKAGE_INPUTS := $(NFPM) $(PACKAGE_UNIT) $(VERSION_FILE) deploy/package/nfpm.yaml deploy/config.yaml LICENSE \
	$(wildcard deploy/package/*.sh)

# $(1): deb or rpm, $(2): the architecture, $(3): the package to write.
define nfpm_package
	PKG_VERSION='$(VERSION)' PKG_ARCH=$(2) PKG_BINARY=dist/otelcol-xdp_$(VERSION)_linux_$(2) PKG_UNIT=$(PACKAGE_UNIT) \
	SOURCE_DATE_EPOCH=$(SOURCE_DATE_EPOCH) $(NFPM) package --config=deploy/package/nfpm.yaml --packager=$(1) --target=$(3)
endef

$(filter %.deb,$(PACKAGES)): dist/otelcol-xdp_$(VERSION)_linux_%.deb: dist/otelcol-xdp_$(VERSION)_linux_% $(PACKAGE_INPUTS)
	$(call nfpm_package,deb,$*,$@)

$(filter %.rpm,$(PACKAGES)): dist/otelcol-xdp_$(VERSION)_linux_%.rpm: dist/otelcol-xdp_$(VERSION)_linux_% $(PACKAGE_INPUTS)
	$(call nfpm_package,rpm,$*,$@)

# helm, per version like ocb, from the module proxy: deploy/'s tests lint and
# render the chart with it, and `make chart` packages it. go install leaves
# helm's version string at its minor version: -X sets the whole of it.
HELM_VERSION := v4.3.1
HELM         := $(CACHE)/bin/helm-$(HELM_VERSION)/helm
CHART        := deploy/helm/otelcol-xdp
# The collector's version, as the image is tagged: the packaged chart's
# appVersion, and so its default image tag.
CHART_APP_VERSION ?= $(IMAGE_TAG)

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
# Kernels before 5.18 need CAP_PERFMON too (docs/least-privilege.md).
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

# $(1): who needs them, $(2): commands they need, as command:Debian-package.
# As root with apt-get, installs the packages of the missing commands and
# says so; otherwise names the packages and fails.
define ensure_commands
	@missing=""; \
	for pair in $(2); do \
		command -v "$${pair%%:*}" >/dev/null || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then \
		echo "$(1) needs these packages:$$missing; install them as root: apt-get install$$missing" >&2; \
		exit 1; \
	fi; \
	echo "$(1): installing what it needs:$$missing (apt-get)"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null
endef

# $(1): the target, $(2): its go test log. A privileged test that skips is
# a test that did not run: fail, and name it.
define no_skips
	@if grep -q -- '--- SKIP' $(2); then \
		echo "$(1): skipped tests are failures here:" >&2; \
		grep -- '--- SKIP' $(2) >&2; \
		exit 1; \
	fi
endef

# What the tests run besides Go, as command:Debian package. A fresh Debian
# has them all but possibly systemd and git (deploy/version.sh's tests make
# repositories); as root, `make test` installs what is missing, and
# otherwise names it.
TEST_COMMANDS := setpriv:util-linux systemd-analyze:systemd git:git

.PHONY: test-deps
test-deps: ## Install what the tests need besides Go (as root, with apt-get), or say what is missing
	$(call ensure_commands,make test,$(TEST_COMMANDS))

# The build comes after test-deps, in a make of its own: the version it
# carries is computed once git is there.
.PHONY: test
test: test-deps $(HELM) ## Run every test: go test ./... (privileged ones and e2e, needs root), deploy/'s checks and the fuzz target
	@$(MAKE) --no-print-directory build
	@mkdir -p $(CACHE)
	set -o pipefail; $(GO) test $(TEST_FLAGS) -v ./... 2>&1 | tee $(TEST_LOG)
	@# deploy/ is a module of its own (it needs the Kubernetes API types); its
	@# chart tests run the helm pinned here.
	set -o pipefail; cd deploy && HELM=$(HELM) $(GO) test $(TEST_FLAGS) -v ./... 2>&1 | tee -a $(TEST_LOG)
	@$(MAKE) --no-print-directory test-kube
	@$(MAKE) --no-print-directory fuzz
	$(call no_skips,make test,$(TEST_LOG))

# A real kube-apiserver and its etcd, built from the Go module proxy by
# e2e/kube (a module of its own: it pins k8s.io/kubernetes and replaces its
# staging modules); the first build takes about 10 minutes on 2 cores, later
# ones seconds. TestKubeAttributes (e2e/kube_test.go, build tag "kube") runs
# the built collector with k8sattributes against it: root only, never
# skipped.
KUBE_BIN      := $(CACHE)/bin/kube
TEST_KUBE_LOG := $(CACHE)/test-kube.log

.PHONY: kube-servers
kube-servers: ## Build kube-apiserver and etcd (e2e/kube) into .cache/bin/kube
	@mkdir -p $(KUBE_BIN)
	cd e2e/kube && $(GO) build -o $(KUBE_BIN)/ ./cmd/etcd ./cmd/kube-apiserver

.PHONY: test-kube
test-kube: ## Test pod attribution against a real kube-apiserver and etcd, built from the module proxy (needs root)
	@if [ "$$(id -u)" != 0 ]; then \
		echo "make test-kube needs root: it creates network namespaces and loads BPF programs" >&2; \
		exit 1; \
	fi
	@$(MAKE) --no-print-directory build kube-servers
	set -o pipefail; cd e2e/kube && $(GO) test $(TEST_FLAGS) -v ./... 2>&1 | tee $(TEST_KUBE_LOG)
	set -o pipefail; KUBE_BIN_DIR=$(KUBE_BIN) $(GO) test $(TEST_FLAGS) -tags=kube -run='^TestKube' -v ./e2e 2>&1 | tee -a $(TEST_KUBE_LOG)
	$(call no_skips,make test-kube,$(TEST_KUBE_LOG))
	@if ! grep -q -- '^--- PASS: TestKubeAttributes' $(TEST_KUBE_LOG); then \
		echo "make test-kube: TestKubeAttributes did not run" >&2; \
		exit 1; \
	fi

# What the release tests need on top: podman and CA certificates (make image),
# rpm (to read the .rpm), dpkg (to install the .deb).
RELEASE_COMMANDS := $(TEST_COMMANDS) $(IMAGE_COMMANDS) rpm:rpm dpkg:dpkg
TEST_RELEASE_LOG := $(CACHE)/test-release.log

# The release tests (e2e/release_test.go, build tag "release") install and
# remove a .deb and run what the image and the package hold: root only, and
# never skipped.
.PHONY: test-release
test-release: ## Build dist, image and package, and test them (needs root): binaries, image, .deb and .rpm, a README ocb build
	@if [ "$$(id -u)" != 0 ]; then \
		echo "make test-release needs root: it installs and removes the .deb, loads BPF programs and creates network namespaces" >&2; \
		exit 1; \
	fi
	$(call ensure_commands,make test-release,$(RELEASE_COMMANDS))
	@$(MAKE) --no-print-directory dist image package
	@mkdir -p $(CACHE)
	set -o pipefail; $(GO) test $(TEST_FLAGS) -tags=release -run='^TestRelease' -v ./e2e 2>&1 | tee $(TEST_RELEASE_LOG)
	$(call no_skips,make test-release,$(TEST_RELEASE_LOG))
	@if ! grep -q -- '^--- PASS: TestRelease' $(TEST_RELEASE_LOG); then \
		echo "make test-release: no release test ran" >&2; \
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

# Against the real kernel, as root. Each part prints its figures side by
# side, from one run, as this machine's speed drifts (its neighbours):
#  - per packet: each op is one packet, 10M of them per sample in one
#    BPF_PROG_TEST_RUN, so sub-nanosecond differences show; the empty
#    programs (xdp-floor, tc-floor), the seed design, the counter (xdp, tc)
#    and the slot lookups considered (xdp-hash, xdp-const), per frame;
#  - the observer effect: TCP streams over a counted and an uncounted veth,
#    each way, counted/uncounted per attach mode;
#  - scale: start, time to all attached, stop, a scrape and the counters'
#    kernel memory at 1, 16, 128 and 512 veths, TCX beside clsact;
#  - a read of the counters, and a scrape beside what pdata alone costs;
#  - pods at 500 veths: a scrape of interfaces that each belong to a pod
#    beside one of interfaces of no pod, as a ratio of CPU time; start with
#    pods attributed beside start without, and from a pod's route added to
#    its attribution, against the real kernel.
.PHONY: bench
bench: $(BENCHSTAT) ## Benchmark per packet, the observer effect, attach and scrape at scale, the scrape's pdata, and pods at 500 veths (needs root)
	@mkdir -p $(CACHE)
	set -o pipefail; $(GO) test -run='^$$' -bench=PerPacket -benchtime=10000000x -count=8 ./bpf | tee $(CACHE)/bench-packet.txt
	$(BENCHSTAT) -col /prog $(CACHE)/bench-packet.txt
	set -o pipefail; $(GO) test -run='^$$' -bench=ObserverEffect -benchtime=40x -count=6 -timeout=30m ./bpf | tee $(CACHE)/bench-observer.txt
	$(BENCHSTAT) $(CACHE)/bench-observer.txt
	set -o pipefail; $(GO) test -run='^$$' -bench=KernelScale -benchtime=20x -benchmem -timeout=30m ./xdpreceiver | tee $(CACHE)/bench-scale.txt
	$(BENCHSTAT) -col /hook $(CACHE)/bench-scale.txt
	set -o pipefail; $(GO) test -run='^$$' -bench='^Benchmark(Read|Scrape|PdataFloor)$$' -benchmem -count=6 ./bpf ./xdpreceiver | tee $(CACHE)/bench-read.txt
	$(BENCHSTAT) $(CACHE)/bench-read.txt
	set -o pipefail; $(GO) test -run='^$$' -bench='^BenchmarkScrapePods$$' -benchtime=20x -benchmem -count=10 ./xdpreceiver | tee $(CACHE)/bench-pods.txt
	$(BENCHSTAT) $(CACHE)/bench-pods.txt
	set -o pipefail; $(GO) test -run='^$$' -bench='^BenchmarkKernelPods$$' -benchtime=200x -count=3 -timeout=30m ./xdpreceiver | tee $(CACHE)/bench-pods-kernel.txt
	$(BENCHSTAT) $(CACHE)/bench-pods-kernel.txt
	@# Learning a pod's addresses from its traffic at TC ingress (issue 17), which
	@# ships only if it costs a packet under 1 ns above tc: learned-sec/packet,
	@# beside a control of tc against copies of itself (docs/performance.md).
	set -o pipefail; $(GO) test -run='^$$' -bench=LearnCost -benchtime=500x -count=6 -timeout=30m ./bpf | tee $(CACHE)/bench-learn.txt
	$(BENCHSTAT) $(CACHE)/bench-learn.txt

# The collector's resident memory with the Helm chart's default
# configuration, pods attributed and not, at a node's 110 pods in a real API
# server (e2e/kube_memory_test.go): what the chart's memory defaults rest
# on. About 12 minutes; MEMORY_FOR is how long each collector runs.
MEMORY_FOR ?= 5m

.PHONY: bench-memory
bench-memory: $(HELM) ## The collector's memory with the chart's defaults, pods on and off, at 110 pods (needs root; about 12 minutes)
	@$(MAKE) --no-print-directory build kube-servers
	set -o pipefail; HELM=$(HELM) KUBE_BIN_DIR=$(KUBE_BIN) $(GO) test -tags=kube -run='^$$' -bench='^BenchmarkCollectorMemory$$' -timeout=60m ./e2e -args -memory-for=$(MEMORY_FOR) | tee $(CACHE)/bench-memory.txt

GOLANGCI_LINT_VERSION := v2.15.0
GOLANGCI_LINT := $(CACHE)/bin/golangci-lint-$(GOLANGCI_LINT_VERSION)/golangci-lint

$(GOLANGCI_LINT):
	@mkdir -p $(dir $@)
	GOBIN=$(dir $@) $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

.PHONY: lint
lint: $(GOLANGCI_LINT) ## golangci-lint (.golangci.yml: formatting, vet, errorlint, misspell, gocritic, revive, ...) on every module
	$(GOLANGCI_LINT) run ./...
	cd deploy && $(GOLANGCI_LINT) run --config ../.golangci.yml ./...
	cd e2e/kube && $(GOLANGCI_LINT) run --config ../../.golangci.yml ./...

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
