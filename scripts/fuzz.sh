#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer, clang, ASan + UBSan) of every reader of outside input:
# the targets of tests/fuzz/ (README there). Builds build-fuzz/ (clang, GAN_FUZZ=ON), runs each
# target for SECONDS on its corpus, prints a table and writes it to build-fuzz/fuzz-report.md.
#   scripts/fuzz.sh [SECONDS] [TARGET...]    default 60 s, every target
# Exit 1 when a target found a crash, a sanitizer report, a timeout, an out-of-memory or a
# leak in the project's code: the input is in build-fuzz/fuzz-findings/TARGET/ (add it to
# tests/fuzz/regressions/TARGET/ with the fix; the normal build replays it). Exit 2 on a usage
# or build error.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh

ALL=(idx manifest shard image exif checkpoint_meta checkpoint_state config slurm launch_status)
# Targets that hand the fuzzed bytes to a library parser we cannot fix: HDF5 1.10 (a shard) and
# LibTorch 1.13's archive importer (state.pt, which compiles the TorchScript inside it). They run
# in fork mode, so the run goes on after a crash; a crash whose site is inside that library is
# counted as a library finding (reported, exit 0), anything else fails as usual.
LIBRARY_FACING=" shard checkpoint_state "
LIBRARY_RE='libhdf5|libtorch|libc10'

secs=${1:-60}
[ $# -gt 0 ] && shift
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS] [TARGET...]   targets: ${ALL[*]}" >&2
  exit 2
fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${ALL[@]}")
for t in "${targets[@]}"; do
  if [[ " ${ALL[*]} " != *" $t "* ]]; then echo "fuzz.sh: unknown target $t" >&2; exit 2; fi
done
for tool in clang clang++; do
  command -v $tool >/dev/null || { echo "fuzz.sh: $tool missing (scripts/install-deps.sh)" >&2; exit 2; }
done

dir=build-fuzz
t0=$(date +%s)
gen=()
if [ ! -f $dir/CMakeCache.txt ] && command -v ninja >/dev/null; then gen=(-G Ninja); fi
# Debug keeps assertions on; GAN_FUZZ adds -O1 -g and the sanitizers.
CC=clang CXX=clang++ nice -n 10 cmake -S . -B $dir "${gen[@]}" -DCMAKE_BUILD_TYPE=Debug \
  -DGAN_FUZZ=ON >/dev/null || exit 2
nice -n 10 cmake --build $dir -j 2 --target "${targets[@]/#/fuzz_}" || exit 2
build_s=$(($(date +%s) - t0))

# The readers get their input as files: a scratch folder in memory, removed at the end.
export GAN_FUZZ_TMP=/dev/shm/gan_fuzz.$$
[ -w /dev/shm ] || GAN_FUZZ_TMP=${TMPDIR:-/tmp}/gan_fuzz.$$
trap 'rm -rf "$GAN_FUZZ_TMP"' EXIT
# A UBSan report aborts (no suppressions: every one is a finding). An allocation ASan cannot
# serve fails as it does in production (NULL, std::bad_alloc) instead of being reported: HDF5
# asks for sizes read from a corrupt file and copes with NULL; our own code must not let
# bad_alloc escape, which still counts, as does any allocation over the RSS limit (libFuzzer's
# malloc limit).
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=allocator_may_return_null=1:detect_leaks=1
export LSAN_OPTIONS=suppressions=$PWD/tests/fuzz/lsan.supp:print_suppressions=0

# The frame a finding happened in: the first one outside the sanitizer runtime and its
# interceptors (memcpy, malloc, ...), libFuzzer, libc and libstdc++ (for an uncaught
# exception, its throw site).
crash_site() {
  "$1" -runs=1 -timeout=10 -rss_limit_mb=4096 "$2" 2>&1 | grep -E '^ +#[0-9]+ 0x' |
    grep -v -E 'libclang_rt|__sanitizer|__asan|__interceptor|fuzzer::|libc\.so|libstdc\+\+|in (malloc|calloc|realloc|free|mem(cpy|move|set|cmp)|str(len|cmp|ncmp)|operator (new|delete)|abort|raise|__cxa_throw|std::terminate)\b' |
    head -1 || true
}

