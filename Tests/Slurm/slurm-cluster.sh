#!/usr/bin/env bash
# A real Slurm cluster on this machine for the tests: munged, one slurmctld and NODES slurmd ("nodes" n1..nN,
# all on 127.0.0.1 with a port each), everything under DIR.
#   slurm-cluster.sh up DIR [NODES]    start it; prints the SLURM_CONF path once every node is idle
#   slurm-cluster.sh down DIR          cancel its jobs, stop every daemon it started (and each job step's slurmstepd
#                                      and tasks), and wait until none is left
# Needs root and Debian's slurmctld, slurmd, slurm-client and munge, and ss (iproute2) (ops/setup --test installs them).
set -euo pipefail
# Close every descriptor inherited beyond 0-2: the daemons started below would inherit them, and a caller that
# watches one (Foundation's Process waits for its end of a socket to close) would wait as long as they run.
for fd in $(ls /proc/$$/fd); do
  [ "$fd" -gt 2 ] && eval "exec $fd>&-" 2>/dev/null || true
done
action=${1:?up|down}
dir=${2:?work directory}
nodes=${3:-3}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
conf="$dir/slurm.conf"
export SLURM_CONF="$conf"

down() {
  # Jobs first (their steps' slurmstepd and tasks outlive slurmd otherwise), while the controller still answers.
  if [ -f "$conf" ] && [ -f "$dir/pids/slurmctld.pid" ] && kill -0 "$(cat "$dir/pids/slurmctld.pid")" 2>/dev/null; then
    scancel --quiet --user="$(id -un)" 2>/dev/null || true
    for _ in $(seq 1 50); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
  # Every slurmstepd of this cluster listens on a socket in its spool directory: end it and what it started.
  stepds=$(ss -xlpn 2>/dev/null | grep -F "$dir/spool/" | grep -o 'pid=[0-9]*' | cut -d= -f2 | sort -u || true)
  for pid in $stepds; do
    tree=$(descendants "$pid")
    kill -KILL $tree "$pid" 2>/dev/null || true
  done
  for f in "$dir"/pids/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
  done
  for _ in $(seq 1 100); do
    alive=0
    for f in "$dir"/pids/*.pid; do
      [ -f "$f" ] || continue
      kill -0 "$(cat "$f")" 2>/dev/null && alive=1
    done
    [ $alive -eq 0 ] && break
    sleep 0.1
  done
  for f in "$dir"/pids/*.pid; do
    [ -f "$f" ] || continue
    kill -9 "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
}

# The pids of every process below $1.
descendants() {
  local children
  children=$(pgrep -P "$1" 2>/dev/null || true)
  for c in $children; do
    echo "$c"
    descendants "$c"
  done
}

if [ "$action" = down ]; then
  down
  exit 0
fi

host=$(hostname -s)
# Ports free for this run: the controller's and one per node.
base=$((20000 + RANDOM % 20000))
mkdir -p "$dir/state" "$dir/spool" "$dir/log" "$dir/pids"
cat > "$conf" <<CONF
ClusterName=distillerytest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$base
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerParameters=bf_interval=1
MpiDefault=none
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=600
KillWait=5
NodeName=n[1-$nodes] NodeHostname=$host NodeAddr=127.0.0.1 Port=[$((base + 1))-$((base + nodes))] CPUs=2 State=UNKNOWN
PartitionName=test Nodes=n[1-$nodes] Default=YES MaxTime=INFINITE State=UP OverSubscribe=FORCE:4
CONF

# munged runs as the munge user; one may already be serving (it serves every Slurm on the machine). Asked, not
# looked for: a munged another cluster's "down" just stopped (or left a zombie nobody reaps) still shows in the
# process table, and a cluster trusting it would never authenticate.
munge_answers() { munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; }
if ! munge_answers; then
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge
  # No inherited descriptors: a daemon holding our stdout open would keep a caller reading it waiting forever.
  # --force: a stopped munged's socket and lock may still be there.
  runuser -u munge -- /usr/sbin/munged --force </dev/null >/dev/null 2>&1
  for _ in $(seq 1 50); do munge_answers && break; sleep 0.1; done
  # Ours to stop at "down".
  cp /run/munge/munged.pid "$dir/pids/munged.pid"
fi

slurmctld -D -i -f "$conf" </dev/null > "$dir/log/slurmctld.out" 2>&1 &
echo $! > "$dir/pids/slurmctld.pid"
for n in $(seq 1 "$nodes"); do
  mkdir -p "$dir/spool/n$n"
  slurmd -D -N "n$n" -f "$conf" </dev/null > "$dir/log/slurmd-n$n.out" 2>&1 &
  echo $! > "$dir/pids/slurmd-n$n.pid"
done

for _ in $(seq 1 300); do
  idle=$(sinfo -h -N -o '%N %t' 2>/dev/null | grep -c ' idle' || true)
  if [ "$idle" -ge "$nodes" ]; then
    echo "$conf"
    exit 0
  fi
  sleep 0.1
done
echo "slurm-cluster.sh: the nodes did not come up within 30 s:" >&2
sinfo -N >&2 || true
tail -n 20 "$dir"/log/*.log >&2 || true
down
exit 1
