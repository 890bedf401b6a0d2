#!/usr/bin/env bash
# Fuzzes firebreak-core's public path (Event::parse → Triage::triage → plan, page, record) with
# cargo-fuzz and libFuzzer, seeded with every sample event and every malformed one. Prints the
# executions, their rate and the coverage reached; exits non-zero on a crash, whose input is in
# fuzz/artifacts/triage/. Needs the nightly toolchain and cargo-fuzz (cargo install cargo-fuzz).
# Usage: FUZZ_SECONDS=600 bench/fuzz.sh
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-600}"
corpus=fuzz/corpus/triage
artifacts=fuzz/artifacts/triage
log="$artifacts/last-run.log"

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
	echo "bench/fuzz.sh: needs cargo-fuzz on the nightly toolchain: cargo install cargo-fuzz" >&2
	exit 2
fi

# libFuzzer adds what it finds to the corpus directory; the seeds are copied in every run.
mkdir -p "$corpus" "$artifacts"
cp events/*.json tests/malformed/* "$corpus/"
for f in events/samples/guardduty/*.json; do
	cp "$f" "$corpus/sample-$(basename "$f")"
done
echo "fuzzing for ${seconds}s from $(find "$corpus" -type f | wc -l) corpus files (log: $log)"

status=0
cargo +nightly fuzz run triage -- -max_total_time="$seconds" -max_len=262144 \
	-rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?

# libFuzzer's last status line ("#N DONE cov: … ft: … corp: …/… exec/s: … rss: …") and its
# final statistics.
stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
coverage="$(grep -E '^#[0-9]+' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+/[^ ]+' || true)"
echo "executions:  $(stat number_of_executed_units)"
echo "execs/s:     $(stat average_exec_per_sec)"
echo "coverage:    ${coverage:-unknown}"
echo "peak RSS:    $(stat peak_rss_mb) MB"

if [ "$status" -ne 0 ]; then
	echo
	echo "bench/fuzz.sh: the fuzzer stopped with status $status; its last lines:" >&2
	tail -n 40 "$log" >&2
	ls "$artifacts"/crash-* "$artifacts"/oom-* "$artifacts"/timeout-* 2>/dev/null >&2 || true
	exit "$status"
fi
echo "no crash"
