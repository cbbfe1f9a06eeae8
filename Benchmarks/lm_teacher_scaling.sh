#!/usr/bin/env bash
# How an LM job's soft-target rate scales with teacher processes: one GPT teacher member (any weights compute at the
# same speed), a small student, top-k 32 targets on shakespeare windows; coordinator, N teacher workers (one
# thread each) and the student (one thread) as real processes, on loopback and, as root, across the network-
# namespace hosts of the test suite (Tests/Netns/netns-hosts.sh: coordinator, each teacher and the student on hosts of
# their own). Per N: soft-target tokens/s (the student's epoch rate, median over epochs), the student's own rate
# when it does not wait (tokens / (epoch - waiting)), the fraction of its epoch spent waiting for teachers, and the
# rate against N times one teacher's and against what the machine's cores allow (teachers and student sharing them).
#   Benchmarks/lm_teacher_scaling.sh [TEACHER_COUNTS (default "1 2 4")] [WINDOWS (default 1024)] [EPOCHS (default 3)]
set -euo pipefail
cd "$(dirname "$0")/.."
counts=${1:-1 2 4}
windows=${2:-1024}
epochs=${3:-3}
context=64
swift build -c release --product distillery >/dev/null
bin=$(realpath .build/release/distillery)
netns=$(realpath Tests/Netns/netns-hosts.sh)
work=$(mktemp -d)
prefix="dsb$$"
cleanup() {
  pkill -P $$ 2>/dev/null || true
  [ "$(id -u)" = 0 ] && bash "$netns" down "$prefix" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

teacher_model="gpt:vocab=256,ctx=$context,layers=4,heads=4,d=128"
student_model="gpt:vocab=256,ctx=$context,layers=1,heads=2,d=16"
"$bin" train --model "$teacher_model" --data shakespeare --limit 32 --test-limit 32 --epochs 1 --batch-size 16 \
  --out "$work/teacher.safetensors" >/dev/null 2>&1

job() {  # job DIR
  cat > "$1/job.yaml" <<EOF
name: lm-scaling
seed: 1
data: {dataset: shakespeare, limit: $windows, test_limit: 64, shard_size: 16}
teachers:
  - {name: t, checkpoint: $work/teacher.safetensors}
distillation: {temperature: 1, alpha: 1}
student: {model: "$student_model", epochs: $epochs, batch_size: 16, lr: 0.003, optimizer: adam}
soft_targets: {encoding: "topk:32"}
cluster: {plaintext: true, lease_ms: 10000}
output: {dir: $1/out}
EOF
}

# run_case WHERE N: starts the daemons (WHERE = local or netns), waits for the coordinator, prints one result line.
run_case() {
  local where=$1 n=$2 dir="$work/$1-$2"
  mkdir -p "$dir/logs"
  job "$dir"
  local on_host=() coordinator student_bind=(--bind "tcp://127.0.0.1:*")
  if [ "$where" = netns ]; then
    bash "$netns" up "$prefix" $((n + 2)) >/dev/null
    coordinator="tcp://10.200.0.1:5555"
    on_host=(ip netns exec "$prefix-h1")
  else
    coordinator="tcp://127.0.0.1:$((20000 + RANDOM % 20000))"
  fi
  "${on_host[@]}" "$bin" coordinator --job "$dir/job.yaml" --bind "$coordinator" --state "$dir/state" \
    --expect-workers $((n + 1)) > "$dir/logs/coordinator.log" 2>&1 &
  local coordinator_pid=$!
  for i in $(seq 1 "$n"); do
    [ "$where" = netns ] && on_host=(ip netns exec "$prefix-h$((i + 1))")
    "${on_host[@]}" "$bin" teacher --coordinator "$coordinator" --name "teacher-$i" --threads 1 > "$dir/logs/teacher-$i.log" 2>&1 &
  done
  if [ "$where" = netns ]; then
    on_host=(ip netns exec "$prefix-h$((n + 2))")
    student_bind=(--bind "tcp://0.0.0.0:*" --advertise "10.200.0.$((n + 2))")
  fi
  "${on_host[@]}" "$bin" student --coordinator "$coordinator" --name student --threads 1 "${student_bind[@]}" \
    > "$dir/logs/student.log" 2>&1 &
  wait "$coordinator_pid" || { echo "$where, $n teachers: the coordinator failed; logs in $dir/logs" >&2; tail -5 "$dir/logs/"*.log >&2; exit 1; }
  wait
  [ "$where" = netns ] && bash "$netns" down "$prefix"
  python3 - "$dir/logs/student.log" "$where" "$n" "$((windows * context))" <<'EOF'
import re, statistics, sys
log, where, n, tokens = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
epochs = [(float(m.group(1)), float(m.group(2))) for m in
          (re.search(r"samples/s, ([0-9.]+) s, ([0-9.]+) s waiting for targets", l) for l in open(log)) if m]
if not epochs: sys.exit(f"no epoch lines in {log}")
rate = statistics.median(tokens / s for s, _ in epochs)
alone = statistics.median(tokens / max(s - w, 1e-9) for s, w in epochs)
waiting = statistics.median(w / s for s, w in epochs)
print(f"{where}\t{n}\t{rate:.0f}\t{alone:.0f}\t{waiting:.3f}")
EOF
}

places=(local)
if [ "$(id -u)" = 0 ] && command -v ip >/dev/null && command -v nft >/dev/null; then places+=(netns); fi
echo "teacher $teacher_model, student $student_model, $windows windows of $context bytes, $epochs epochs, top-k 32; $(nproc) cores"
results=$(for where in "${places[@]}"; do for n in $counts; do run_case "$where" "$n"; done; done)
python3 - "$results" "$(nproc)" <<'EOF'
import sys
rows = [line.split("\t") for line in sys.argv[1].strip().splitlines()]
cores = int(sys.argv[2])
one = {w: (float(r), float(a)) for w, n, r, a, _ in rows if n == "1"}
# What the cores allow: N one-thread teachers at one's rate R, the student's one thread at its own rate S, and
# teachers and student sharing the cores (t/R + t/S <= cores).
print("| where | teacher processes | soft-target tokens/s | student's own tokens/s | epoch waiting for teachers "
      "| rate / (N x one teacher's) | rate / what the cores allow |")
print("|---|---:|---:|---:|---:|---:|---:|")
for where, n, rate, alone, waiting in rows:
    scaling = bound = "-"
    if where in one:
        r1, s1 = one[where]
        scaling = f"{float(rate) / (int(n) * r1):.2f}"
        bound = f"{float(rate) / min(int(n) * r1, s1, cores / (1 / r1 + 1 / s1)):.2f}"
    print(f"| {where} | {n} | {float(rate):,.0f} | {float(alone):,.0f} | {100 * float(waiting):.0f} % | {scaling} | {bound} |")
EOF
