#!/usr/bin/env bash
# The build's ccache settings (cmake/BuildSpeed.cmake, the real file) serve a fresh clone from
# the cache and never serve a stale object. A small project that includes that file, with a
# precompiled header and a header of its own, is built in two folders (two clones) through a
# cache of its own:
#   1. clone A builds: every compile a miss; its program prints 1.
#   2. clone B, another folder, builds: every compile a hit (base directory at work), prints 1.
#   3. B's header changes to 2: the one file that includes it is compiled again, prints 2.
#   4. B's header goes back to 1: a hit, and the program prints 1 (not the last object).
#   5. B's header reached only through the precompiled header changes: the header is
#      precompiled again and the files using it recompiled, prints 1 and 20.
# (A precompiled header rebuilt in place is keyed with the old one beside it, CMake compiling it
# with -include of itself: after 5, going back to 10 misses once; never a stale hit.)
#   ccache_check.sh SOURCE_DIR WORK_DIR [GENERATOR]
set -euo pipefail
src=$1 work=$2 gen=${3:-Ninja}
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v ccache >/dev/null || fail "ccache is not installed (scripts/install-deps.sh installs it)"
rm -rf "$work"
mkdir -p "$work"
export CCACHE_DIR=$work/cache
unset CCACHE_DISABLE CCACHE_RECACHE

mkdir -p "$work/A/cmake"
cp "$src/cmake/BuildSpeed.cmake" "$work/A/cmake/"
cat > "$work/A/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.18)
project(ccache_check LANGUAGES CXX)
set(GAN_UNITY_BUILD OFF)  # one object per file, so what recompiles is seen file by file
include(cmake/BuildSpeed.cmake)
include_directories(${PROJECT_SOURCE_DIR})
# As the project's <torch/torch.h>: by name, so the generated header is the same in every clone.
add_library(pch STATIC pch.cpp)
target_precompile_headers(pch PRIVATE <big.h>)
add_executable(prog main.cpp other.cpp)
target_precompile_headers(prog REUSE_FROM pch)
EOF
cat > "$work/A/big.h" <<'EOF'
#pragma once
#include <map>
#include <string>
#include "in_pch.h"
EOF
echo 'constexpr int kInPch = 10;' > "$work/A/in_pch.h"
echo 'constexpr int kValue = 1;' > "$work/A/value.h"
echo 'int pch_anchor() { return 0; }' > "$work/A/pch.cpp"
cat > "$work/A/main.cpp" <<'EOF'
#include <cstdio>
#include "value.h"
int in_pch_value();
int main() { std::printf("%d %d\n", kValue, in_pch_value()); }
EOF
echo 'int in_pch_value() { return kInPch; }' > "$work/A/other.cpp"
cp -r "$work/A" "$work/B.tmp"

stat_of() { ccache --print-stats | awk -v k="$1" '$1 == k { print $2 }'; }
# build CLONE: configures and builds a clone, prints "misses hits output".
build() {
  ccache --zero-stats >/dev/null
  [ -f "$work/$1/build/CMakeCache.txt" ] ||
    cmake -S "$work/$1" -B "$work/$1/build" -G "$gen" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$work/$1/build" >/dev/null
  local hits=$(( $(stat_of direct_cache_hit) + $(stat_of preprocessed_cache_hit) ))
  echo "$(stat_of cache_miss) $hits $("$work/$1/build/prog")"
}

read -r miss hit out <<<"$(build A)"
echo "A: $miss misses, $hit hits, prints '$out'"
[ "$out" = "1 10" ] || fail "A prints '$out'"
[ "$miss" -ge 4 ] && [ "$hit" = 0 ] || fail "A: expected only misses"

mv "$work/B.tmp" "$work/B"
read -r miss hit out <<<"$(build B)"
echo "B (fresh clone): $miss misses, $hit hits, prints '$out'"
[ "$out" = "1 10" ] || fail "B prints '$out'"
[ "$miss" = 0 ] && [ "$hit" -ge 4 ] || fail "a fresh clone in another folder missed the cache"

echo 'constexpr int kValue = 2;' > "$work/B/value.h"
read -r miss hit out <<<"$(build B)"
echo "B, value.h changed: $miss misses, $hit hits, prints '$out'"
[ "$out" = "2 10" ] || fail "after value.h changed B prints '$out' (a stale object)"
[ "$miss" = 1 ] || fail "value.h changed: $miss compiles, expected 1 (main.cpp)"

echo 'constexpr int kValue = 1;' > "$work/B/value.h"
read -r miss hit out <<<"$(build B)"
echo "B, value.h back: $miss misses, $hit hits, prints '$out'"
[ "$out" = "1 10" ] || fail "value.h restored but B prints '$out' (the last object)"
[ "$miss" = 0 ] || fail "a restored header should be served from the cache"

echo 'constexpr int kInPch = 20;' > "$work/B/in_pch.h"
read -r miss hit out <<<"$(build B)"
echo "B, in_pch.h changed: $miss misses, $hit hits, prints '$out'"
[ "$out" = "1 20" ] || fail "after in_pch.h changed B prints '$out' (a stale precompiled header)"
[ "$miss" -ge 2 ] || fail "in_pch.h changed but the header and its user were not both compiled"
echo "ok: fresh clones hit the cache; changed headers, precompiled or not, recompile"
