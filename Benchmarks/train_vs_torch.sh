#!/usr/bin/env bash
# Training throughput of Distillery against PyTorch on the same model, batch and optimizer,
# alternating runs so both see the same machine noise; prints each round and the median ratio.
#   Benchmarks/train_vs_torch.sh [MODEL] [BATCH] [OPTIMIZER] [ROUNDS]
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

echo "model $model, batch $batch, $optimizer, $threads threads, $rounds alternating rounds"
ratios=()
for round in $(seq 1 "$rounds"); do
  ours=$("$bin" bench train --model "$model" --batch-size "$batch" --optimizer "$optimizer" --threads "$threads" --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_second"])')
  theirs=$(python3 Benchmarks/torch_train.py --model "$model" --batch-size "$batch" --optimizer "$optimizer" --threads "$threads" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_second"])')
  ratio=$(python3 -c "print(f'{$ours / $theirs:.3f}')")
  ratios+=("$ratio")
  printf 'round %d: distillery %.0f samples/s, torch %.0f samples/s, ratio %s\n' "$round" "$ours" "$theirs" "$ratio"
done
python3 -c "import statistics,sys; print(f'median ratio distillery/torch: {statistics.median(map(float, sys.argv[1:])):.3f}')" "${ratios[@]}"
