#!/usr/bin/env bash
# One run of the deadline clock at N incidents (a fixed 50 of them can still fall due, the rest
# are settled), seeded straight into the emulator's evidence bucket: the indexed run beside the
# full scan it replaced (the baseline, same run), and one emulator round trip as the unit.
# Usage: bench/clock.sh [N ...]   (default 1000 10000; the full scan runs up to --full-max 10000)
set -euo pipefail
cd "$(dirname "$0")/.."
make -s venv
# A debug build: the time is the emulator's, not the client's.
cargo build -q -p firebreak-xtask --bin firebreak-bench-clock
[ $# -gt 0 ] || set -- 1000 10000
./target/debug/firebreak-bench-clock "$@"