report=$dir/fuzz-report.md
rows=()
failed=0
for t in "${targets[@]}"; do
  bin=$dir/tests/fuzz/fuzz_$t
  corpus=$dir/fuzz-corpus/$t          # the committed seeds plus what earlier runs found
  findings=$dir/fuzz-findings/$t
  log=$dir/fuzz-logs/$t.log
  mkdir -p "$corpus" "$findings" "$(dirname "$log")"
  for src in tests/fuzz/corpus/$t tests/fuzz/regressions/$t; do
    if [ -d "$src" ]; then cp -n "$src"/* "$corpus"/ 2>/dev/null || true; fi
  done
  rm -f "$findings"/*
  opts=(-max_total_time="$secs" -timeout=10 -detect_leaks=1 -print_final_stats=1
        -artifact_prefix="$findings/")
  # LibTorch holds a few hundred MB before the first input; ASan's shadow adds to it.
  case $t in checkpoint_* | config | shard | manifest) opts+=(-rss_limit_mb=4096) ;; *) opts+=(-rss_limit_mb=2048) ;; esac
  if [ -f tests/fuzz/$t.dict ]; then opts+=(-dict=tests/fuzz/$t.dict); fi
  library=0
  [[ "$LIBRARY_FACING" == *" $t "* ]] && library=1
  if [ $library = 1 ]; then opts+=(-fork=1 -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1); fi
  echo "fuzz.sh: $t for ${secs}s" >&2
  rc=0
  nice -n 10 "$bin" "${opts[@]}" "$corpus" >"$log" 2>&1 || rc=$?
  if [ $library = 1 ]; then  # fork mode: the parent's last status line
    last=$(grep -E '^#[0-9]+: cov:' "$log" | tail -1 || true)
    execs=$(sed -E 's/^#([0-9]+):.*/\1/' <<<"$last")
    rate=$(sed -E -n 's/.*exec\/s ([0-9]+).*/\1/p' <<<"$last")
  else
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  fi
  size=$(find "$corpus" -type f | wc -l)
  ours=0 lib=0 what=""
  for f in $(find "$findings" -type f ! -name 'slow-unit-*' | sort); do
    site=$(crash_site "$bin" "$f")
    if [ $library = 1 ] && grep -q -E "$LIBRARY_RE" <<<"$site"; then
      lib=$((lib + 1))
    else
      ours=$((ours + 1))
      [ -n "$what" ] || what="$(basename "$f"): $(sed -E 's/^ +#[0-9]+ 0x[0-9a-f]+ in //' <<<"$site" | cut -c1-90)"
    fi
  done
  if [ "$rc" -ne 0 ] && [ $((ours + lib)) -eq 0 ]; then  # died without leaving an input
    ours=1
    what="exit $rc without an input: see $log"
  fi
  [ $ours -gt 0 ] && failed=1
  rows+=("| $t | ${execs:-?} | ${rate:-?} | $size | $ours | $lib | ${what:--} |")
done
total_s=$(($(date +%s) - t0))

{
  echo "# Fuzzing report ($(date -u +%Y-%m-%dT%H:%M:%SZ), ${secs} s per target)"
  echo
  echo "| target | executions | exec/s | corpus files | findings | library findings | first finding |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Build ${build_s} s, total ${total_s} s. Inputs: $dir/fuzz-findings/TARGET/, logs: $dir/fuzz-logs/."
  echo "Library findings: crashes inside HDF5 or LibTorch on a fuzzed shard or state.pt (see"
  echo "tests/fuzz/README.md); they do not fail the run."
} | tee "$report"
exit $failed
