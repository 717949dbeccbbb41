#!/usr/bin/env bash
# The GPU call rehearsed on this machine, faithful by construction: a bare Debian 12 root that
# holds only what the GPU machine holds (python3 with the same torch in /opt/torch/.venv, cmake,
# ninja, a C++ compiler, /usr/local/cuda mounted read-only; no -dev package of the project's),
# the working tree as a call sends it (git ls-files --cached --others --exclude-standard, no
# .git) plus .gpu-deps/root, and scripts/gpu-check.sh run inside with OUT=/out.
#   scripts/gpu-rehearsal.sh --configure-only   configure the CUDA flavour there (CI; minutes)
#   scripts/gpu-rehearsal.sh                    the whole check in its no-GPU mode (--no-gpu-ok)
# It asserts what the GPU machine enforces: tree plus carry at most 64 MiB; at most 8 files come
# back from $OUT, each under 16 MiB, gpu-check.json among them. Results: build-rehearsal/out and
# build-rehearsal/rehearsal.json (phase times, the build projected to 16 cores); the whole
# rehearsal also copies both JSON files to benchmarks/results/gpu/rehearsal/. Needs root.
# Caches, per user beside the torch venv: the root (scripts/bare-root.sh) and a venv with the GPU
# machine's torch (GAN_GPU_TORCH, 2.11.0: on PyPI a CUDA 13.0 build, as the machine's +cu130) and
# the python packages its image has (numpy, h5py, matplotlib, tensorboard; not mpi4py).
# Differences that remain: Debian 12 (glibc 2.36, gcc 12, python 3.11, cmake 3.25) where the
# machine runs Ubuntu 24.04 (python 3.12); this machine's nvcc 13.0 and 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
mode=full
case "${1:-}" in
  --configure-only) mode=configure ;;
  "") ;;
  *) echo "usage: scripts/gpu-rehearsal.sh [--configure-only]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "gpu-rehearsal: needs root (chroot, mounts)" >&2; exit 2; }
[ -x /usr/local/cuda/bin/nvcc ] || { echo "gpu-rehearsal: no CUDA toolkit in /usr/local/cuda" >&2; exit 2; }
TORCH=${GAN_GPU_TORCH:-2.11.0}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/gan_dist
venv=$cache/gpu-machine-torch-$TORCH
work=$PWD/build-rehearsal
root=$work/root
t0=$(date +%s)
phases=()
phase() { phases+=("\"$1_s\": $(( $(date +%s) - ${2:-$t0} ))"); }

scripts/gpu-check.sh --prepare >/dev/null
if [ ! -f "$venv/.complete" ]; then
  echo "gpu-rehearsal: torch==$TORCH (the GPU machine's) into $venv (several GB, once)"
  rm -rf "$venv"
  /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install -q --progress-bar off "torch==$TORCH" numpy h5py matplotlib tensorboard
  touch "$venv/.complete"
fi
phase venv

p0=$(date +%s)
scripts/bare-root.sh --remove "$work"
mkdir -p "$work"
scripts/bare-root.sh --with "python3 python3-venv cmake g++ ninja-build make" "$root" >/dev/null
cleanup() { scripts/bare-root.sh --remove "$root"; }
trap cleanup EXIT
# What a call carries: the tree as git lists it and .gpu-deps/root, nothing else.
mkdir -p "$root/work/gan_dist" "$root/out"
git ls-files -z --cached --others --exclude-standard |
  while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
  tar --null -T - -cf - | tar -C "$root/work/gan_dist" -xf -
git rev-parse HEAD >"$root/work/gan_dist/.gpu-commit"
mkdir -p "$root/work/gan_dist/.gpu-deps"
cp -a .gpu-deps/root "$root/work/gan_dist/.gpu-deps/root"
carry_mib=$(du -sb --apparent-size "$root/work/gan_dist" | awk '{printf "%.1f", $1 / 1048576}')
mkdir -p "$root/usr/local/cuda" "$root/opt/torch/.venv"
mount --bind /usr/local/cuda "$root/usr/local/cuda"
mount -o remount,bind,ro "$root/usr/local/cuda"
mount --bind "$venv" "$root/opt/torch/.venv"
mount -t proc proc "$root/proc"
mount --rbind /dev "$root/dev"
mount --rbind /sys "$root/sys"
phase root "$p0"

