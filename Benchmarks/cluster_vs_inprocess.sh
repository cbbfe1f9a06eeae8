#!/usr/bin/env bash
# The cluster's cost: per-epoch time of `distillery run` (coordinator, 1 teacher and 1 student process on
# loopback) against the same distillation in one process (`distillery distill --job`), on the same job and
# machine; then soft-target throughput with 1 and with 2 teacher processes. Prints medians and ratios.
#   Benchmarks/cluster_vs_inprocess.sh [TEACHER_CHECKPOINT] [EPOCHS] [ROUNDS]
# The teacher defaults to the one `bash ops/main-job` trains (runs/teachers/quick-cnn-a.safetensors).
set -euo pipefail
cd "$(dirname "$0")/.."
teacher=$(realpath "${1:-runs/teachers/quick-cnn-a.safetensors}")
epochs=${2:-3}
rounds=${3:-3}
[ -f "$teacher" ] || { echo "no teacher checkpoint at $teacher (run bash ops/main-job first, or pass one)" >&2; exit 1; }
swift build -c release >/dev/null
bin=$(realpath .build/release/distillery)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

job() {  # job NAME TEACHERS(local processes) MEMBERS STUDENT
  local members=""
  for i in $(seq 1 "$3"); do members+="  - {name: m$i, checkpoint: $teacher}"$'\n'; done
  cat > "$work/$1.yaml" <<EOF
name: $1
seed: 1
data: {dataset: fashion-mnist, shard_size: 2000, augment: {translate: 2}, normalize: auto}
teachers:
$members
distillation: {temperature: 2, alpha: 0.5}
student: {model: "$4", lr: 0.003, schedule: cosine, epochs: $epochs, batch_size: 128}
soft_targets: {encoding: fp16}
cluster: {plaintext: true, local_teachers: $2}
output: {dir: $work/$1}
EOF
  echo "$work/$1.yaml"
}

# Median seconds per epoch of the cluster's student, from the coordinator's state.
cluster_epoch() {
  "$bin" run "$1" --json > /dev/null 2>&1
  python3 - "$(dirname "$1")/$(basename "$1" .yaml)/state/state.sqlite" <<'EOF'
import sqlite3, statistics, sys
rows = sqlite3.connect(sys.argv[1]).execute("SELECT seconds FROM epochs WHERE replica = 0").fetchall()
print(statistics.median(r[0] for r in rows))
EOF
}

inprocess_epoch() {
  "$bin" distill --job "$1" 2>&1 | python3 -c '
import re, statistics, sys
rates = [float(m.group(1)) for m in (re.search(r"(\d+) samples/s$", l.strip()) for l in sys.stdin if l.startswith("epoch")) if m]
print(statistics.median(60000 / r for r in rates))'
}

student="cnn:1x28x28:c8-p-c16-p-f32-10"
one=$(job one-teacher 1 1 "$student")
echo "per-epoch time, 1 teacher member, student $student, $epochs epochs, $rounds alternating rounds"
ratios=()
for round in $(seq 1 "$rounds"); do
  c=$(cluster_epoch "$one"); p=$(inprocess_epoch "$one")
  r=$(python3 -c "print(f'{$c / $p:.3f}')")
  ratios+=("$r")
  printf 'round %d: cluster %.1f s/epoch, in-process %.1f s/epoch, ratio %s\n' "$round" "$c" "$p" "$r"
done
python3 -c "import statistics,sys; print(f'median ratio cluster/in-process: {statistics.median(map(float, sys.argv[1:])):.3f}')" "${ratios[@]}"

# Soft-target throughput: three members and a light student, so the teachers are the bottleneck.
echo "soft-target throughput (3 members x 60000 samples per epoch, mlp student)"
for teachers in 1 2; do
  y=$(job "throughput-$teachers" "$teachers" 3 "mlp:784-32-10")
  seconds=$(cluster_epoch "$y")
  python3 -c "print(f'{$teachers} teacher process(es): {3 * 60000 / $seconds:.0f} soft targets/s ({$seconds:.1f} s per epoch)')"
done
