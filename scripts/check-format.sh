#!/usr/bin/env bash
# Fails, naming each file and line, when a tracked C++ file differs from what clang-format
# (the repository's .clang-format) would write. Fix with: clang-format -i FILE...
#   scripts/check-format.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.c')
if clang-format --dry-run --Werror "${files[@]}"; then
  echo "format: ${#files[@]} files as clang-format writes them"
else
  echo "format: the files above differ from clang-format's output (clang-format -i FILE)" >&2
  exit 1
fi
