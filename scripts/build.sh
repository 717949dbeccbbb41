#!/usr/bin/env bash
# Configures and builds gan_dist (Release) into build/. Extra arguments go to CMake, e.g.
# -DTorch_DIR=/path/to/libtorch/share/cmake/Torch for a CUDA LibTorch.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
cmake --build build -j "$(nproc)"
