#!/usr/bin/env bash
# Configures and builds gan_dist (Release), with Ninja where it is installed.
#   scripts/build.sh [--cuda] [--target T]... [CMAKE ARGS]
#     (no flag)    CPU flavour: Debian's LibTorch, into build/
#     --cuda       CUDA flavour: the pinned torch wheel of install-deps.sh --cuda, into build-cuda/
#     --target T   build only T (and what it needs); repeatable. Default: everything
#                  (programs, tests, benchmarks). The demo builds gan_dist and gan_prep.
# Any other LibTorch: scripts/build.sh -DCMAKE_PREFIX_PATH="$(python -c 'import torch.utils;
# print(torch.utils.cmake_prefix_path)')" (a cluster's PyTorch) or -DTorch_DIR=.../share/cmake/Torch.
# Compiles go through ccache where it is installed (cmake/BuildSpeed.cmake); the last build's
# slowest steps are in DIR/.ninja_log.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
dir=build
args=()
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --cuda) dir=build-cuda; shift ;;
    --target) [ $# -ge 2 ] || { echo "build: --target needs a name" >&2; exit 2; }
              targets+=(--target "$2"); shift 2 ;;
    *) break ;;
  esac
done
if [ $dir = build-cuda ]; then
  if [ ! -f "$GAN_TORCH_VENV/.complete" ]; then
    echo "build --cuda: no torch in $GAN_TORCH_VENV: run scripts/install-deps.sh --cuda" >&2
    exit 2
  fi
  prefix=$("$GAN_TORCH_VENV/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
  args+=("-DCMAKE_PREFIX_PATH=$prefix")
  export PATH="$PATH:/usr/local/cuda/bin"
fi
# A build folder keeps the generator it was made with.
if [ ! -f "$dir/CMakeCache.txt" ] && command -v ninja >/dev/null; then args+=(-G Ninja); fi
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "${args[@]}" "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)" "${targets[@]}"
