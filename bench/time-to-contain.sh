#!/usr/bin/env bash
# Time to containment through the deployed pipeline's handlers on the local AWS emulator: a
# leaked-key finding at triage -> Firebreak's bus (the template's rules) -> contain, counting the
# AWS round trips up to UpdateAccessKey from the emulator's own request log, beside one emulator
# round trip of the same run. Usage: bench/time-to-contain.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s venv
# A debug build: the time is the emulator's, not the client's.
cargo build -q -p firebreak-xtask --bin firebreak-bench-contain
MOTO_RECORDER_FILEPATH="$(mktemp)" ./target/debug/firebreak-bench-contain "${1:-7}"
