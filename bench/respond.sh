#!/usr/bin/env bash
# Event → every action done → page received, per playbook, against the local AWS emulator:
# median of repeated runs, AWS calls recorded by the emulator, and one emulator round trip as the
# baseline of the same run. Usage: bench/respond.sh [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
make -s venv
# A debug build: the time is the emulator's, not the client's (and a release build of the SDK
# takes ten minutes on two cores).
cargo build -q -p firebreak-xtask --bin firebreak-bench-respond
MOTO_RECORDER_FILEPATH="$(mktemp)" ./target/debug/firebreak-bench-respond "${1:-7}"
