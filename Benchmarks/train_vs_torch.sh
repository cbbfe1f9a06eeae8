#!/usr/bin/env bash
# Training throughput of Distillery against PyTorch on the same model, batch and optimizer,
# alternating runs so both see the same machine noise; prints each round and the median ratio.
#   Benchmarks/train_vs_torch.sh [MODEL] [BATCH] [OPTIMIZER] [ROUNDS]   (STEPS, REPEATS, WARMUP: the timing scheme)
# Peak RSS of each process (GNU time) is printed beside the rates.
# Needs torch: pip install torch==2.13.0+cpu
set -euo pipefail
cd "$(dirname "$0")/.."
model=${1:-mlp:784-1200-1200-10}
batch=${2:-128}
optimizer=${3:-adam}
rounds=${4:-7}
threads=${THREADS:-2}

swift build -c release >/dev/null
bin=.build/release/distillery
python3 -c "import torch" 2>/dev/null || { echo "torch missing: pip install torch==2.13.0+cpu" >&2; exit 1; }

steps=${STEPS:-50}
repeats=${REPEATS:-5}
warmup=${WARMUP:-10}
timing="--steps $steps --repeats $repeats --warmup $warmup"

# Runs a command under GNU time; prints its stdout's samples_per_second and its peak RSS in MiB.
measure() {
  local rss_file
  rss_file=$(mktemp)
  local rate
  rate=$(/usr/bin/time -f %M -o "$rss_file" "$@" | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_second"])')
  echo "$rate $(( $(tail -1 "$rss_file") / 1024 ))"
  rm -f "$rss_file"
}

echo "model $model, batch $batch, $optimizer, $threads threads, $rounds alternating rounds ($timing)"
ratios=(); our_rss=(); their_rss=()
for round in $(seq 1 "$rounds"); do
  read -r ours ours_mib < <(measure "$bin" bench train --model "$model" --batch-size "$batch" --optimizer "$optimizer" \
    --threads "$threads" $timing --json)
  read -r theirs theirs_mib < <(measure python3 Benchmarks/torch_train.py --model "$model" --batch-size "$batch" \
    --optimizer "$optimizer" --threads "$threads" $timing)
  ratio=$(python3 -c "print(f'{$ours / $theirs:.3f}')")
  ratios+=("$ratio"); our_rss+=("$ours_mib"); their_rss+=("$theirs_mib")
  printf 'round %d: distillery %.0f samples/s (%d MiB), torch %.0f samples/s (%d MiB), ratio %s\n' \
    "$round" "$ours" "$ours_mib" "$theirs" "$theirs_mib" "$ratio"
done
python3 - "${ratios[*]}" "${our_rss[*]}" "${their_rss[*]}" <<'PY'
import statistics, sys
ratios, ours, theirs = ([float(v) for v in a.split()] for a in sys.argv[1:])
print(f"median ratio distillery/torch: {statistics.median(ratios):.3f}")
print(f"median peak RSS: distillery {statistics.median(ours):.0f} MiB, torch {statistics.median(theirs):.0f} MiB")
PY
