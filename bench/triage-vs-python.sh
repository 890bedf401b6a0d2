#!/usr/bin/env bash
# Times `firebreak plan --json` over a 100k-line NDJSON corpus against python3 merely
# json.loads-ing the same file (parsing only, no rules), in one run, and prints the ratio.
# Usage: bench/triage-vs-python.sh [lines] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
lines=${1:-100000}
runs=${2:-5}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build --release -q -p firebreak-cli
bin=target/release/firebreak

# The corpus, minified, cycled to $lines lines (sample findings included: they are ignored fast,
# as in production; drills off).
python3 - "$lines" "$work/corpus.ndjson" <<'PY'
import json, pathlib, sys
n, out = int(sys.argv[1]), sys.argv[2]
files = sorted(p for p in pathlib.Path("events").rglob("*.json"))
events = [json.dumps(json.loads(p.read_text()), separators=(",", ":")) for p in files]
with open(out, "w") as f:
    for i in range(n):
        f.write(events[i % len(events)] + "\n")
PY

python_floor() {
  python3 -c 'import json,sys
with open(sys.argv[1]) as f:
    for line in f:
        json.loads(line)' "$work/corpus.ndjson"
}

firebreak_plan() {
  "$bin" plan --json --config infra/firebreak.toml "$work/corpus.ndjson" > "$work/out.ndjson"
}

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

fb_times=(); py_times=()
for _ in $(seq "$runs"); do
  # Interleaved, so both see the same machine state.
  t0=$(now); firebreak_plan; t1=$(now); python_floor; t2=$(now)
  fb_times+=($(( (t1 - t0) / 1000 ))); py_times+=($(( (t2 - t1) / 1000 )))
done
fb=$(printf '%s\n' "${fb_times[@]}" | median)
py=$(printf '%s\n' "${py_times[@]}" | median)
planned=$(wc -l < "$work/out.ndjson")
awk -v fb="$fb" -v py="$py" -v n="$lines" -v planned="$planned" -v runs="$runs" 'BEGIN {
  printf "events: %d (plans written: %d), runs: %d, median wall time\n", n, planned, runs
  printf "firebreak plan --json (parse+classify+plan+write): %8.1f ms  %6.2f us/event\n", fb/1000, fb/n
  printf "python3 json.loads only (floor):                   %8.1f ms  %6.2f us/event\n", py/1000, py/n
  printf "ratio python/firebreak: %.2fx\n", py/fb
}'
