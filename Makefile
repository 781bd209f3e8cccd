# assay — set-up and test entry points. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SYSTEM_PACKAGES := gnupg softhsm2 opensc docker-registry skopeo redis-server graphviz chromium chromium-driver age faketime
# Installed without recommends (diffoscope-minimal is <1 MB alone, hundreds of MB with its recommends).
SYSTEM_PACKAGES_NORECOMMENDS := diffoscope-minimal


.PHONY: run demo test install test-install system-deps browser-deps interop-deps skopeo-keyprovider lint typecheck unit smoke conformance tuf-conformance bench fuzz clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[test]'
	touch $@

install: $(VENV)/.installed

test-install: $(VENV)/.test-installed system-deps browser-deps interop-deps skopeo-keyprovider

# axe-core for the dashboard's accessibility check in the browser tests (tests/browser/), from npm into a
# test-local directory; without npm the browser tests skip (and fail under CI=true).
AXE := tests/browser/node_modules/axe-core/axe.min.js
browser-deps:
	@if [ ! -f $(AXE) ]; then \
	  if command -v npm >/dev/null; then npm install --silent --no-save --no-package-lock --prefix tests/browser axe-core >/dev/null \
	    || echo "npm install axe-core failed; the browser tests will skip"; \
	  else echo "npm missing: cannot install axe-core; the browser tests will skip"; fi; \
	fi

# The npm Sigstore client (@sigstore/cli: tuf-js and sigstore-js, a second TUF implementation) for
# tests/interop/test_tuf_sigstore_clients.py, into a test-local prefix; without npm those tests skip (fail under CI=true).
SIGSTORE_JS := tests/interop/node_modules/@sigstore/cli/bin/run
interop-deps:
	@if [ ! -f $(SIGSTORE_JS) ]; then \
	  if command -v npm >/dev/null; then npm install --silent --no-save --no-package-lock --prefix tests/interop @sigstore/cli@0.10.3 >/dev/null \
	    || echo "npm install @sigstore/cli failed; its interop tests will skip"; \
	  else echo "npm missing: cannot install @sigstore/cli; its interop tests will skip"; fi; \
	fi

# Debian 12's skopeo predates ocicrypt key providers: Debian 13's skopeo and the libraries it links, unpacked into
# .cache/ (nothing installed system-wide), for tests/interop/test_broker_keyprovider.py. Without it those skip.
skopeo-keyprovider:
	@bash scripts/fetch-skopeo-keyprovider.sh .cache/skopeo-keyprovider

# System components the tests use. Installed with apt-get when running as root;
# otherwise the tests that need a missing one skip (and fail under CI=true).
system-deps:
	@missing=""; for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing:$$missing"; apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing >/dev/null; \
	  else echo "not root: cannot install$$missing; tests needing them will skip"; fi; \
	fi
	@missing=""; for p in $(SYSTEM_PACKAGES_NORECOMMENDS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing:$$missing"; apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing >/dev/null; \
	fi

run: install
	@bash scripts/run.sh $(BIN)/assay

demo: install
	@bash scripts/demo.sh $(BIN)/assay

lint: test-install
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

typecheck: test-install
	$(BIN)/mypy

# Tests run in parallel (pytest-xdist): most wait on servers, so more workers than the 2 cores pay off.
PYTEST_WORKERS ?= 4
unit: test-install
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist worksteal --durations=30

# The README contract: a runtime-only venv (`pip install .`, no extras) imports everything, `make run`'s entry
# point starts and the README quickstart passes against it (scripts/readme_smoke.py).
smoke:
	$(PYTHON) scripts/readme_smoke.py

test: test-install lint typecheck unit smoke tuf-conformance

# The TUF client conformance suite (../shared/tuf-conformance, vendored) against `assay tuf client`, through the
# CLIENT-CLI.md entrypoint tests/conformance/tuf/assay-tuf-client (expected failures: its .xfails file). The suite
# pins its own tuf/pytest, so it gets its own venv (.venv-tufc) and runs from a temporary copy (shared/ is read-only).
TUFC_SRC := $$( [ -d ../shared ] && echo ../shared || echo /work/shared )/tuf-conformance
.venv-tufc/.installed:
	rm -rf .venv-tufc && $(PYTHON) -m venv .venv-tufc
	tmp=$$(mktemp -d) && cp -r $(TUFC_SRC) $$tmp/suite && .venv-tufc/bin/pip install -q $$tmp/suite pytest-xdist; rc=$$?; rm -rf $$tmp; exit $$rc
	touch $@
tuf-conformance: install system-deps .venv-tufc/.installed
	@command -v faketime >/dev/null || { echo "faketime missing (apt-get install faketime)"; exit 1; }
	tmp=$$(mktemp -d) && cp -r $(TUFC_SRC) $$tmp/suite && cd $$tmp/suite && \
	  ASSAY=$(abspath $(BIN))/assay PATH=$(CURDIR)/.venv-tufc/bin:$$PATH $(CURDIR)/.venv-tufc/bin/pytest tuf_conformance -q -n 2 \
	    -p no:cacheprovider --entrypoint=$(CURDIR)/tests/conformance/tuf/assay-tuf-client; rc=$$?; rm -rf $$tmp; exit $$rc

conformance: install
	$$( [ -d ../shared ] && echo ../shared || echo /work/shared )/conformance/run-bundle-verify -- $(BIN)/assay conformance

bench: test-install
	$(BIN)/python benchmarks/hash_throughput.py
	$(BIN)/python benchmarks/cli_startup.py
	$(BIN)/python benchmarks/image_verify.py
	$(BIN)/python benchmarks/sbom.py
	$(BIN)/python benchmarks/scan.py
	$(BIN)/python benchmarks/policy_eval.py
	$(BIN)/python benchmarks/multi_digest.py
	$(BIN)/python benchmarks/stall.py
	$(BIN)/python benchmarks/authz.py
	$(BIN)/python benchmarks/admission.py
	$(BIN)/python benchmarks/evidence.py
	$(BIN)/python benchmarks/layout.py
	$(BIN)/python benchmarks/verify_bundles.py
	$(BIN)/python benchmarks/log_append.py

# A million fuzz inputs across the parsers (atheris when installed, else a mutation loop); prints crashes and inputs/s.
fuzz: test-install
	$(BIN)/python benchmarks/fuzz.py --inputs $${FUZZ_INPUTS:-1000000}

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .mypy_cache .ruff_cache
