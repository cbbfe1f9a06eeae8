#!/usr/bin/env bash
# ONNX inference speed: Distillery's graph interpreter against onnxruntime on the same .onnx file and batch size,
# in alternating rounds; prints each round and the median ratio (ours / onnxruntime).
#   Benchmarks/onnx_vs_ort.sh MODEL.onnx [BATCH] [ROUNDS]
# A teacher's soft targets cost this forward pass, once per member, sample and epoch. Needs onnxruntime.
set -euo pipefail
cd "$(dirname "$0")/.."
model=$1
batch=${2:-256}
rounds=${3:-5}
threads=${THREADS:-2}

swift build -c release >/dev/null
bin=.build/release/distillery
python3 -c "import onnxruntime" 2>/dev/null || { echo "onnxruntime missing: pip install onnxruntime" >&2; exit 1; }

ort_rate() {
  python3 - "$model" "$batch" "$threads" <<'PY'
import statistics, sys, time
import numpy as np, onnxruntime as ort
path, batch, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
options = ort.SessionOptions()
options.intra_op_num_threads = threads
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
shape = [batch] + [d for d in session.get_inputs()[0].shape[1:]]
x = np.random.default_rng(3).random(shape, dtype=np.float32)
feed = {session.get_inputs()[0].name: x}
session.run(None, feed)
rates = []
for _ in range(3):
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < 0.3:
        session.run(None, feed)
        done += batch
    rates.append(done / (time.perf_counter() - started))
print(statistics.median(rates))
PY
}

echo "batch $batch, $threads threads, $rounds alternating rounds, $model"
ratios=()
for round in $(seq 1 "$rounds"); do
  ours=$("$bin" bench infer --model "$model" --batch-size "$batch" --repeats 3 --threads "$threads" --json \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_second"])')
  theirs=$(ort_rate)
  ratio=$(python3 -c "print(f'{$ours / $theirs:.3f}')")
  ratios+=("$ratio")
  printf 'round %d: distillery %.0f samples/s, onnxruntime %.0f samples/s, ratio %s\n' "$round" "$ours" "$theirs" "$ratio"
done
python3 -c "import statistics,sys; print(f'median distillery / onnxruntime: {statistics.median(map(float, sys.argv[1:])):.3f}')" "${ratios[@]}"
