#!/usr/bin/env bash
# Runs the test suite with every test repeated N times in a row (ctest --repeat until-fail:N),
# on a quiet machine or with every core kept busy (--load: one spinning process per core,
# started before the suite and stopped after it). A test that waits for time instead of an
# event tends to fail in one of the two. Prints ctest's summary and the wall time.
#   scripts/repeat-suite.sh [--load] [--cuda] [N (default 5)] [more ctest arguments, e.g. -L e2e]
# (--load and --cuda come first, then N if given, then ctest's own arguments.)
set -uo pipefail
cd "$(dirname "$0")/.."
load=0 dir=build
while [ $# -gt 0 ]; do
  case $1 in
    --load) load=1; shift ;;
    --cuda) dir=build-cuda; shift ;;
    *) break ;;
  esac
done
n=5
if [[ ${1:-} =~ ^[0-9]+$ ]]; then n=$1; shift; fi
[ -f "$dir/CTestTestfile.cmake" ] || { echo "no $dir/: build it first (scripts/build.sh)" >&2; exit 2; }
source scripts/env.sh
spinners=()
stop_load() { [ ${#spinners[@]} -gt 0 ] && kill "${spinners[@]}" 2>/dev/null; }
trap stop_load EXIT
if [ $load = 1 ]; then
  cores=$(getconf _NPROCESSORS_ONLN)  # not nproc: it honours OMP_NUM_THREADS
  for _ in $(seq "$cores"); do
    bash -c 'while :; do :; done' &
    spinners+=($!)
  done
  echo "repeat-suite: $cores core(s) kept busy by pids ${spinners[*]}"
fi
start=$(date +%s)
(cd "$dir" && ctest -j 2 --output-on-failure --timeout 600 --repeat "until-fail:$n" "$@")
rc=$?
echo "repeat-suite: exit $rc after $(( $(date +%s) - start )) s ($dir, each test up to $n times," \
  "$([ $load = 1 ] && echo "cores loaded" || echo "no added load"))"
exit $rc