# On 2 cores the build takes minutes the 16-core machine does not: a larger build cap and
# budget here, and the build's time projected to 16 cores afterwards.
args=(--no-gpu-ok --budget 2400)
[ $mode = configure ] && args=(--configure-only)
r0=$(date +%s)
set +e
chroot "$root" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  LANG=C.UTF-8 OUT=/out GPU_CHECK_BUILD_CAP=1800 bash -c "cd /work/gan_dist && scripts/gpu-check.sh ${args[*]}" 2>&1 |
  tee "$work/gpu-check.out" | grep -E '^gpu-check: (check|configure|build|error)' 
rc=${PIPESTATUS[0]}
set -e
phase check "$r0"
rm -rf "$work/out"
cp -a "$root/out" "$work/out"
# The build's time on 16 cores, projected from this build's Ninja log: the precompiled header
# first (nothing that includes it starts before it), then every other compile spread over 16
# cores but none shorter than the longest one, then the final link; all compiles summed / 16
# when that is larger. A lower bound of the same build on 16 equal cores.
projected=null
nlog=$root/work/gan_dist/build-gpu/.ninja_log
if [ -f "$nlog" ]; then
  projected=$(/usr/bin/python3 - "$nlog" <<'PY'
import sys
steps = []
for line in open(sys.argv[1]):
    if line.startswith("#"):
        continue
    start, end, _m, out, _h = line.rstrip("\n").split("\t")
    steps.append(((int(end) - int(start)) / 1000, out))
pch = sum(t for t, o in steps if o.endswith((".gch", ".pch")))
comp = [t for t, o in steps if o.endswith(".o")]
links = [t for t, o in steps if o.startswith("bin/")]
total = pch + sum(comp) + sum(links)
est = max(pch + max(sum(comp) / 16, max(comp, default=0)) + max(links, default=0), total / 16)
print('{"measured_2_cores_compile_s": %.1f, "pch_s": %.1f, "longest_compile_s": %.1f, '
      '"projected_16_cores_s": %.1f}' % (total, pch, max(comp, default=0), est))
PY
)
fi

# What the GPU machine would enforce.
bad=()
awk -v m="$carry_mib" 'BEGIN {exit !(m <= 64)}' || bad+=("tree + carry $carry_mib MiB > 64 MiB")
n_out=$(find "$work/out" -type f | wc -l)
[ "$n_out" -le 8 ] || bad+=("\$OUT holds $n_out files (at most 8 come back)")
big=$(find "$work/out" -type f -size +16M -printf '%f ')
[ -z "$big" ] || bad+=("over 16 MiB: $big")
deep=$(find "$work/out" -mindepth 3 -type f -printf '%P ')
[ -z "$deep" ] || bad+=("more than 2 folders deep: $deep")
if [ ! -s "$work/out/gpu-check.json" ] || ! /usr/bin/python3 -m json.tool "$work/out/gpu-check.json" >/dev/null; then
  bad+=("no valid gpu-check.json")
fi
[ "$rc" = 0 ] || bad+=("gpu-check.sh exited $rc")
phase total
{
  echo "{"
  echo "  \"mode\": \"$mode\", \"torch\": \"$TORCH\", \"commit\": \"$(git rev-parse --short HEAD)\","
  echo "  \"date\": \"$(date -u +%FT%TZ)\", \"cores\": $(getconf _NPROCESSORS_ONLN), \"carry_mib\": $carry_mib, \"out_files\": $n_out,"
  echo "  \"gpu_check_rc\": $rc, $(IFS=,; echo "${phases[*]}"),"
  echo "  \"build_projection\": $projected,"
  printf '  "problems": ['; first=1
  for b in "${bad[@]}"; do [ $first = 1 ] || printf ', '; first=0; printf '"%s"' "${b//\"/\'}"; done
  printf ']\n}\n'
} >"$work/rehearsal.json"
cat "$work/rehearsal.json"
# The whole rehearsal's record is kept with the project (benchmarks/results/gpu/rehearsal/).
if [ $mode = full ]; then
  keep=benchmarks/results/gpu/rehearsal
  mkdir -p "$keep"
  cp "$work/rehearsal.json" "$keep/"
  [ -f "$work/out/gpu-check.json" ] && cp "$work/out/gpu-check.json" "$keep/"
fi
if [ ${#bad[@]} -gt 0 ]; then
  printf 'gpu-rehearsal: FAIL: %s\n' "${bad[@]}" >&2
  exit 1
fi
echo "gpu-rehearsal: ok ($mode)"
