#!/bin/bash
# N pretend hosts (network namespaces PREFIX-h1..PREFIX-hN) on one switch (a Linux bridge in
# namespace PREFIX-sw), each host link shaped by tc to a stated bandwidth, so that a benchmark
# can run MPI ranks across "hosts" of a given network speed on one machine. Needs root and
# iproute2 (ip, tc); check needs /usr/bin/python3. Reach the hosts with netns-rsh-agent.sh.
#   netns-cluster.sh up N [PREFIX] [NET24]  N hosts (2..8); prints "PREFIX-hK NET24.K" per host
#   netns-cluster.sh shape RATE_GBIT [PREFIX]  tbf at RATE Gbit/s on both ends of every link; 0: none
#   netns-cluster.sh check [PREFIX]         rtt (us) and TCP throughput (Gbit/s), h1 <-> h2
#   netns-cluster.sh down [PREFIX]          deletes the namespaces (also after a half-made up)
# Defaults: PREFIX gnc, NET24 10.78.8. Inside host K the link is eth0; in PREFIX-sw its bridge
# port is pK on bridge br0. The MTU stays at Ethernet's 1500: shaping, not the MTU, is what the
# benchmark varies, and GSO still moves 64 KB at a time over veth. The root namespace has no
# route to NET24, so mpirun itself must run in a host, as on a real cluster's first node:
#   ip netns exec gnc-h1 unshare --uts sh -c 'hostname gnc-h1 && exec mpirun --host gnc-h1,gnc-h2
#     --mca plm_rsh_agent .../netns-rsh-agent.sh --mca btl tcp,self
#     --mca btl_tcp_if_include 10.78.8.0/24 --mca oob_tcp_if_include 10.78.8.0/24 ...'
set -euo pipefail
action=${1:-}
usage() {
  echo "usage: $0 up N [PREFIX] [NET24] | shape RATE_GBIT [PREFIX] | check [PREFIX] | down [PREFIX]" >&2
  exit 2
}

hosts() {  # the host namespaces of PREFIX that exist, in order h1, h2, ...
  ip netns list | awk -v p="$1-h" 'index($1, p) == 1 && substr($1, length(p) + 1) ~ /^[0-9]+$/ {
    print substr($1, length(p) + 1), $1 }' | sort -n | awk '{ print $2 }'
}

down() {
  local ns
  for ns in $(hosts "$1") "$1-sw"; do
    ip netns del "$ns" 2>/dev/null || true
  done
}

up() {
  local n=$1 prefix=$2 net=$3 k h sw="$2-sw"
  if ! [[ $n =~ ^[0-9]+$ ]] || ((n < 2 || n > 8)); then echo "netns-cluster: N must be 2..8" >&2; exit 2; fi
  if ip -4 route | grep -q "^$net\."; then
    echo "netns-cluster: $net.0/24 is already routed here; pick another NET24" >&2
    exit 1
  fi
  down "$prefix"
  trap 'down "$prefix"' ERR  # a half-made cluster is taken down again
  ip netns add "$sw"
  ip -n "$sw" link set lo up
  ip -n "$sw" link add br0 type bridge  # no STP: ports forward at once
  ip -n "$sw" link set br0 up
  for ((k = 1; k <= n; k++)); do
    h="$prefix-h$k"
    ip netns add "$h"
    ip -n "$h" link set lo up
    # made in place, so no name is ever taken in this (root) namespace
    ip link add eth0 netns "$h" type veth peer name "p$k" netns "$sw"
    ip -n "$sw" link set "p$k" master br0
    ip -n "$sw" link set "p$k" up
    ip -n "$h" addr add "$net.$k/24" dev eth0
    ip -n "$h" link set eth0 up
  done
  trap - ERR
  for ((k = 1; k <= n; k++)); do echo "$prefix-h$k $net.$k"; done
}

