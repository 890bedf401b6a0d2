#!/usr/bin/env bash
# Each function's cold-start proxy (process start → ready for its first event) and peak RSS per
# invocation, beside a hello-world lambda_runtime function built the same way (crates/bench-hello),
# and `python3 -c "import boto3"`, the floor a Python responder pays before it does anything. Release builds for this machine (Lambda runs the same code built for arm64).
# Usage: bench/coldstart.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s venv
cargo build -q --release -p firebreak-triage -p firebreak-contain -p firebreak-preserve -p firebreak-page \
  -p firebreak-bench-hello
cargo build -q -p firebreak-xtask --bin firebreak-bench-coldstart
PATH="$PWD/.venv/bin:$PATH" ./target/debug/firebreak-bench-coldstart target/release "${1:-30}"
