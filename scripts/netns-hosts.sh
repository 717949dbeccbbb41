#!/bin/bash
# Two pretend hosts for tests: network namespaces PREFIX-a and PREFIX-b joined by a veth pair
# on a private /24 made here only. Usage: netns-hosts.sh up|down [PREFIX] [NET24]
#   up: prints "PREFIX-a ADDR_A" and "PREFIX-b ADDR_B". Needs root and iproute2.
set -euo pipefail
action=${1:-}
prefix=${2:-glt}
net=${3:-10.77.7}
a="$prefix-a"
b="$prefix-b"

down() {
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
}

up() {
  if ip -4 route | grep -q "^$net\."; then
    echo "netns-hosts: $net.0/24 is already routed here; pick another NET24" >&2
    exit 1
  fi
  down
  ip netns add "$a"
  ip netns add "$b"
  ip link add "$prefix-va" type veth peer name "$prefix-vb"
  ip link set "$prefix-va" netns "$a"
  ip link set "$prefix-vb" netns "$b"
  ip -n "$a" addr add "$net.1/24" dev "$prefix-va"
  ip -n "$b" addr add "$net.2/24" dev "$prefix-vb"
  for ns in "$a" "$b"; do
    ip -n "$ns" link set lo up
  done
  ip -n "$a" link set "$prefix-va" up
  ip -n "$b" link set "$prefix-vb" up
  echo "$a $net.1"
  echo "$b $net.2"
}

case "$action" in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down [PREFIX] [NET24]" >&2; exit 2 ;;
esac
