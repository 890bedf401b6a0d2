# Firebreak: `make demo` shows the response on the sample events; `make test` is what CI runs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CARGO ?= cargo
FIREBREAK := target/debug/firebreak
CONFIG := infra/firebreak.toml
VENV := .venv
PYTHON ?= python3
# The local AWS emulator, the template linters, SAM CLI, cargo-lambda and zig live in a project
# venv, installed from PyPI (infra/requirements.txt).
BIN := $(abspath $(VENV)/bin)
# The template checks run offline: a region and dummy credentials are all they need.
AWS_OFFLINE := AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=offline \
	AWS_SECRET_ACCESS_KEY=offline SAM_CLI_TELEMETRY=0
FN ?= triage
EVENT ?= events/gd-iam-user-malicious-ip-caller-custom.json

.PHONY: help build test lint fmt demo bench bench-coldstart clean venv check-core-pure \
	check-invariants check-infra invoke package fuzz browser

help:
	@echo "make demo   - deploy the template on a local AWS emulator and run every sample event through the functions"
	@echo "make test   - fmt check, clippy, unit, property and corpus tests"
	@echo "make build  - build the workspace (debug)"
	@echo "make lint   - cargo fmt --check and clippy -D warnings"
	@echo "make bench  - criterion benchmark, triage-vs-python, respond and function cold start"
	@echo "make invoke FN=triage|contain|preserve|page|clock|drill EVENT=events/<file>.json"
	@echo "             - run one function binary under the Lambda runtime API against the emulator"
	@echo "make package - build one arm64 Lambda zip per function (cargo lambda + zig) and print sizes"
	@echo "make fuzz   - fuzz parse and triage with cargo-fuzz (nightly) for FUZZ_SECONDS (default 600)"
	@echo "make browser - install Chromium when missing (the HTML report test renders in it)"

build:
	$(CARGO) build --workspace

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

venv: $(VENV)/.installed

$(VENV)/.installed: infra/requirements.txt
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r infra/requirements.txt
	touch $@

# The runtime-API tests start the function binaries: cargo test alone does not build bins of
# other packages. `--tests` keeps the dev-dependencies' features, so cargo test reuses the build.
test: lint venv check-infra browser
	$(CARGO) build --workspace --bins --tests
	$(CARGO) test --workspace
	@$(MAKE) --no-print-directory check-core-pure check-invariants

# Headless Chromium for tests/report_browser.rs; FIREBREAK_CHROMIUM points at another one.
browser:
	@[ -n "$$FIREBREAK_CHROMIUM" ] || command -v chromium >/dev/null 2>&1 || { \
		if [ "$$(id -u)" -eq 0 ]; then SUDO=; else SUDO=sudo; fi; \
		$$SUDO apt-get update -q && \
		$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# The SAM template and the member-account role: linted, and every IAM policy audited. The template
# is linted again once SAM has transformed it: a cycle through Globals shows only there.
check-infra: venv
	$(AWS_OFFLINE) $(BIN)/cfn-lint infra/template.yaml infra/member-role.yaml infra/forwarder.yaml
	$(AWS_OFFLINE) $(BIN)/sam validate --lint -t infra/template.yaml
	@mkdir -p target
	$(AWS_OFFLINE) $(BIN)/python infra/translate.py infra/template.yaml > target/template.json
	$(AWS_OFFLINE) $(BIN)/cfn-lint target/template.json
	$(BIN)/python infra/check_policies.py infra/template.yaml infra/member-role.yaml infra/forwarder.yaml

# The same build as `make test` (every binary and test of the workspace), so neither rebuilds the
# SDK crates for the other's feature set.
invoke: venv
	@$(CARGO) build -q --workspace --bins --tests
	PATH="$(BIN):$$PATH" ./target/debug/firebreak-invoke $(FN) $(EVENT)

# One zip per function for arm64 (provided.al2023), cross-built with zig; `sam build` does the
# same from infra/template.yaml.
package: venv
	rustup target add aarch64-unknown-linux-gnu
	PATH="$(BIN):$$PATH" $(BIN)/cargo-lambda lambda build --release --arm64 --output-format zip \
		-p firebreak-triage -p firebreak-contain -p firebreak-preserve -p firebreak-page \
		-p firebreak-clock -p firebreak-drill -p firebreak-hunt
	@for f in triage contain preserve page clock drill hunt; do \
		ls -l target/lambda/$$f/bootstrap.zip | awk -v f=$$f '{printf "%-9s %6.1f MiB  %s\n", f, $$5/1048576, $$9}'; done

# The layers of the two library crates, bottom first: a module imports only its own layer and
# those before it (tools/check_modules.py), and no module imports another in a cycle.
CORE_LAYERS = error,severity,event,config,action,record,render,lifecycle,triage,hunt
AWS_LAYERS = sdk,service,store,effect,run

# ARCHITECTURE.md's invariants that a grep can check.
check-invariants:
	@if grep -rnE 'stop_instances|terminate_instances|StopInstances|TerminateInstances' crates/*/src; then \
		echo "an instance must never be stopped or terminated"; exit 1; fi
	@if grep -rnE 'std::env::|env::var' crates/core/src crates/aws/src; then \
		echo "only entry points read the environment"; exit 1; fi
	@$(PYTHON) tools/check_modules.py crates/core/src=$(CORE_LAYERS) crates/aws/src=$(AWS_LAYERS) crates/lambda/src crates/cli/src
	@[ $$(wc -c < README.md) -le 12288 ] || { echo "README.md is over 12 KiB: move detail to docs/"; exit 1; }
	@[ $$(wc -c < ARCHITECTURE.md) -le 15360 ] || { echo "ARCHITECTURE.md is over 15 KiB: it is a map"; exit 1; }
	@echo "invariants: nothing stops or terminates an instance; core and effectors read no environment; layers import downward only; README and ARCHITECTURE within their sizes"

# The core must never depend on I/O runtimes or the AWS SDK.
check-core-pure:
	@if $(CARGO) tree -p firebreak-core -e normal,build --prefix none | grep -E '^(aws-|tokio|hyper|reqwest|mio)'; then \
		echo "firebreak-core depends on an I/O crate (see above)"; exit 1; \
	else echo "firebreak-core: no aws-sdk, aws-config, tokio or hyper in its dependency tree"; fi

# The whole response on a simulated account: emulator up, resources seeded, the template deployed
# on the emulator's CloudFormation, every event through the created rules and the function
# binaries, a summary, a refused evidence deletion, emulator down.
# It checks its own numbers: a count that must be positive and is zero fails it.
demo: venv
	@$(CARGO) build -q --workspace --bins --tests
	@echo "== GuardDuty sample findings (drills off: all ignored) =="
	@n=$$($(FIREBREAK) plan --config $(CONFIG) events/samples/guardduty | grep -c "ignored: GuardDuty sample finding"); \
		echo "$$n sample findings ignored"; \
		[ "$$n" -gt 0 ] || { echo "ERROR: no GuardDuty sample finding was read and ignored"; exit 1; }
	@echo
	@./target/debug/firebreak-demo

bench: venv
	$(CARGO) bench -p firebreak-core --bench triage
	bench/triage-vs-python.sh
	bench/respond.sh
	bench/coldstart.sh

# cargo-fuzz over the core's parse → triage path, seeded from events/ and tests/malformed/; not
# part of `make test` (it needs nightly and runs for minutes).
fuzz:
	bench/fuzz.sh

clean:
	$(CARGO) clean
