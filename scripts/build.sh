#!/usr/bin/env bash
# Configures and builds gan_dist (Release).
#   scripts/build.sh [CMAKE ARGS]          CPU flavour: Debian's LibTorch, into build/
#   scripts/build.sh --cuda [CMAKE ARGS]   CUDA flavour: the pinned torch wheel of
#                                          install-deps.sh --cuda, into build-cuda/
# Any other LibTorch: scripts/build.sh -DCMAKE_PREFIX_PATH="$(python -c 'import torch.utils;
# print(torch.utils.cmake_prefix_path)')" (a cluster's PyTorch) or -DTorch_DIR=.../share/cmake/Torch.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
dir=build
args=()
if [ "${1:-}" = --cuda ]; then
  shift
  dir=build-cuda
  if [ ! -f "$GAN_TORCH_VENV/.complete" ]; then
    echo "build --cuda: no torch in $GAN_TORCH_VENV: run scripts/install-deps.sh --cuda" >&2
    exit 2
  fi
  prefix=$("$GAN_TORCH_VENV/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
  args+=("-DCMAKE_PREFIX_PATH=$prefix")
  export PATH="$PATH:/usr/local/cuda/bin"
fi
cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release "${args[@]}" "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
