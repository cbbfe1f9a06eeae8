#!/usr/bin/env bash
# Inference speed of a student: our fp32 and int8 runtimes against PyTorch's fp32 and dynamic int8 quantization of
# the same model, in alternating rounds; prints each round and the median ratios.
#   Benchmarks/infer_vs_torch.sh DENSE.safetensors INT8.safetensors [BATCH] [ROUNDS]
# DENSE is the fp32 student (torch rebuilds it), INT8 its `distillery quantize` output. Needs torch==2.13.0+cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
dense=$1
int8=$2
batch=${3:-256}
rounds=${4:-5}
threads=${THREADS:-2}

swift build -c release >/dev/null
bin=.build/release/distillery
python3 -c "import torch" 2>/dev/null || { echo "torch missing: pip install torch==2.13.0+cpu" >&2; exit 1; }

echo "batch $batch, $threads threads, $rounds alternating rounds"
ours_ratios=() torch_ratios=()
for round in $(seq 1 "$rounds"); do
  read -r fp32 q8 < <("$bin" bench infer --model "$dense" --model "$int8" --batch-size "$batch" --repeats 3 --threads "$threads" --json \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r[0]["samples_per_second"], r[1]["samples_per_second"])')
  read -r tfp32 tq8 < <(python3 Benchmarks/torch_infer.py --model "$dense" --batch-size "$batch" --repeats 3 --threads "$threads" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["fp32"], r["dynamic_int8"])')
  ours=$(python3 -c "print(f'{$q8 / $fp32:.3f}')")
  versus=$(python3 -c "print(f'{$q8 / $tq8:.3f}')")
  ours_ratios+=("$ours"); torch_ratios+=("$versus")
  printf 'round %d: distillery fp32 %.0f, int8 %.0f samples/s; torch fp32 %.0f, dynamic int8 %.0f samples/s; int8/fp32 %s, ours/torch int8 %s\n' \
    "$round" "$fp32" "$q8" "$tfp32" "$tq8" "$ours" "$versus"
done
python3 -c "import statistics,sys; print(f'median int8/fp32 (distillery): {statistics.median(map(float, sys.argv[1:])):.3f}')" "${ours_ratios[@]}"
python3 -c "import statistics,sys; print(f'median distillery int8 / torch dynamic int8: {statistics.median(map(float, sys.argv[1:])):.3f}')" "${torch_ratios[@]}"
