# Developer commands for farmtrace. CI (.ci/run) calls these same targets.
# `make help` lists them.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.farmtrace-installed
RUST_SOURCES := farmtrace/rust_core.pyi Cargo.toml rust_core/Cargo.toml $(wildcard rust_core/src/*.rs rust_core/src/*/*.rs)

.DEFAULT_GOAL := help
.PHONY: help install build test test-fast test-python test-rust test-js lint fmt bench bench-core bench-sim bench-ingest bench-api bench-report sim-bundle demo ci clean

help: ## List the developer commands
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml $(RUST_SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

install: $(STAMP) ## Create .venv, build rust_core (release) and install farmtrace with its dev tools

build: ## Rebuild the Rust extension into .venv (after editing rust_core/)
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $(STAMP)

test-fast: $(if $(wildcard $(STAMP)),,install) ## Unit tests only, no services or subprocesses, under a minute: run this first (docs/testing.md)
	FARMTRACE_TEST_TIER=fast $(BIN)/python -m pytest -q -n 2 -m "not integration and not slow"

test: install test-rust test-python test-js ## Set up and run every test (cargo test, pytest, node --test)

test-rust: ## Pure-Rust tests (no Python needed)
	cargo test --workspace --quiet

test-js: ## node --test tests/js/: the browser verifier's tests (pytest adds cross-vectors)
	node --test tests/js/

test-python: install ## pytest: unit tests and integration tests against real services
	$(BIN)/python -m pytest

lint: install ## ruff, import-linter (package rules), mypy, stubtest, cargo fmt --check, cargo clippy -D warnings
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m mypy.stubtest farmtrace.rust_core
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy --workspace --all-targets --features python -- -D warnings

fmt: install ## Format Python and Rust sources in place
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	cargo fmt --all

bench: bench-core bench-sim bench-ingest bench-api ## Run the benchmarks

bench-core: install ## farmtrace bench core (Merkle build, SHA-256 ceiling, Ed25519 bulk check)
	$(BIN)/farmtrace bench core

bench-sim: install ## python -m farmtrace.sim bench: 1,000 simulated devices at 1 reading/s for 60 s (local mosquitto)
	$(BIN)/python -m farmtrace.sim bench

bench-ingest: install ## farmtrace bench ingest: signed readings through Mosquitto into the gateway vs a bare subscriber at capacity
	$(BIN)/farmtrace bench ingest

bench-api: install ## farmtrace bench api: reading proofs/s and p99 over HTTP, 1M readings stored in blocks of 20-100 (cached DB), cold, warm and rate-limited
	$(BIN)/farmtrace bench api

BENCH_REPORT ?= bench-report
bench-report: install ## farmtrace bench all: every benchmark at small sizes, $(BENCH_REPORT)/report.md with SVG plots
	$(BIN)/farmtrace bench all --out $(BENCH_REPORT)

sim-bundle: ## dist/farmtrace-sim.tar.gz: the simulator for a Raspberry Pi (needs only paho-mqtt, cryptography)
	mkdir -p dist
	tar --exclude=__pycache__ --exclude=ruff.toml -czf dist/farmtrace-sim.tar.gz \
		farmtrace/__init__.py farmtrace/wire farmtrace/sim
	@echo "dist/farmtrace-sim.tar.gz: on the Pi, tar xzf it, pip install -r farmtrace/sim/requirements.txt, python -m farmtrace.sim --help"

demo: install ## Set up and run the demo: broker, gateway, API, simulated farm (docs/demo.md)
	$(BIN)/farmtrace demo $(DEMO_ARGS)

ci: lint test ## What CI runs after installing system packages

clean: ## Remove build outputs and the virtualenv
	rm -rf $(VENV) target .pytest_cache .mypy_cache .ruff_cache
