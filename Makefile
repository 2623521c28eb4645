# backendtls-webhook: developer and CI entry points. `make help` lists them.

CARGO ?= cargo
SHARED ?= ../shared
CRD_DIR ?= $(SHARED)/gateway-api

.PHONY: help build run certs test fmt fmt-check lint unit crds bench fixtures-certs

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 20

build: ## Build the release binary
	$(CARGO) build --release --locked

run: ## Serve on https://localhost:8443 without a cluster (creates certs/ if absent)
	$(CARGO) run --locked --quiet -- certs --out certs --if-missing
	$(CARGO) run --locked --quiet -- serve --listen 0.0.0.0:8443 --tls-cert-file certs/tls.crt \
		--tls-key-file certs/tls.key --objects tests/fixtures/objects

certs: ## (Re)create development certificates in certs/
	$(CARGO) run --locked --quiet -- certs --out certs

test: fmt-check lint unit ## Everything CI runs: formatting, clippy, all tests

fmt: ## Format the code
	$(CARGO) fmt --all

fmt-check: ## Fail if the code is not formatted
	$(CARGO) fmt --all -- --check

lint: ## Clippy, warnings are errors
	$(CARGO) clippy --locked --all-targets -- -D warnings

unit: ## Unit and integration tests
	$(CARGO) test --locked

crds: ## Extract schema facts from the upstream CRDs into tests/fixtures/crd-facts.json
	$(CARGO) run --locked --quiet --example crd-facts -- $(CRD_DIR)/backendtlspolicies-v1.6.1-standard.yaml \
		$(CRD_DIR)/backendtlspolicies-v1.6.1-experimental.yaml $(CRD_DIR)/backendtlspolicies-v1.3.0-experimental.yaml \
		> tests/fixtures/crd-facts.json.tmp && mv tests/fixtures/crd-facts.json.tmp tests/fixtures/crd-facts.json

bench: ## Criterion benchmarks of the validators
	$(CARGO) bench --locked --bench validate

fixtures-certs: ## Regenerate the committed test certificates (changes their bytes)
	tests/fixtures/certs/generate.sh
