# backendtls-webhook: developer and CI entry points. `make help` lists them.

CARGO ?= cargo
SHARED ?= ../shared
CRD_DIR ?= $(SHARED)/gateway-api

.PHONY: help build run certs test toolchain fmt fmt-check lint unit fuzz-check crds bench fixtures-certs

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

build: ## Build the release binary (stripped): target/release/backendtls-webhook
	$(CARGO) build --release --locked

.PHONY: profiling
profiling: ## The release build with symbols and line tables, for profilers: target/profiling/
	$(CARGO) build --profile profiling --locked

run: ## Serve on https://localhost:8443, loopback only, without a cluster (creates certs/ if absent)
	$(CARGO) run --locked --quiet -- certs --out certs --if-missing
	$(CARGO) run --locked --quiet -- serve --listen localhost:8443 --tls-cert-file certs/tls.crt \
		--tls-key-file certs/tls.key --objects tests/fixtures/objects

certs: ## (Re)create development certificates in certs/
	$(CARGO) run --locked --quiet -- certs --out certs

test: fmt-check lint unit fuzz-check manifests-check ## Everything CI runs: formatting, clippy, all tests, fuzz targets compile, manifests

# `make test` installs what it needs by itself: rustfmt and clippy through rustup when they are
# missing, and kubernetes-validate (pinned) in a virtual environment under target/ on first use.
# What it does not install: the Rust toolchain, python3 (with venv), kubectl, curl and a C++
# compiler (see the README's Development section).
toolchain: ## Add rustfmt and clippy to the Rust toolchain when they are missing (rustup)
	@$(CARGO) fmt --version >/dev/null 2>&1 || rustup component add rustfmt
	@$(CARGO) clippy --version >/dev/null 2>&1 || rustup component add clippy

fmt: toolchain ## Format the code
	$(CARGO) fmt --all

fmt-check: toolchain ## Fail if the code is not formatted
	$(CARGO) fmt --all -- --check

lint: toolchain ## Clippy, warnings are errors
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit: ## Unit and integration tests
	$(CARGO) test --locked

fuzz-check: ## The fuzz targets still compile (cargo check on stable, sharing target/; fuzzing itself: make fuzz)
	CARGO_TARGET_DIR=target $(CARGO) check --locked --manifest-path fuzz/Cargo.toml --bins

crds: ## Extract schema facts from the upstream CRDs into tests/fixtures/crd-facts.json
	$(CARGO) run --locked --quiet --example crd-facts -- $(CRD_DIR)/backendtlspolicies-v1.6.1-standard.yaml \
		$(CRD_DIR)/backendtlspolicies-v1.6.1-experimental.yaml $(CRD_DIR)/backendtlspolicies-v1.3.0-experimental.yaml \
		> tests/fixtures/crd-facts.json.tmp && mv tests/fixtures/crd-facts.json.tmp tests/fixtures/crd-facts.json

bench: ## Criterion benchmarks of the validators
	$(CARGO) bench --locked --bench validate

fixtures-certs: ## Regenerate the committed test certificates (changes their bytes)
	tests/fixtures/certs/generate.sh

.PHONY: bench-load
bench-load: ## Load benchmark: serve vs a null webhook under wrk (needs wrk, 2 CPUs; ~5 min)
	CARGO="$(CARGO)" bench/load.sh

# Cluster install: the image, the manifests with development TLS, offline manifest checks.

IMAGE ?= backendtls-webhook:dev
KIND_CLUSTER ?= kind
KUBECTL ?= kubectl
PYTHON ?= python3
# kubernetes-validate for manifests-check, pinned, in a project-local virtual environment
# (created on first use, reused after; `rm -rf target/venv` to start over).
KUBERNETES_VALIDATE_VERSION ?= 1.37.0
VENV ?= target/venv
KUBERNETES_VALIDATE := $(VENV)/.kubernetes-validate-$(KUBERNETES_VALIDATE_VERSION)
# The Kubernetes version whose schemas manifests-check validates against (kubernetes-validate).
MANIFESTS_KUBE_VERSION ?= 1.33.0
# The caBundle of manifests/base: base64 of "REPLACE_WITH_BASE64_CA_PEM".
CA_BUNDLE_PLACEHOLDER := UkVQTEFDRV9XSVRIX0JBU0U2NF9DQV9QRU0=

.PHONY: manifests manifests-check image kind-load

$(KUBERNETES_VALIDATE):
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "manifests-check: $(PYTHON) not found: it runs kubernetes-validate (Python 3.9 or newer, with venv)" >&2; exit 1; }
	@rm -rf $(VENV)
	@$(PYTHON) -m venv $(VENV) || { echo "manifests-check: $(PYTHON) -m venv failed (on Debian and Ubuntu: apt-get install python3-venv)" >&2; exit 1; }
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check 'kubernetes-validate==$(KUBERNETES_VALIDATE_VERSION)'
	@touch $@

