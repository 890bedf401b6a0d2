# Firebreak: `make demo` shows the response on the sample events; `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
FIREBREAK := target/debug/firebreak
CONFIG := infra/firebreak.toml
VENV := .venv
PYTHON ?= python3
# The local AWS emulator (and, for the template checks, its linters) live in a project venv.
PY_PACKAGES := 'moto[server]>=5.1,<5.3'

.PHONY: help build test lint fmt demo bench clean venv

help:
	@echo "make demo   - plan every sample event in events/ and print the response plans"
	@echo "make test   - fmt check, clippy, unit, property and corpus tests"
	@echo "make build  - build the workspace (debug)"
	@echo "make lint   - cargo fmt --check and clippy -D warnings"
	@echo "make bench  - criterion benchmark and the triage-vs-python comparison"

build:
	$(CARGO) build --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

venv: $(VENV)/.installed

$(VENV)/.installed:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check $(PY_PACKAGES)
	touch $@

test: lint venv
	$(CARGO) test --workspace
	@$(MAKE) --no-print-directory check-core-pure

# The core must never depend on I/O runtimes or the AWS SDK.
check-core-pure:
	@if $(CARGO) tree -p firebreak-core -e normal,build --prefix none | grep -E '^(aws-|tokio|hyper|reqwest|mio)'; then \
		echo "firebreak-core depends on an I/O crate (see above)"; exit 1; \
	else echo "firebreak-core: no aws-sdk, aws-config, tokio or hyper in its dependency tree"; fi

demo: build
	@echo "== Firebreak demo: every sample event in events/, planned with $(CONFIG) =="
	@$(FIREBREAK) plan --config $(CONFIG) events/*.json
	@echo "== GuardDuty sample findings (drills off: all ignored) =="
	@$(FIREBREAK) plan --config $(CONFIG) events/samples/guardduty

bench:
	$(CARGO) bench -p firebreak-core --bench triage
	bench/triage-vs-python.sh

clean:
	$(CARGO) clean