shape() {
  local rate=$1 prefix=$2 h k ns dev burst limit
  [[ $rate =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "netns-cluster: RATE_GBIT must be a number" >&2; exit 2; }
  [ -n "$(hosts "$prefix")" ] || { echo "netns-cluster: no hosts $prefix-h*; run up first" >&2; exit 1; }
  # tbf refills its bucket from a timer, and on a busy VM that timer fires late: the bucket must
  # hold what the link sends meanwhile, or the link idles and throughput falls below the rate
  # (worse the higher the rate). So the burst is 1 ms of the rate, but at least 128 KB: two
  # 64 KB GSO packets (veth keeps TSO/GSO on, which tbf meters correctly by bytes as long as one
  # GSO packet fits the burst; otherwise tbf would split it). The queue (limit) holds the burst
  # plus 2 ms of the rate, at least 256 KB: enough for TCP to keep the link full, not so much
  # that a loaded link's queue grows far past a switch's. tbf meters whole frames, headers too,
  # so TCP goodput (what check prints) is about 1448/1514 = 96% of the rate.
  read -r burst limit < <(awk -v r="$rate" 'function max(a, b) { return a > b ? a : b }
    BEGIN { b = max(int(r * 1e9 / 8 * 0.001), 131072); printf "%d %d\n", b, max(b + int(r * 1e9 / 8 * 0.002), 262144) }')
  for h in $(hosts "$prefix"); do
    k=${h##*-h}
    for ns in "$h" "$prefix-sw"; do  # host egress, and the bridge port's egress toward it
      dev=eth0; [ "$ns" = "$h" ] || dev="p$k"
      tc -n "$ns" qdisc del dev "$dev" root 2>/dev/null || true
      if awk -v r="$rate" 'BEGIN { exit !(r > 0) }'; then
        tc -n "$ns" qdisc add dev "$dev" root tbf rate "${rate}gbit" burst "$burst" limit "$limit"
      fi
    done
  done
}

# Python side of check: "server ADDR" echoes one ping-pong connection, then sinks one bulk
# connection and writes back "bytes seconds" as it saw them; "client ADDR" drives both.
read -r -d '' PY <<'EOF' || true
import socket, statistics, sys, time
role, addr, port = sys.argv[1], sys.argv[2], 5299
def nodelay(s): s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1); return s
if role == "server":
    ls = socket.create_server((addr, port)); ls.settimeout(30)
    c = nodelay(ls.accept()[0])
    while (b := c.recv(64)): c.sendall(b)
    c = ls.accept()[0]; n = 0; t0 = None
    while (b := c.recv(1 << 20)):
        t0 = t0 or time.perf_counter(); n += len(b)
    c.sendall(f"{n} {time.perf_counter() - t0}".encode()); c.close()
else:
    for _ in range(100):
        try: s = nodelay(socket.create_connection((addr, port))); break
        except OSError: time.sleep(0.05)
    rtts = []
    for _ in range(25):
        t = time.perf_counter(); s.sendall(b"x"); s.recv(64); rtts.append(time.perf_counter() - t)
    s.close()
    print("rtt_us %.0f" % (statistics.median(rtts[5:]) * 1e6))
    s = socket.create_connection((addr, port)); buf = bytes(1 << 20); end = time.perf_counter() + 3
    while time.perf_counter() < end: s.sendall(buf)
    s.shutdown(socket.SHUT_WR); n, secs = s.recv(128).decode().split()
    print("gbit %.2f" % (int(n) * 8 / float(secs) / 1e9))
EOF

check() {
  local prefix=$1 b pid
  if ! ip netns list | awk -v n="$prefix-h1" '$1 == n { f = 1 } END { exit !f }'; then
    echo "netns-cluster: no $prefix-h1; run up first" >&2; exit 1
  fi
  b=$(ip -n "$prefix-h2" -4 -o addr show dev eth0 | awk '{ sub(/\/.*/, "", $4); print $4 }')
  [ -n "$b" ] || { echo "netns-cluster: no address on $prefix-h2" >&2; exit 1; }
  ip netns exec "$prefix-h2" /usr/bin/python3 -c "$PY" server "$b" &
  pid=$!
  ip netns exec "$prefix-h1" /usr/bin/python3 -c "$PY" client "$b" || { kill "$pid"; exit 1; }
  wait "$pid"
}

case "$action" in
  up) [ $# -ge 2 ] || usage; up "$2" "${3:-gnc}" "${4:-10.78.8}" ;;
  shape) [ $# -ge 2 ] || usage; shape "$2" "${3:-gnc}" ;;
  check) check "${2:-gnc}" ;;
  down) down "${2:-gnc}" ;;
  *) usage ;;
esac
