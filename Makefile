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

.PHONY: help build test lint fmt demo bench clean venv check-core-pure check-invariants

help:
	@echo "make demo   - replay every sample event against a local AWS emulator and show the response"
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
	@$(MAKE) --no-print-directory check-core-pure check-invariants

# ARCHITECTURE.md's invariants that a grep can check.
check-invariants:
	@if grep -rnE 'stop_instances|terminate_instances|StopInstances|TerminateInstances' crates/*/src; then \
		echo "an instance must never be stopped or terminated"; exit 1; fi
	@if grep -rnE 'std::env::|env::var' crates/core/src crates/aws/src; then \
		echo "only entry points read the environment"; exit 1; fi
	@echo "invariants: nothing stops or terminates an instance; core and effectors read no environment"

# The core must never depend on I/O runtimes or the AWS SDK.
check-core-pure:
	@if $(CARGO) tree -p firebreak-core -e normal,build --prefix none | grep -E '^(aws-|tokio|hyper|reqwest|mio)'; then \
		echo "firebreak-core depends on an I/O crate (see above)"; exit 1; \
	else echo "firebreak-core: no aws-sdk, aws-config, tokio or hyper in its dependency tree"; fi

# The whole response on a simulated account: emulator up, stack and resources seeded, every event
# replayed through the responder, a summary, a refused evidence deletion, emulator down.
demo: venv
	@$(CARGO) build -q -p firebreak-tests --bin firebreak-demo -p firebreak-cli
	@./target/debug/firebreak-demo
	@echo
	@echo "== GuardDuty sample findings (drills off: all ignored) =="
	@$(FIREBREAK) plan --config $(CONFIG) events/samples/guardduty | grep -c "ignored: GuardDuty sample finding" | xargs -I{} echo "{} sample findings ignored"

bench: venv
	$(CARGO) bench -p firebreak-core --bench triage
	bench/triage-vs-python.sh
	bench/respond.sh

clean:
	$(CARGO) clean
