#!/usr/bin/env bash
# `firebreak hunt --json` against `zcat | jq` and Python's gzip + json with the same filter, on
# the same generated trail files, interleaved in one run: one core, then every core. Prints
# each median wall time, the ratios, MB/s of JSON per core, and peak memory.
# Usage: bench/hunt.sh [records] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
records=${1:-300000}
runs=${2:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
command -v jq >/dev/null || { echo "bench/hunt.sh needs jq (apt-get install jq)"; exit 1; }
[ -x /usr/bin/time ] || { echo "bench/hunt.sh needs GNU time (apt-get install time)"; exit 1; }

cargo build --release -q -p firebreak-cli -p firebreak-xtask --bin firebreak --bin firebreak-gen-trail
bin=target/release/firebreak
target/release/firebreak-gen-trail "$work/trail" --records "$records" --days 7 --principals 400
key=AKIAFBHUNTATTACKER01
busy=ASIABACKGROUND000000   # the generator's busy role session, in about every file
cores=$(nproc)
find "$work/trail" -name '*.json.gz' | sort > "$work/files"
json_mb=$(xargs zcat < "$work/files" | wc -c | awk '{print $1/1e6}')
files=$(wc -l < "$work/files")

fb() { # $1 key, $2 jobs
  "$bin" hunt "$work/trail" --json --no-follow --principal "$1" --jobs "$2" \
    --since 2026-11-01 --until 2026-12-01 > "$work/fb.ndjson" 2>/dev/null
}
jq_filter() { # $1 key
  xargs zcat < "$work/files" \
    | jq -c --arg k "$1" '.Records[] | select(.userIdentity.accessKeyId == $k)' > "$work/jq.ndjson"
}
python_filter() { # $1 key
  python3 - "$1" "$work/files" > "$work/py.ndjson" <<'PY'
import gzip, json, sys
key = sys.argv[1]
for path in open(sys.argv[2]).read().split():
    with gzip.open(path, "rb") as f:
        for r in json.load(f)["Records"]:
            if (r.get("userIdentity") or {}).get("accessKeyId") == key:
                print(json.dumps(r, separators=(",", ":")))
PY
}

now() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
peak_kb() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }

for who in attacker busy; do
  k=$key; [ "$who" = busy ] && k=$busy
  declare -a one=() all=() jqt=() pyt=()
  for _ in $(seq "$runs"); do
    t0=$(now); fb "$k" 1; t1=$(now); fb "$k" "$cores"; t2=$(now); jq_filter "$k"; t3=$(now)
    python_filter "$k"; t4=$(now)
    one+=($(( (t1 - t0) / 1000 ))); all+=($(( (t2 - t1) / 1000 )))
    jqt+=($(( (t3 - t2) / 1000 ))); pyt+=($(( (t4 - t3) / 1000 )))
  done
  # Same answer from all three (jq and Python print the records; firebreak prints them as
  # the file holds them).
  n_fb=$(wc -l < "$work/fb.ndjson"); n_jq=$(wc -l < "$work/jq.ndjson"); n_py=$(wc -l < "$work/py.ndjson")
  [ "$n_fb" = "$n_jq" ] && [ "$n_fb" = "$n_py" ] || { echo "MISMATCH: firebreak $n_fb, jq $n_jq, python $n_py"; exit 1; }
  mem_one=$(peak_kb "$bin" hunt "$work/trail" --json --no-follow --principal "$k" --jobs 1 --since 2026-11-01 --until 2026-12-01)
  mem_all=$(peak_kb "$bin" hunt "$work/trail" --json --no-follow --principal "$k" --jobs "$cores" --since 2026-11-01 --until 2026-12-01)
  awk -v who="$who" -v one="$(printf '%s\n' "${one[@]}" | median)" \
      -v all="$(printf '%s\n' "${all[@]}" | median)" -v jq="$(printf '%s\n' "${jqt[@]}" | median)" \
      -v py="$(printf '%s\n' "${pyt[@]}" | median)" -v mb="$json_mb" -v files="$files" \
      -v cores="$cores" -v n="$n_fb" -v runs="$runs" -v m1="$mem_one" -v ma="$mem_all" 'BEGIN {
    printf "\n== principal: %s (%d matching records) — %d files, %.0f MB of JSON, %d runs, median wall time ==\n", who, n, files, mb, runs
    printf "firebreak hunt, 1 core:     %8.0f ms  %7.0f MB/s  peak %6.1f MiB\n", one/1000, mb/(one/1e6), m1/1024
    printf "firebreak hunt, %d cores:    %8.0f ms  %7.0f MB/s  peak %6.1f MiB  (speed-up %.2fx)\n", cores, all/1000, mb/(all/1e6), ma/1024, one/all
    printf "zcat | jq select:           %8.0f ms  %7.0f MB/s\n", jq/1000, mb/(jq/1e6)
    printf "python gzip + json:         %8.0f ms  %7.0f MB/s\n", py/1000, mb/(py/1e6)
    printf "ratio jq/firebreak (1 core): %.1fx   python/firebreak (1 core): %.1fx\n", jq/one, py/one
  }'
  unset one all jqt pyt
done
