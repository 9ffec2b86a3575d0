#!/usr/bin/env bash
# Instructions per output cache line of every dtype x layout, prefill and decode, one thread,
# counted by callgrind (repeatable under load, unlike timings). Split into the row kernels
# (Rotate*), the angles (SinCos*) and everything else (planning, tables, copies).
#   [CASES='prefill long decode'] [CALLS='buffer inplace'] bench/profile_kernels.sh [BUILD_DIR=build-dev] [REPS=10]
# CALLS='qk two' counts Q+K (k with 8 heads) in one rope_qk call against two rope calls.
set -euo pipefail
BUILD=${1:-build-dev}
REPS=${2:-10}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
echo "| case | dtype | layout | call | instr./line | row kernel | angles | other |"
echo "|---|---|---|---|---:|---:|---:|---:|"
for case in ${CASES:-prefill long decode}; do
  for dtype in float32 float16 bfloat16; do
    for layout in half interleaved; do
      for call in ${CALLS:-buffer inplace}; do
        out=$TMP/cg.out
        info=$(valgrind --tool=callgrind --collect-atstart=no --callgrind-out-file="$out" \
          "$BUILD/bench/kernel_profile" --case=$case --dtype=$dtype --layout=$layout --call=$call --reps=$REPS 2>/dev/null)
        lines=$(sed -n 's/.*calls, \([0-9]*\) output cache lines.*/\1/p' <<<"$info")
        callgrind_annotate --threshold=100 "$out" 2>/dev/null | awk -v lines="$lines" -v reps="$REPS" \
          -v c=$case -v d=$dtype -v l=$layout -v k=$call '
          function num(s) { gsub(",", "", s); return s + 0 }
          /PROGRAM TOTALS/ { total = num($1) }
          /^ *[0-9,]+ .*:/ && !/PROGRAM TOTALS/ {
            n = num($1)
            if ($0 ~ /Rotate/) kern += n; else if ($0 ~ /SinCos/) ang += n
          }
          END { per = lines * reps
                printf "| %s | %s | %s | %s | %.1f | %.1f | %.1f | %.1f |\n", c, d, l, k, total / per,
                       kern / per, ang / per, (total - kern - ang) / per }'
      done
    done
  done
done
