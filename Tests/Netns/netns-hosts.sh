#!/usr/bin/env bash
# Test "hosts" in network namespaces: PREFIX-hI (10.200.0.I/24 on its eth0) joined by a bridge in a namespace of
# its own (PREFIX-br), so the root namespace gains no interface, route or rule.
#   netns-hosts.sh up PREFIX N           make N hosts
#   netns-hosts.sh partition PREFIX I    drop every frame to and from host I at the bridge (the link stays up)
#   netns-hosts.sh heal PREFIX I         forward them again
#   netns-hosts.sh limit PREFIX I RATE   shape host I's egress to RATE (tc tbf), e.g. 4mbit
#   netns-hosts.sh down PREFIX           kill what runs in them and delete every namespace
# Run a program on host I with: ip netns exec PREFIX-hI PROGRAM
# Needs root, iproute2 and nftables.
set -euo pipefail
action=${1:?up|partition|heal|limit|down}
prefix=${2:?prefix}
br="$prefix-br"

case "$action" in
up)
  n=${3:?number of hosts}
  ip netns add "$br"
  ip -n "$br" link add br0 type bridge
  ip -n "$br" link set br0 up
  ip -n "$br" link set lo up
  for i in $(seq 1 "$n"); do
    h="$prefix-h$i"
    ip netns add "$h"
    ip -n "$br" link add "v$i" type veth peer name eth0 netns "$h"
    ip -n "$br" link set "v$i" master br0 up
    ip -n "$h" addr add "10.200.0.$i/24" dev eth0
    ip -n "$h" link set eth0 up
    ip -n "$h" link set lo up
  done
  # Partitions are rules in this table; it starts empty.
  ip netns exec "$br" nft add table bridge partitions
  ip netns exec "$br" nft add chain bridge partitions forward '{ type filter hook forward priority 0; policy accept; }'
  ;;
partition)
  i=${3:?host}
  ip netns exec "$br" nft add rule bridge partitions forward iifname "v$i" drop comment "\"cut-$i\""
  ip netns exec "$br" nft add rule bridge partitions forward oifname "v$i" drop comment "\"cut-$i\""
  ;;
heal)
  i=${3:?host}
  for handle in $(ip netns exec "$br" nft -a list chain bridge partitions forward | grep "\"cut-$i\"" | sed 's/.*# handle //'); do
    ip netns exec "$br" nft delete rule bridge partitions forward handle "$handle"
  done
  ;;
limit)
  i=${3:?host}
  rate=${4:?rate}
  ip netns exec "$prefix-h$i" tc qdisc replace dev eth0 root tbf rate "$rate" burst 32kbit latency 500ms
  ;;
down)
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-" || true); do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
  done
  ;;
*)
  echo "netns-hosts.sh: unknown action '$action'" >&2
  exit 2
  ;;
esac
