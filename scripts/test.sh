#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (unit, multi-rank under mpirun, end to end,
# Slurm, network-namespace hosts) on both build flavours, one after the other:
#   cpu   Debian's LibTorch 1.13 (build/)
#   cuda  the pinned CUDA torch wheel from PyPI (build-cuda/); no GPU is needed: the same CPU
#         tests run, plus the checks of the CUDA build itself (one NCCL, GAN_TORCH_CUDA)
#   scripts/test.sh [--cpu|--cuda] [CTEST ARGS]   one flavour only (both by default when a
#                                                 CUDA toolkit is installed)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
t_all=$(date +%s)
# Both flavours where a CUDA toolkit is installed (CI, and every machine of this project);
# the CPU flavour alone, with a notice, where it is not.
flavours=(cpu)
if command -v nvcc >/dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
  flavours=(cpu cuda)
else
  echo "test: no CUDA toolkit (nvcc): testing the CPU flavour only"
fi
case "${1:-}" in
  --cpu) flavours=(cpu); shift ;;
  --cuda) flavours=(cuda); shift ;;
esac
if [[ " ${flavours[*]} " == *" cuda "* ]]; then scripts/install-deps.sh --cuda; else scripts/install-deps.sh; fi
# Formatting first: a file clang-format would change fails the run in seconds.
scripts/check-format.sh
# The GPU script's dependencies are fetched and its checks run here (it needs no GPU for that).
scripts/gpu-check.sh --prepare
# The GPU call's configure, in a bare Debian 12 root that holds only what the GPU machine holds
# (scripts/gpu-rehearsal.sh; the root and the machine's torch are cached per user): a
# dependency the GPU machine lacks fails here, not in the one GPU call. GAN_REHEARSAL=0 skips it.
if [[ " ${flavours[*]} " == *" cuda "* ]] && [ "${GAN_REHEARSAL:-1}" != 0 ]; then
  start=$(date +%s)
  scripts/gpu-rehearsal.sh --configure-only
  echo "test: GPU rehearsal (configure in a bare root) took $(( $(date +%s) - start )) s"
fi
# A short fuzzing pass (clang, libFuzzer, ASan + UBSan) of every reader of outside input, the
# ten targets of tests/fuzz/, GAN_FUZZ_SECONDS each (default 20; about 6 minutes in all, the
# build included). Crashes inside HDF5 or LibTorch on a fuzzed shard or state.pt are reported
# as library findings and do not fail the run (tests/fuzz/README.md). The suites below replay
# every target's seeds and regressions. GAN_FUZZ_SECONDS=0 skips the pass.
fuzz_s=${GAN_FUZZ_SECONDS:-20}
if [ "$fuzz_s" -gt 0 ]; then
  start=$(date +%s)
  scripts/fuzz.sh "$fuzz_s"
  echo "test: fuzzing took $(( $(date +%s) - start )) s"
fi
# ccache's hit and miss counts, to say what a build took from the cache.
cache_counts() {
  command -v ccache >/dev/null || { echo "0 0"; return; }
  ccache --print-stats | awk '$1 ~ /^(direct|preprocessed)_cache_hit$/ {h += $2}
                              $1 == "cache_miss" {m = $2} END {print h + 0, m + 0}'
}
for f in "${flavours[@]}"; do
  dir=build
  flag=()
  if [ "$f" = cuda ]; then dir=build-cuda; flag=(--cuda); fi
  start=$(date +%s)
  read -r h0 m0 <<<"$(cache_counts)"
  scripts/build.sh "${flag[@]}"
  read -r h1 m1 <<<"$(cache_counts)"
  echo "test: $f build took $(( $(date +%s) - start )) s ($((h1 - h0)) compiles from ccache, $((m1 - m0)) compiled)"
  start=$(date +%s)
  (cd "$dir" && ctest -j 2 --output-on-failure --timeout 600 "$@")
  echo "test: $f suite took $(( $(date +%s) - start )) s"
done
echo "test: the whole run took $(( $(date +%s) - t_all )) s"
