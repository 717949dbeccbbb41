#!/usr/bin/env bash
# Installs, builds and runs the whole test suite (unit, multi-rank under mpirun, end to end).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
scripts/install-deps.sh
start=$(date +%s)
scripts/build.sh
echo "test: build took $(( $(date +%s) - start )) s"
cd build
ctest -j 2 --output-on-failure --timeout 600 "$@"
