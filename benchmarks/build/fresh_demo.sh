#!/usr/bin/env bash
# The README's first command as a new user meets it: a fresh clone of HEAD inside a bare
# Debian 12 root (scripts/bare-root.sh: minbase, nothing of the project's installed), where
# scripts/demo.sh installs its packages, builds, packs Fashion-MNIST and trains, under chroot
# with this machine's kernel, cores and network. Prints demo.sh's phase times (from its start)
# and copies them, with the run's metrics and grids, to OUT.
#   benchmarks/build/fresh_demo.sh [--out DIR] [--keep]     (root; default OUT
#       benchmarks/results/build/fresh-demo; --keep leaves the root in build-fresh-demo/)
set -euo pipefail
cd "$(dirname "$0")/../.."
out=benchmarks/results/build/fresh-demo keep=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    *) echo "usage: $0 [--out DIR] [--keep]" >&2; exit 2 ;;
  esac
done
root=$PWD/build-fresh-demo
scripts/bare-root.sh --remove "$root"
scripts/bare-root.sh "$root"
cleanup() { [ $keep = 1 ] || scripts/bare-root.sh --remove "$root"; }
trap cleanup EXIT
git clone -q "$PWD" "$root/root/gan_dist"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys"
mount --rbind /dev "$root/dev"
start=$(date +%s)
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 bash -c 'cd /root/gan_dist && scripts/demo.sh' 2>&1 | tee "$root/demo.log" |
  grep -E '^demo:|error|Error' || true
status=${PIPESTATUS[0]}
echo "fresh_demo: demo.sh exited $status after $(( $(date +%s) - start )) s"
mkdir -p "$out"
cp "$root/demo.log" "$out/demo.log"
d=$root/root/gan_dist/runs/demo
if [ -f "$d/demo-times.txt" ]; then
  { echo "commit $(git rev-parse --short HEAD), $(date -u +%F), $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p')"
    cat "$d/demo-times.txt"; } > "$out/demo-times.txt"
  cp "$d/metrics.csv" "$d"/*.png "$out/" 2>/dev/null || true
  last=$(ls "$d"/samples/step-*.png | tail -1)
  cp "$d/samples/step-0000250.png" "$last" "$out/" 2>/dev/null || true
  cat "$out/demo-times.txt"
fi
exit "$status"