manifests: ## Print the install (base + certs/ca.crt as caBundle + TLS Secret) on stdout
	@$(CARGO) run --locked --quiet -- certs --out certs --if-missing \
		--service backendtls-webhook --namespace backendtls-webhook >&2
	@rendered="$$($(KUBECTL) kustomize manifests/base)" || exit 1; \
	case "$$rendered" in *$(CA_BUNDLE_PLACEHOLDER)*) ;; \
		*) echo "manifests: no caBundle placeholder in manifests/base" >&2; exit 1;; esac; \
	ca="$$(base64 < certs/ca.crt | tr -d '\n')" && \
	printf '%s\n' "$$rendered" \
		| sed -e "s|$(CA_BUNDLE_PLACEHOLDER)|$$ca|" -e "s|image: backendtls-webhook:dev$$|image: $(IMAGE)|" && \
	echo --- && \
	$(KUBECTL) create secret tls backendtls-webhook-tls --namespace backendtls-webhook \
		--cert certs/tls.crt --key certs/tls.key --dry-run=client -o yaml

manifests-check: $(KUBERNETES_VALIDATE) ## Render manifests/ (base, the cert-manager and secret-ca overlays, make manifests) and validate them offline
	@command -v $(KUBECTL) >/dev/null 2>&1 || { echo "manifests-check: $(KUBECTL) not found: it renders manifests/ (kubectl kustomize; kubectl 1.27 or newer)" >&2; exit 1; }
	@mkdir -p target/manifests-check
	@$(KUBECTL) kustomize manifests/base > target/manifests-check/base.yaml
	@$(KUBECTL) kustomize manifests/overlays/cert-manager > target/manifests-check/cert-manager.yaml
	@$(KUBECTL) kustomize manifests/overlays/secret-ca > target/manifests-check/secret-ca.yaml
	@$(MAKE) --no-print-directory manifests > target/manifests-check/install.yaml 2> target/manifests-check/install.err \
		|| { cat target/manifests-check/install.err >&2; exit 1; }
	@# Strict: unknown fields are errors. cert-manager.io/v1 kinds have no Kubernetes schema and are
	@# skipped by name; any other kind without a schema fails the check.
	@for name in base cert-manager secret-ca install; do \
		file=target/manifests-check/$$name.yaml; log=target/manifests-check/$$name.log; \
		$(VENV)/bin/python -m kubernetes_validate --strict --kubernetes-version $(MANIFESTS_KUBE_VERSION) $$file > $$log 2>&1 \
			|| { cat $$log; echo "manifests-check: $$file is not valid" >&2; exit 1; }; \
		if grep -v ' with api version cert-manager.io/v1 ' $$log | grep -qv '^INFO '; then \
			cat $$log; echo "manifests-check: $$file: only cert-manager.io/v1 kinds may go unvalidated" >&2; exit 1; \
		fi; \
		echo "manifests-check: $$file: $$(grep -c '^INFO ' $$log) objects valid for Kubernetes $(MANIFESTS_KUBE_VERSION) (strict), $$(grep -c ' with api version cert-manager.io/v1 ' $$log) cert-manager.io objects skipped"; \
	done

image: ## Build the container image (IMAGE, default backendtls-webhook:dev; needs Docker)
	docker build -t $(IMAGE) .

kind-load: ## Load the image into a kind cluster (KIND_CLUSTER, default kind)
	kind load docker-image $(IMAGE) --name $(KIND_CLUSTER)

.PHONY: bench-instructions
bench-instructions: ## Instructions per review under callgrind, in process and whole server under wrk (noise-free A/B; needs valgrind, wrk; ~5 min)
	CARGO="$(CARGO)" bench/instructions.sh

.PHONY: bench-hostile
bench-hostile: ## Hostile clients against serve: CPU per request and per MiB, answer sizes, RSS, good clients served (~5 min)
	CARGO="$(CARGO)" bench/hostile.sh

.PHONY: bench-memory
bench-memory: ## Resident memory: cluster mode with 5,000 unrelated 10 KiB ConfigMaps, and idle
	CARGO="$(CARGO)" bench/memory.sh

.PHONY: bench-validate
bench-validate: ## `validate` on 10,000 generated policies and 100 CA ConfigMaps (target: under 1 s)
	CARGO="$(CARGO)" bench/validate-10k.sh

.PHONY: fuzz-oracle
ORACLE_CASES ?= 200000
fuzz-oracle: ## Differential fuzz: ORACLE_CASES (200,000) policies, webhook vs an oracle built from the CRD facts (release)
	ORACLE_CASES=$(ORACLE_CASES) $(CARGO) test --locked --release --test crd_oracle -- --nocapture the_webhook_agrees_with_the_crd_oracle

# Robustness: fuzzing and the soak test (not part of `make test`).

FUZZ_SECONDS ?= 60
SOAK_SECONDS ?= 300

.PHONY: fuzz soak
fuzz: ## cargo fuzz each target for FUZZ_SECONDS (default 60) s; installs cargo-fuzz if missing
	CARGO="$(CARGO)" FUZZ_SECONDS="$(FUZZ_SECONDS)" fuzz/fuzz.sh

soak: ## Soak: serve under wrk load for SOAK_SECONDS (default 300), RSS and errors (needs wrk)
	CARGO="$(CARGO)" SOAK_SECONDS="$(SOAK_SECONDS)" bench/soak.sh
