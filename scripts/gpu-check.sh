#!/usr/bin/env bash
# gpu-check.sh: proves gan_dist's GPU path in ONE call on a machine with one NVIDIA GPU
# (H100/H200) that has a CUDA PyTorch, nvcc, cmake and ninja but none of the project's other
# dependencies and no network. benchmarks/gpu/README.md explains every check and figure.
#
#   scripts/gpu-check.sh --prepare     here or in CI (Debian 12, root, a mirror): fetch the Debian
#                                      .debs the GPU machine lacks into .gpu-deps/debs, unpack them
#                                      with dpkg -x into .gpu-deps/root (never into /), trim and
#                                      check them. Idempotent; seconds when nothing changed.
#   scripts/gpu-check.sh               on the GPU machine, with .gpu-deps/root carried along:
#                                      builds gan_dist + gan_prep into build-gpu/ against those
#                                      and the machine's torch, runs the checks at one rank (NCCL)
#                                      and writes $OUT/gpu-check.json + $OUT/gpu-check.log
#                                      (+ build.log, dcgan64-samples.png, dcgan64-metrics.csv).
# Options (run mode):
#   --no-gpu-ok        no GPU: run every check that can run on the CPU (dry run) instead of exit 2
#   --out DIR          result folder (default: $OUT, else runs/gpu-check/out)
#   --work DIR         scratch folder for data and runs (default: runs/gpu-check/work)
#   --build-dir DIR    build folder (default: build-gpu); with --skip-build, use what is there
#   --skip-build       do not configure/build (use --build-dir as it is)
#   --configure-only   configure (no build), report where each dependency resolved, stop; needs
#                      no GPU (with a CPU LibTorch: add -DTorch_DIR=... via GPU_CHECK_CMAKE_ARGS)
#   --system-deps      use the host's own libraries instead of .gpu-deps (a Debian dev machine)
#   --budget S         wall-clock budget for everything (default 450 s); checks past it are skipped
#   --jobs N           gan_dist runs at once in the model-zoo check (default 4)
#   --python PY        python with torch (default /opt/torch/.venv/bin/python3, else python3)
#   --only LIST        comma list of checks: env,torch_smoke,build,data,zoo,dcgan64,cpu_gpu,resume,speed,
#                      projection (needs dcgan64's run)
# Environment: GPU_CHECK_BUILD_CAP (seconds the build may take, default 330; the 2-core
#   rehearsal raises it), GPU_CHECK_CMAKE_ARGS (more CMake arguments), GPU_CHECK_NO_SWAP=1 (use every shipped
#   library, not the host's copies), NCCL_DEBUG (default WARN), GPU_CHECK_NETS (the networks the
#   projection states: "NAME:BUSBW_GBps:HOP_us ...", default "nvlink:450:2 ib:35:5").
# Exit: 0 every check passed; 1 a check failed; 2 no GPU (without --no-gpu-ok) or bad option;
#       3 (--prepare) dependencies missing or incomplete.
set -uo pipefail
shopt -s nullglob

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEPS=$ROOT/.gpu-deps
R=$DEPS/root
ARCH=x86_64-linux-gnu
LIB=$R/usr/lib/$ARCH
TOOL=$ROOT/benchmarks/gpu/gpu_check.py
BENCH=$ROOT/benchmarks/gpu/pytorch_dcgan64.py
SELF=$ROOT/scripts/gpu-check.sh

# ---------------------------------------------------------------------------------------------
# Dependencies (Debian 12 packages): what the top CMakeLists' find_package calls and dataio's
# image code need (MPI C, HDF5 C serial, spdlog+fmt, CLI11, nlohmann_json, ZLIB, PNG, OpenSSL
# Crypto, GTest (required by the top CMakeLists even with BUILD_TESTING=OFF), libjpeg-turbo,
# protobuf with protoc for the TensorBoard writer),
# plus the run-time libraries those need that an Ubuntu CUDA image may lack. Libraries the GPU
# machine does have are swapped for its own copies before the build (swap_host_libs).
# ---------------------------------------------------------------------------------------------
PKGS=(
  # Open MPI 4.1 (headers, libmpi, MCA components, orted for a non-isolated singleton)
  libopenmpi-dev libopenmpi3 openmpi-bin openmpi-common
  libpmix2 libevent-core-2.1-7 libevent-pthreads-2.1-7 libhwloc15 libudev1 libmunge2
  # HDF5 1.10 serial (+ szip/aec, and libcurl with its closure: HDF5's ROS3 driver links it)
  libhdf5-dev libhdf5-103-1 libsz2 libaec0
  libcurl4 libbrotli1 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libcom-err2
  libkeyutils1 libidn2-0 libunistring2 libldap-2.5-0 libsasl2-2
  libnghttp2-14 libpsl5 librtmp1 libgnutls30 libhogweed6 libnettle8 libgmp10 libp11-kit0
  libffi8 libtasn1-6 libssh2-1 libzstd1
  # logging, options, JSON
  libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 libcli11-dev nlohmann-json3-dev
  # images
  libturbojpeg0-dev libturbojpeg0 libjpeg62-turbo-dev libjpeg62-turbo libpng-dev libpng16-16
  # checksums, compression
  libssl-dev libssl3 zlib1g-dev zlib1g
  # TensorBoard records: protobuf's headers and runtime, and protoc (run at build time with the
  # carried libraries on its path: setup_deps_env writes a wrapper)
  libprotobuf-dev libprotobuf32 protobuf-compiler libprotoc32
  # GoogleTest: only because the top CMakeLists.txt has find_package(GTest REQUIRED)
  libgtest-dev
)
# Sonames every glibc/GCC system has (never shipped).
BASE_SONAMES=" libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libutil.so.1
  libresolv.so.2 ld-linux-x86-64.so.2 libstdc++.so.6 libgcc_s.so.1 libanl.so.1 "
# Files that must be in the unpacked tree (relative to .gpu-deps/root).
REQUIRED=(
  usr/lib/$ARCH/openmpi/include/mpi.h
  usr/lib/$ARCH/openmpi/lib/libmpi.so
  usr/lib/$ARCH/libmpi.so.40
  usr/lib/$ARCH/libopen-pal.so.40
  usr/lib/$ARCH/libopen-rte.so.40
  usr/lib/$ARCH/openmpi/lib/openmpi3/mca_ess_singleton.so
  usr/lib/$ARCH/openmpi/lib/openmpi3/mca_pml_ob1.so
  usr/lib/$ARCH/openmpi/lib/openmpi3/mca_btl_self.so
  usr/lib/$ARCH/openmpi/lib/openmpi3/mca_btl_vader.so
  usr/share/openmpi/help-mpi-runtime.txt
  usr/bin/orted
  usr/include/hdf5/serial/hdf5.h
  usr/lib/$ARCH/hdf5/serial/libhdf5.so
  usr/lib/$ARCH/libhdf5_serial.so.103
  usr/lib/$ARCH/cmake/spdlog/spdlogConfig.cmake
  usr/lib/$ARCH/libspdlog.so
  usr/lib/$ARCH/cmake/fmt/fmt-config.cmake
  usr/lib/$ARCH/libfmt.so
  usr/include/CLI/CLI.hpp
  usr/share/cmake/CLI11/CLI11Config.cmake
  usr/include/nlohmann/json.hpp
  usr/share/cmake/nlohmann_json/nlohmann_jsonConfig.cmake
  usr/include/turbojpeg.h
  usr/include/jpeglib.h
  usr/lib/$ARCH/cmake/libjpeg-turbo/libjpeg-turboConfig.cmake
  usr/lib/$ARCH/libjpeg.so
  usr/lib/$ARCH/libturbojpeg.so
  usr/include/png.h
  usr/lib/$ARCH/libpng.so
  usr/include/openssl/evp.h
  usr/lib/$ARCH/libcrypto.so
  usr/include/zlib.h
  usr/lib/$ARCH/libz.so
  usr/include/gtest/gtest.h
  usr/lib/$ARCH/cmake/GTest/GTestConfig.cmake
  usr/include/google/protobuf/message.h
  usr/lib/$ARCH/libprotobuf.so
  usr/lib/$ARCH/libprotoc.so.32
  usr/bin/protoc
)
# What a call carries: the deps and the working tree, at most 64 MiB together (margin kept).
MAX_DEPS_MIB=54
MAX_CARRY_MIB=60

say() { echo "gpu-check: $*"; }
die() { echo "gpu-check: error: $1" >&2; exit "${2:-1}"; }

# Shared objects and programs in the tree whose NEEDED sonames cannot be met by the tree itself
# or by BASE_SONAMES. Prints "FILE<TAB>SONAME" lines.
unresolved_elves() {
  local have f n
  have=" $(find "$R" \( -type f -o -type l \) -name 'lib*.so*' -xtype f -printf '%f ' 2>/dev/null) "
  while IFS= read -r -d '' f; do
    head -c 4 "$f" 2>/dev/null | grep -q 'ELF' || continue
    for n in $(readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
      [[ "$BASE_SONAMES" == *" $n "* || "$have" == *" $n "* ]] || printf '%s\t%s\n' "$f" "$n"
    done
  done < <(find "$R" -type f \( -name '*.so' -o -name '*.so.*' -o -path "$R/usr/bin/*" \) -print0)
}

# Removes from the tree what the build and a one-node run never use, then the Open MPI / PMIx
# plug-ins and optional libraries whose own dependencies are not shipped (InfiniBand, UCX, OFI,
# PSM, netlink, Fortran, Java), repeating until nothing more falls away.
trim_tree() {
  # Debian 12 still puts a few libraries in /lib (zlib, com_err, keyutils): one lib folder.
  if [ -d "$R/lib" ]; then
    cp -a "$R/lib/." "$R/usr/lib/" && rm -rf "${R:?}/lib"
  fi
  # Absolute links (libz.so -> /lib/...) would point into the host: make them relative.
  local l t
  while IFS= read -r -d '' l; do
    t=$(readlink "$l")
    t=${t/#\/lib\//\/usr\/lib\/}
    [ -e "$R$t" ] && ln -sfn "$(realpath --relative-to="$(dirname "$l")" "$R$t")" "$l"
  done < <(find "$R" -type l -lname '/*' -print0)
  local mi=$R/usr/lib/$ARCH/openmpi
  rm -rf "$R"/usr/share/{doc,doc-base,man,info,lintian,locale,bug,bash-completion,gdb} \
    "$R"/usr/lib/$ARCH/pkgconfig "$R"/usr/lib/$ARCH/openmpi/lib/pkgconfig \
    "$R"/usr/lib/$ARCH/fortran "$R"/usr/share/java "$R"/usr/src \
    "$R"/usr/lib/$ARCH/{ossl-modules,engines-3,sasl2} \
    "$mi"/include/{openshmem,mpp,*shmem*,mpif*} "$mi"/include/openmpi/{opal,orte,oshmem} \
    "$R"/usr/lib/$ARCH/{liboshmem,libmpi_mpifh,libmpi_usempi,libmpi_java,libompitrace}* \
    "$mi"/lib/{liboshmem,libmpi_mpifh,libmpi_usempi,libmpi_java,libompitrace,mpi.jar}* \
    "$R"/usr/bin/{osh*,shmem*,mpif*,mpijava*,aggregate_profile,profile2mat}
  # From ompi's internal headers only the C++ bindings mpi.h can name (OMPI_SKIP_MPICXX skips them).
  find "$mi/include/openmpi/ompi" -mindepth 1 -maxdepth 1 ! -name mpi -exec rm -rf {} +
  find "$mi/include/openmpi/ompi/mpi" -mindepth 1 -maxdepth 1 ! -name cxx -exec rm -rf {} + 2>/dev/null
  find "$R" -name '*.mod' -delete
  # Static archives no CMake config names (the configs check that the files they list exist).
  local cfgs a
  cfgs=$(find "$R" -name '*.cmake' -print0 | xargs -0 cat 2>/dev/null)
  while IFS= read -r -d '' a; do
    grep -qF "$(basename "$a")" <<<"$cfgs" || rm -f "$a"
  done < <(find "$R" -name '*.a' -print0)
  # Plug-ins and optional libraries with unmet dependencies, to a fixed point.
  local f n changed
  for _ in 1 2 3 4 5; do
    changed=0
    while IFS=$'\t' read -r f n; do
      [ -e "$f" ] || continue
      case "$f" in
        */openmpi/lib/openmpi3/*|*/pmix2/lib/pmix/*|*/libmca_common_*|"$R"/usr/bin/*)
          say "prepare: dropped $(basename "$f") (needs $n, not shipped)"
          rm -f "$f"; changed=1 ;;
      esac
    done < <(unresolved_elves)
    [ $changed = 1 ] || break
  done
  find "$R" -xtype l -delete   # links into what was dropped or never shipped
  find "$R" -depth -type d -empty -delete
}

# Debian's libjpeg-turbo CMake files name absolute /usr paths: make them relative to their folder.
relocate_cmake_configs() {
  local f
  for f in "$R"/usr/lib/$ARCH/cmake/libjpeg-turbo/*.cmake; do
    sed -i -e 's|set(_IMPORT_PREFIX "/usr")|get_filename_component(_IMPORT_PREFIX "${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)|' \
           -e 's|"/usr/lib/'"$ARCH"'/|"${_IMPORT_PREFIX}/lib/'"$ARCH"'/|g' \
           -e 's|"/usr/include|"${_IMPORT_PREFIX}/include|g' "$f"
  done
}

verify_deps() {
  local bad=0 f line
  bash -n "$SELF" || { echo "gpu-check: $SELF does not parse" >&2; bad=1; }
  for f in "${REQUIRED[@]}"; do
    [ -e "$R/$f" ] || { echo "gpu-check: missing in .gpu-deps/root: $f" >&2; bad=1; }
  done
  if command -v readelf >/dev/null; then
    while IFS= read -r line; do
      echo "gpu-check: unmet library dependency: ${line/$'\t'/ needs }" >&2; bad=1
    done < <(unresolved_elves)
  else
    say "readelf not found: library dependencies not checked"
  fi
  if grep -rlsE '"/usr/(lib|include)' "$R"/usr/lib/$ARCH/cmake/libjpeg-turbo >/dev/null; then
    echo "gpu-check: libjpeg-turbo's CMake files still name /usr" >&2; bad=1
  fi
  if command -v python3 >/dev/null && [ -f "$TOOL" ]; then
    python3 -c 'import ast, sys; [ast.parse(open(f).read(), f) for f in sys.argv[1:]]' "$TOOL" "$BENCH" ||
      { echo "gpu-check: $TOOL or $BENCH does not parse" >&2; bad=1; }
  fi
  local mib
  mib=$(find "$R" -type f -printf "%s\n" | awk "{s+=\$1} END {printf \"%d\", s/1048576 + 0.999}")
  if [ "$mib" -gt "$MAX_DEPS_MIB" ]; then
    echo "gpu-check: .gpu-deps/root is $mib MiB (limit $MAX_DEPS_MIB: it travels to the GPU machine)" >&2
    bad=1
  fi
  # A call carries the working tree (as git lists it) and the deps, 64 MiB in all: keep a margin.
  local tree_mib
  tree_mib=$(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard 2>/dev/null |
    xargs -0 -r stat -c %s -- 2>/dev/null | awk '{s+=$1} END {printf "%d", s/1048576 + 0.999}')
  if [ -n "$tree_mib" ] && [ $((mib + tree_mib)) -gt $MAX_CARRY_MIB ]; then
    echo "gpu-check: tree $tree_mib MiB + deps $mib MiB exceed $MAX_CARRY_MIB MiB (64 MiB per call)" >&2
    bad=1
  fi
  [ $bad = 0 ] && say "prepare: ok: .gpu-deps/root $mib MiB ($(find "$R" -type f | wc -l) files)"
  return $bad
}

# Resolves PKGS to .deb files (WANT) and brings each into .gpu-deps/debs: already there with the
# right checksum, copied from apt's cache, or downloaded. Non-zero when apt cannot.
WANT=()
fetch_debs() {
  local uris fetch=() file sum
  WANT=()
  uris=$(apt-get download --print-uris "${PKGS[@]}" 2>/dev/null) || return 1
  while read -r _ file _ sum; do
    [ -n "$file" ] || continue
    WANT+=("$file")
    sum=${sum#SHA256:}
    if [ -f "$DEPS/debs/$file" ] && [ "$(sha256sum <"$DEPS/debs/$file" | cut -d' ' -f1)" = "$sum" ]; then
      continue
    fi
    if [ -f "/var/cache/apt/archives/$file" ] &&
       [ "$(sha256sum <"/var/cache/apt/archives/$file" | cut -d' ' -f1)" = "$sum" ]; then
      cp "/var/cache/apt/archives/$file" "$DEPS/debs/$file"
      continue
    fi
    fetch+=("${file%%_*}")
  done <<<"$uris"
  if [ ${#fetch[@]} -gt 0 ]; then
    say "prepare: downloading ${#fetch[@]} package(s)"
    (cd "$DEPS/debs" && apt-get download -qq -o APT::Sandbox::User=root "${fetch[@]}" >/dev/null) || return 1
  fi
  for file in "${WANT[@]}"; do [ -f "$DEPS/debs/$file" ] || return 1; done
}

prepare() {
  command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null ||
    die "--prepare needs apt-get and dpkg-deb (Debian 12)" 3
  mkdir -p "$DEPS/debs"
  if ! fetch_debs; then
    say "prepare: apt lists missing or stale: apt-get update, then again"
    apt-get update -qq >/dev/null || die "apt-get update failed" 3
    fetch_debs || die "apt cannot fetch ${PKGS[*]}" 3
  fi
  local want=("${WANT[@]}") f
  # Drop .debs of versions no longer wanted.
  local d keep
  for d in "$DEPS"/debs/*.deb; do
    keep=0
    for f in "${want[@]}"; do [ "$(basename "$d")" = "$f" ] && keep=1 && break; done
    [ $keep = 1 ] || rm -f "$d"
  done
  local stamp
  stamp=$( (printf '%s\n' "${want[@]}" | sort; sed -n '/^trim_tree()/,/^}/p;/^relocate_cmake_configs()/,/^}/p' "$SELF") | sha256sum | cut -d' ' -f1)
  if [ -f "$R/.stamp" ] && [ "$(cat "$R/.stamp")" = "$stamp" ]; then
    say "prepare: .gpu-deps/root up to date (${#want[@]} packages)"
  else
    say "prepare: unpacking ${#want[@]} packages into .gpu-deps/root"
    rm -rf "${R:?}"
    mkdir -p "$R"
    for f in "${want[@]}"; do
      dpkg-deb -x "$DEPS/debs/$f" "$R" || die "dpkg-deb -x $f failed" 3
    done
    trim_tree
    relocate_cmake_configs
    echo "$stamp" >"$R/.stamp"
  fi
  verify_deps || die "dependencies incomplete (see above)" 3
}

if [ "${1:-}" = --prepare ]; then
  [ $# -eq 1 ] || die "--prepare takes no other option" 2
  prepare
  exit 0
fi
if [ "${1:-}" = --verify ]; then
  verify_deps || exit 3
  exit 0
fi

# =============================================================================================
# Run mode
# =============================================================================================
NO_GPU_OK=0 SKIP_BUILD=0 SYSTEM_DEPS=0 CONFIGURE_ONLY=0 BUDGET=450 JOBS=4 ONLY=""
OUTDIR=${OUT:-} WORK="" BUILD="" PY=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-gpu-ok) NO_GPU_OK=1 ;;
    --skip-build) SKIP_BUILD=1 ;;
    --configure-only) CONFIGURE_ONLY=1 NO_GPU_OK=1 ;;
    --system-deps) SYSTEM_DEPS=1 ;;
    --out) OUTDIR=$2; shift ;;
    --work) WORK=$2; shift ;;
    --build-dir) BUILD=$2; shift ;;
    --budget) BUDGET=$2; shift ;;
    --jobs) JOBS=$2; shift ;;
    --python) PY=$2; shift ;;
    --only) ONLY=$2; shift ;;
    -h|--help) sed -n '2,/^set -uo/p' "$SELF" | sed '$d'; exit 0 ;;
    *) die "unknown option $1 (--help)" 2 ;;
  esac
  shift
done
OUTDIR=${OUTDIR:-$ROOT/runs/gpu-check/out}
WORK=${WORK:-$ROOT/runs/gpu-check/work}
BUILD=${BUILD:-$ROOT/build-gpu}
mkdir -p "$OUTDIR" "$WORK" || die "cannot create $OUTDIR / $WORK" 2
OUTDIR=$(cd "$OUTDIR" && pwd) WORK=$(cd "$WORK" && pwd)
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
if [ -z "$PY" ]; then
  if [ -x /opt/torch/.venv/bin/python3 ]; then PY=/opt/torch/.venv/bin/python3; else PY=$(command -v python3); fi
fi
PYBIN=$(dirname "$PY")
RES=$WORK/results
rm -rf "$RES" && mkdir -p "$RES"
LOG=$OUTDIR/gpu-check.log
: >"$LOG"
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!
# Let tee write the last lines before the script's caller collects the log.
trap 'exec 1>&- 2>&-; wait "$TEE_PID" 2>/dev/null' EXIT
T0=$(date +%s)
START_ISO=$(date -u +%Y-%m-%dT%H:%M:%SZ)

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN{printf "%.2f", b-a}'; }
left() { echo $((BUDGET - ($(date +%s) - T0))); }
# Seconds a step may take: what it asks for, capped by what the budget leaves (15 s kept for
# writing the results). 0: skip it.
cap() { local l=$(($(left) - 15)); [ "$l" -lt "$1" ] && { [ "$l" -lt 5 ] && echo 0 || echo "$l"; } || echo "$1"; }
wanted() { [ -z "$ONLY" ] || [[ ",$ONLY," == *",$1,"* ]]; }
tool() { "$PY" "$TOOL" "$@"; }
# put NAME key=value...: one result fragment ($RES/NAME.json); values are JSON when they parse.
put() { tool put --out "$RES/$1.json" "${@:2}"; }
assemble() {
  tool assemble --results "$RES" --out "$OUTDIR/gpu-check.json" started="$START_ISO" \
    mode="$MODE" budget_s="$BUDGET" wall_s="$(($(date +%s) - T0))" device="$DEVICE" \
    backend="$BACKEND" work="$WORK" build_dir="$BUILD" "$@" >/dev/null ||
    say "could not write gpu-check.json"
}
section() { echo; echo "==== [$(($(date +%s) - T0)) s] $*"; }

# --- is there a GPU? ---------------------------------------------------------------------------
GPU=0 WHY=""
if command -v nvidia-smi >/dev/null && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then GPU=1
else WHY="nvidia-smi lists no GPU"; fi
if [ $GPU = 0 ] && "$PY" -c 'import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  GPU=1
elif [ $GPU = 0 ]; then WHY="$WHY; $PY: torch.cuda.is_available() is not True"; fi
if [ $GPU = 1 ]; then
  MODE=gpu DEVICE=cuda BACKEND=nccl
else
  MODE=dry-cpu DEVICE=cpu BACKEND=mpi
  if [ $NO_GPU_OK = 0 ]; then
    say "no GPU here ($WHY): nothing to check (--no-gpu-ok runs the CPU dry run)"
    put env status='"skipped"' ok=false reason="no GPU: $WHY" 2>/dev/null
    assemble 2>/dev/null
    exit 2
  fi
  say "no GPU ($WHY): dry run on the CPU with short runs"
fi
# Sizes: the real ones on a GPU, tiny ones in the CPU dry run (same code paths).
if [ $MODE = gpu ]; then
  ZOO_STEPS=30 ZOO_BATCH=64 D64_STEPS=300 D64_BATCH=64 D64_SAMPLE=100 D64_WARM=50
  RES_STEPS=40 SPEED_STEPS=200 SPEED_WARM=50 SPEED_LOG=10 SPEED_ROUNDS=3 N28=4096 N64=2048 THREADS=1
else
  ZOO_STEPS=3 ZOO_BATCH=16 D64_STEPS=12 D64_BATCH=8 D64_SAMPLE=6 D64_WARM=4
  RES_STEPS=6 SPEED_STEPS=8 SPEED_WARM=2 SPEED_LOG=2 SPEED_ROUNDS=1 N28=512 N64=128 THREADS=1
fi
CPU_THREADS=$(( $(nproc) < 8 ? $(nproc) : 8 ))
DRY=()
[ $MODE = gpu ] || DRY=(--dry)
say "mode $MODE, python $PY, build $BUILD, work $WORK, out $OUTDIR, budget ${BUDGET}s"

# --- run-time environment of the unpacked dependencies ------------------------------------------
# The run uses a private copy of .gpu-deps/root (hard links, instant) in which the libraries the
# host also has are replaced by links to the host's copies (newer on Ubuntu 24.04): one copy of
# each library is loaded and nothing older shadows the host's. The Open MPI stack stays ours.
swap_host_libs() {
  local f so host n=0 cache
  [ "${GPU_CHECK_NO_SWAP:-0}" = 1 ] && { say "deps: GPU_CHECK_NO_SWAP=1: every shipped library is used"; return; }
  command -v ldconfig >/dev/null || { say "no ldconfig: keeping every shipped library"; return; }
  cache=$(ldconfig -p 2>/dev/null)
  mkdir -p "$WORK/deps-shadowed"
  while IFS= read -r -d '' f; do
    case "$(basename "$f")" in
      libmpi*|libopen-*|libmca_*|liboshmem*|libpmix*|libhwloc*|libevent*|libmunge*) continue ;;
    esac
    head -c 4 "$f" | grep -q ELF || continue
    so=$(readelf -d "$f" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
    [ -n "$so" ] || continue
    host=$(awk -v s="$so" '$1 == s && $0 ~ /x86-64/ {print $NF; exit}' <<<"$cache")
    [ -n "$host" ] && [ -e "$host" ] || continue
    case "$host" in "$ROOT"/*|"$WORK"/*) continue ;; esac
    mv "$f" "$WORK/deps-shadowed/" && ln -s "$host" "$f" && n=$((n + 1)) && SWAPPED+=("$so")
  done < <(find "$LIB" -maxdepth 1 -type f -name 'lib*.so.*' -print0)
  say "deps: $n shipped librar(y/ies) replaced by the host's own: ${SWAPPED[*]}"
}
SWAPPED=()

GAN_ENV=()
setup_deps_env() {
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
  # One rank, no mpirun: Open MPI 4.1 starts as a singleton; "isolated" keeps it from forking
  # an orted (ess_singleton_isolated), and only the self/vader transports are tried.
  export OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_pml=ob1 OMPI_MCA_btl=self,vader
  export OMPI_MCA_mca_base_component_show_load_errors=0 OMPI_MCA_btl_base_warn_component_unused=0
  export NCCL_DEBUG=${NCCL_DEBUG:-WARN}
  if [ $SYSTEM_DEPS = 1 ]; then return 0; fi
  [ -f "$R/.stamp" ] || { say "no .gpu-deps/root: run scripts/gpu-check.sh --prepare here and carry .gpu-deps/root"; return 1; }
  local copy=$WORK/deps-root
  rm -rf "$copy" "$WORK/deps-shadowed"
  cp -al "$R" "$copy" 2>/dev/null || cp -a "$R" "$copy" || return 1
  R=$copy LIB=$copy/usr/lib/$ARCH
  swap_host_libs
  # Open MPI and PMIx installed elsewhere than they were built for: relocated by prefix.
  export OPAL_PREFIX=$R/usr OPAL_SYSCONFDIR=$R/etc/openmpi
  export PMIX_INSTALL_PREFIX=$LIB/pmix2
  GAN_ENV=(env "LD_LIBRARY_PATH=$LIB${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "PATH=$R/usr/bin:$PATH")
  # protoc runs during configure and build: the carried one, with the carried libraries on its
  # path (and nothing else's: cmake and the compiler keep the host's libraries).
  PROTOC=$R/usr/bin/protoc-with-libs
  printf '#!/bin/bash\nLD_LIBRARY_PATH=%q exec %q "$@"\n' "$LIB" "$R/usr/bin/protoc" >"$PROTOC"
  chmod +x "$PROTOC"
}

# gan LOG SECONDS PROGRAM ARGS...: a gan_* program with the deps' environment, time-limited
# (SIGTERM first: gan_dist checkpoints and exits 75), output to LOG. Returns its exit code.
gan() {
  local log=$1 secs=$2 prog=$3
  shift 3
  [ "$secs" -gt 0 ] || { echo "skipped: no time left" >"$log"; return 124; }
  "${GAN_ENV[@]}" timeout -k 10 "$secs" "$BUILD/bin/$prog" "$@" </dev/null >"$log" 2>&1
}
tail_log() { [ -f "$1" ] && tail -n "${2:-15}" "$1" | sed 's/^/    | /'; }

FAILED=()
record_status() {  # name: reads the fragment's ok field, prints and remembers it
  local st
  st=$(tool field "$RES/$1.json" status 2>/dev/null || echo "missing")
  say "check $1: $st"
  case "$st" in pass|warn|skipped) ;; *) FAILED+=("$1") ;; esac
  assemble
}

# --- a. environment ---------------------------------------------------------------------------
# nvcc: on PATH, in /usr/local/cuda*, or from the python's pip CUDA toolkit (nvidia/cu13/bin).
# Recorded with whether the toolkit has the cuBLAS/cuSPARSE/cuSOLVER headers that ATen's CUDA
# headers include (the CUDA flavour cannot compile without them).
if ! command -v nvcc >/dev/null; then
  pipcuda=$("$PY" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "bin"))' 2>/dev/null || true)
  for d in /usr/local/cuda/bin /usr/local/cuda-*/bin $pipcuda; do [ -x "$d/nvcc" ] && PATH=$PATH:$d && break; done
fi
CUDA_HEADERS=missing
if command -v nvcc >/dev/null; then
  export CUDACXX=${CUDACXX:-$(command -v nvcc)}
  inc=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")/include
  miss=()
  for h in cublas_v2.h cublasLt.h cusparse.h cusolverDn.h; do [ -f "$inc/$h" ] || miss+=("$h"); done
  CUDA_HEADERS=$([ ${#miss[@]} = 0 ] && echo "all in $inc" || echo "missing in $inc: ${miss[*]}")
  say "nvcc $(command -v nvcc); cuBLAS/cuSPARSE/cuSOLVER headers: $CUDA_HEADERS"
fi

section "a. environment"
if wanted env; then
  tool env --out "$RES/env.json" --device "$DEVICE" --repo "$ROOT" || put env status='"fail"' ok=false
  record_status env
fi
# The machine's own torch first (seconds): a device matmul and cuDNN convolution, and
# torch.distributed at world size 1 over NCCL, with NCCL's own log: a GPU or NCCL that cannot
# start inside this machine is named here, before any build.
section "a2. torch smoke (the machine's python)"
if wanted torch_smoke; then
  NCCL_DEBUG=INFO timeout -k 5 60 "$PY" "$TOOL" torch-smoke --device "$DEVICE" \
    --out "$RES/torch_smoke.json" >"$WORK/torch-smoke.log" 2>&1 ||
    { tail_log "$WORK/torch-smoke.log" 20; [ -f "$RES/torch_smoke.json" ] || put torch_smoke status='"fail"' ok=false why='"the smoke did not finish (torch-smoke.log)"'; }
  grep -E 'NCCL INFO (NCCL version|Init COMPLETE|comm .* rank)' "$WORK/torch-smoke.log" | head -3 | sed 's/^/    | /'
  record_status torch_smoke
fi
DEPS_OK=1
setup_deps_env || DEPS_OK=0

# --- build --------------------------------------------------------------------------------------
HAVE_BIN=0
section "build"
if wanted build && [ $SKIP_BUILD = 0 ]; then
  b_t0=$(now)
  cm=$(command -v cmake || echo "$PYBIN/cmake")
  nj=$(command -v ninja || { [ -x "$PYBIN/ninja" ] && echo "$PYBIN/ninja"; } || echo "")
  tprefix=$("$PY" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
  args=(-S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF
        -DCMAKE_POLICY_VERSION_MINIMUM=3.5)
  [ -n "$nj" ] && [ ! -f "$BUILD/CMakeCache.txt" ] && args+=(-G Ninja "-DCMAKE_MAKE_PROGRAM=$nj")
  [ $MODE = gpu ] && args+=(-DGAN_WITH_NCCL=ON)
  prefix="$tprefix"
  if [ $SYSTEM_DEPS = 0 ]; then
    mi=$LIB/openmpi/include
    prefix="$tprefix;$R/usr;$LIB/cmake;$R/usr/share/cmake"
    args+=(
      # FindMPI without a compiler wrapper: Open MPI's headers and library, named.
      -DMPI_SKIP_COMPILER_WRAPPER=ON "-DMPI_C_HEADER_DIR=$mi" "-DMPI_C_ADDITIONAL_INCLUDE_DIRS=$mi/openmpi"
      -DMPI_C_LIB_NAMES=mpi "-DMPI_mpi_LIBRARY=$LIB/openmpi/lib/libmpi.so"
      # FindHDF5 without h5cc: HDF5_ROOT stops it from taking a host's wrapper, and the Debian
      # layout (include/hdf5/serial, lib/<arch>/hdf5/serial) is named.
      "-DHDF5_ROOT=$R/usr" -DHDF5_PREFER_PARALLEL=OFF -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON
      "-DHDF5_C_INCLUDE_DIR=$R/usr/include/hdf5/serial" "-DHDF5_hdf5_LIBRARY_RELEASE=$LIB/hdf5/serial/libhdf5.so"
      "-DOPENSSL_ROOT_DIR=$R/usr"
      "-DZLIB_ROOT=$R/usr" "-DPNG_ROOT=$R/usr"
      # The linker finds what the shipped libraries need (libhdf5 -> libcurl -> ...) here.
      "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$LIB"
      "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,$LIB"
      "-DProtobuf_PROTOC_EXECUTABLE=${PROTOC:-$R/usr/bin/protoc}"
      # Debian's multiarch headers (openssl/opensslconf.h, jconfig.h), which a host compiler
      # finds only in its own /usr/include/<arch> (found by scripts/gpu-rehearsal.sh).
      "-DCMAKE_C_STANDARD_INCLUDE_DIRECTORIES=$R/usr/include/$ARCH"
      "-DCMAKE_CXX_STANDARD_INCLUDE_DIRECTORIES=$R/usr/include/$ARCH")
  fi
  args+=("-DCMAKE_PREFIX_PATH=$prefix")
  # Extra CMake arguments from the environment (e.g. -DTorch_DIR=... for a configure test).
  read -r -a extra <<<"${GPU_CHECK_CMAKE_ARGS:-}"
  args+=("${extra[@]}")
  BLOG=$OUTDIR/build.log
  {
    echo "cmake $(printf '%q ' "${args[@]}")"
    [ $DEPS_OK = 1 ] || echo "no dependencies: configure will fail"
  } >"$BLOG"
  t=$(cap 150)
  c_t0=$(now)
  timeout -k 5 "$t" "$cm" "${args[@]}" >>"$BLOG" 2>&1
  crc=$?
  configure_s=$(since "$c_t0")
  brc=125 build_s=0
  if [ $crc = 0 ] && [ $CONFIGURE_ONLY = 1 ]; then
    brc=0
  elif [ $crc = 0 ]; then
    t=$(cap "${GPU_CHECK_BUILD_CAP:-330}")
    b1=$(now)
    timeout -k 5 "$t" "$cm" --build "$BUILD" -j "$(nproc)" --target gan_dist gan_prep >>"$BLOG" 2>&1
    brc=$?
    build_s=$(since "$b1")
  fi
  tool build-summary --cache "$BUILD/CMakeCache.txt" --log "$BLOG" --deps "$R" --out "$RES/build.json" \
    configure_rc=$crc build_rc=$brc configure_s="$configure_s" build_s="$build_s" total_s="$(since "$b_t0")" \
    nvcc="$(command -v nvcc || echo none)" cuda_headers="$CUDA_HEADERS" \
    system_deps=$SYSTEM_DEPS configure_only=$CONFIGURE_ONLY
  [ $crc = 0 ] || { say "configure failed (rc $crc):"; grep -E 'CMake Error|error' -A3 "$BLOG" | head -30; }
  [ $brc = 0 ] || [ $crc != 0 ] || { say "build failed (rc $brc):"; grep -E 'error|Error' "$BLOG" | head -30; }
  # build.log travels back; keep it under the size limit
  [ "$(stat -c %s "$BLOG")" -gt 8000000 ] && { tail -c 8000000 "$BLOG" >"$BLOG.t" && mv "$BLOG.t" "$BLOG"; }
  record_status build
  if [ $CONFIGURE_ONLY = 1 ]; then
    assemble finished="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    [ ${#FAILED[@]} = 0 ] && exit 0 || exit 1
  fi
else
  say "build skipped: using $BUILD as it is"
fi
if [ -x "$BUILD/bin/gan_dist" ] && [ -x "$BUILD/bin/gan_prep" ]; then HAVE_BIN=1; fi
# binaries left by an earlier build do not count when this build failed
if [ "${brc:-0}" != 0 ]; then HAVE_BIN=0; fi

# A first start of gan_dist: the MPI singleton, LibTorch and the option list. Tells whether
# --deterministic exists and which models there are.
MODELS="gan dcgan lsgan cgan infogan wgan wgan-gp ebgan began vae"
DET=() WATCH=()
if [ $HAVE_BIN = 1 ]; then
  s_t0=$(now)
  gan "$WORK/help.txt" "$(cap 60)" gan_dist --help
  hrc=$?
  say "gan_dist --help: rc $hrc in $(since "$s_t0") s"
  [ $hrc = 0 ] || tail_log "$WORK/help.txt" 20
  m=$(tool help-models "$WORK/help.txt" 2>/dev/null) && [ -n "$m" ] && MODELS=$m
  grep -q -- '--deterministic' "$WORK/help.txt" && DET=(--deterministic)
  # a hung collective ends the run with a message naming it, well inside our own timeouts
  grep -q -- '--collective-timeout' "$WORK/help.txt" && WATCH=(--collective-timeout 60)
  put smoke status="$([ $hrc = 0 ] && echo '"pass"' || echo '"fail"')" ok="$([ $hrc = 0 ] && echo true || echo false)" \
    help_rc=$hrc seconds="$(since "$s_t0")" models="$(tool to-json-list $MODELS)" \
    deterministic_flag="$([ ${#DET[@]} -gt 0 ] && echo true || echo false)"
  record_status smoke
  [ $hrc = 0 ] || HAVE_BIN=0
else
  say "no gan_dist/gan_prep in $BUILD/bin: the checks that run them are skipped"
fi
# can_run CHECK SECONDS: whether a check can run (a working build, test data, SECONDS of budget
# left); if not, its fragment says why and it counts as failed.
can_run() {
  local why=""
  if [ $HAVE_BIN != 1 ]; then why="no working gan_dist/gan_prep (build failed or skipped)"
  elif [ "$1" != data ] && [ $DATA_OK != 1 ]; then why="no test data (gan_prep failed)"
  elif [ "$(left)" -lt "$2" ]; then why="not run: time budget exhausted ($(left) s of $BUDGET left)"
  fi
  [ -z "$why" ] && return 0
  put "$1" status='"fail"' ok=false why="$why"
  return 1
}

# --- b. data --------------------------------------------------------------------------------------
section "b. data"
D28=$WORK/data/s28 D64=$WORK/data/s64
DATA_OK=0
if wanted data || wanted zoo || wanted dcgan64 || wanted cpu_gpu || wanted resume || wanted speed; then
  if can_run data 20; then
    d_t0=$(now)
    rm -rf "$WORK/data" && mkdir -p "$WORK/data"
    tool make-data --kind idx --size 28 --n "$N28" --out "$WORK/data/raw28" --seed 1
    gan "$WORK/data/prep28.log" "$(cap 60)" gan_prep idx --images "$WORK/data/raw28/images-idx3-ubyte.gz" \
      --labels "$WORK/data/raw28/labels-idx1-ubyte.gz" --out "$D28" --shard-size 2048
    r28=$?
    tail_log "$WORK/data/prep28.log" 3
    # 64x64: RGB PNGs through gan_prep celeba (3 channels, the usual DCGAN-64); if that fails,
    # grey 64x64 IDX through gan_prep idx.
    tool make-data --kind png --size 64 --n "$N64" --out "$WORK/data/raw64png" --seed 2
    gan "$WORK/data/prep64.log" "$(cap 90)" gan_prep celeba --src "$WORK/data/raw64png" --attr none \
      --partition none --out "$D64" --crop full --size 64 --threads "$CPU_THREADS" --shard-size 1024 --force
    r64=$? kind64=rgb-png
    tail_log "$WORK/data/prep64.log" 3
    if [ $r64 != 0 ]; then
      say "gan_prep celeba failed (rc $r64): falling back to grey 64x64 IDX"
      tool make-data --kind idx --size 64 --n "$N64" --out "$WORK/data/raw64" --seed 2
      gan "$WORK/data/prep64idx.log" "$(cap 60)" gan_prep idx --images "$WORK/data/raw64/images-idx3-ubyte.gz" \
        --out "$D64" --force --shard-size 1024
      r64=$? kind64=grey-idx
    fi
    tool data-summary --out "$RES/data.json" --d28 "$D28" --d64 "$D64" prep28_rc=$r28 prep64_rc=$r64 \
      kind64="$kind64" seconds="$(since "$d_t0")"
    [ $r28 = 0 ] && [ $r64 = 0 ] && DATA_OK=1
  fi
  wanted data && record_status data
fi
CH64=$(tool field "$D64/manifest.json" image_shape.2 2>/dev/null || echo 3)

gan_train() {  # gan_train LOG SECONDS ARGS...: gan_dist at one rank on this mode's device
  local log=$1 secs=$2
  shift 2
  gan "$log" "$secs" gan_dist --device "$DEVICE" --backend "$BACKEND" --threads "$THREADS" "${WATCH[@]}" "$@"
}

# --- c. every model, a few steps ---------------------------------------------------------------
section "c. model zoo: $MODELS ($ZOO_STEPS steps each, $JOBS at once)"
if wanted zoo; then
  if can_run zoo 40; then
    Z=$WORK/zoo
    rm -rf "$Z" && mkdir -p "$Z"
    z_t0=$(now)
    zoo_end=$(($(date +%s) + $(cap 150)))  # one deadline for the whole zoo
    zoo_one() {
      local m=$1 t0 rc c
      t0=$(now)
      c=$((zoo_end - $(date +%s)))
      [ "$c" -gt 120 ] && c=120
      [ "$c" -ge 5 ] || c=0
      gan_train "$Z/$m.log" "$c" --model "$m" --data "$D28" --out "$Z/$m" --steps "$ZOO_STEPS" \
        --batch-size "$ZOO_BATCH" --log-every 1 --sample-every "$ZOO_STEPS" --seed 5
      rc=$?
      echo "{\"rc\": $rc, \"seconds\": $(since "$t0")}" >"$Z/$m.rc.json"
      echo "  $m: rc $rc, $(since "$t0") s"
    }
    pids=()
    for m in $MODELS; do
      # at most $JOBS at once (no `wait -n`: bash 5.1+ would also wait for the log's tee)
      while :; do
        n=0
        for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done
        [ "$n" -lt "$JOBS" ] && break
        sleep 0.2
      done
      zoo_one "$m" &
      pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p"; done
    tool eval-zoo --dir "$Z" --models "$MODELS" --steps "$ZOO_STEPS" --out "$RES/zoo.json" \
      seconds="$(since "$z_t0")" jobs="$JOBS" batch="$ZOO_BATCH"
    for m in $MODELS; do
      [ "$(tool field "$RES/zoo.json" "models.$m.ok" 2>/dev/null)" = true ] || { say "$m failed:"; tail_log "$Z/$m.log" 12; }
    done
  fi
  record_status zoo
fi

# --- d. DCGAN-64 -------------------------------------------------------------------------------
section "d. DCGAN-64: $D64_STEPS steps, batch $D64_BATCH"
if wanted dcgan64; then
  if can_run dcgan64 30; then
    D=$WORK/dcgan64
    rm -rf "$D"
    t0=$(now)
    gan_train "$WORK/dcgan64.log" "$(cap 120)" --model dcgan --data "$D64" --out "$D" --steps "$D64_STEPS" \
      --batch-size "$D64_BATCH" --sample-every "$D64_SAMPLE" --log-every 1 --seed 7
    rc=$?
    [ $rc = 0 ] || tail_log "$WORK/dcgan64.log" 15
    tool eval-dcgan64 "${DRY[@]}" --run "$D" --steps "$D64_STEPS" --warmup "$D64_WARM" --sample-every "$D64_SAMPLE" \
      --out "$RES/dcgan64.json" rc=$rc seconds="$(since "$t0")" batch="$D64_BATCH" channels="$CH64"
    last=$(ls "$D"/samples/step-*.png 2>/dev/null | tail -1)
    [ -n "$last" ] && cp "$last" "$OUTDIR/dcgan64-samples.png"
    [ -f "$D/metrics.csv" ] && cp "$D/metrics.csv" "$OUTDIR/dcgan64-metrics.csv"
  fi
  record_status dcgan64
fi

# --- e. one step CPU vs GPU -------------------------------------------------------------------
section "e. CPU vs $DEVICE: 2 steps, same seed ${DET[*]}"
if wanted cpu_gpu; then
  if can_run cpu_gpu 30; then
    E=$WORK/cpu_gpu
    rm -rf "$E" && mkdir -p "$E"
    common=(--model dcgan --data "$D28" --steps 2 --batch-size 64 --log-every 1 --sample-every 0
            --debug-trace --seed 11 "${DET[@]}" "${WATCH[@]}")
    t0=$(now)
    gan "$E/cpu.log" "$(cap 90)" gan_dist --device cpu --backend mpi --threads "$CPU_THREADS" \
      --out "$E/cpu" "${common[@]}"
    rc_cpu=$?
    gan "$E/dev.log" "$(cap 60)" gan_dist --device "$DEVICE" --backend "$BACKEND" --threads "$THREADS" \
      --out "$E/dev" "${common[@]}"
    rc_dev=$?
    [ $rc_cpu = 0 ] || tail_log "$E/cpu.log"
    [ $rc_dev = 0 ] || tail_log "$E/dev.log"
    tool compare-trace --a "$E/cpu/log/trace-rank-0.jsonl" --b "$E/dev/log/trace-rank-0.jsonl" \
      --steps 1,2 --rtol 1e-3 --atol 1e-4 --out "$RES/cpu_gpu.json" rc_cpu=$rc_cpu rc_dev=$rc_dev \
      seconds="$(since "$t0")" deterministic_flag="$([ ${#DET[@]} -gt 0 ] && echo true || echo false)" \
      a_label='"cpu/mpi"' b_label="\"$DEVICE/$BACKEND\"" cpu_threads="$CPU_THREADS"
  fi
  record_status cpu_gpu
fi

# --- f. checkpoint and resume ---------------------------------------------------------------------
HALF=$((RES_STEPS / 2))
section "f. resume on $DEVICE: $RES_STEPS straight vs $HALF + resume ${DET[*]}"
if wanted resume; then
  if can_run resume 30; then
    F=$WORK/resume
    rm -rf "$F" && mkdir -p "$F"
    common=(--model dcgan --data "$D28" --batch-size 64 --log-every 1 --sample-every 0 --seed 13 "${DET[@]}"
            "${WATCH[@]}")
    t0=$(now)
    fcap=$(cap 90)
    # two straight runs at once (the second tells GPU non-determinism from a resume bug) ...
    gan "$F/straight.log" "$fcap" gan_dist --device "$DEVICE" --backend "$BACKEND" --threads "$THREADS" \
      --out "$F/straight" --steps "$RES_STEPS" --checkpoint-every "$HALF" "${common[@]}" &
    p1=$!
    gan "$F/straight2.log" "$fcap" gan_dist --device "$DEVICE" --backend "$BACKEND" --threads "$THREADS" \
      --out "$F/straight2" --steps "$RES_STEPS" "${common[@]}" &
    p2=$!
    # ... while the interrupted one runs half, then resumes in the same folder
    gan "$F/half.log" "$fcap" gan_dist --device "$DEVICE" --backend "$BACKEND" --threads "$THREADS" \
      --out "$F/resumed" --steps "$HALF" "${common[@]}"
    rc_half=$?
    gan "$F/resume.log" "$(cap 60)" gan_dist --device "$DEVICE" --backend "$BACKEND" --threads "$THREADS" \
      --out "$F/resumed" --steps "$RES_STEPS" --resume "${common[@]}"
    rc_res=$?
    wait $p1; rc_s1=$?
    wait $p2; rc_s2=$?
    for x in straight straight2 half resume; do
      grep -q 'error' "$F/$x.log" && tail_log "$F/$x.log" 8
    done
    tool eval-resume --straight "$F/straight" --straight2 "$F/straight2" --resumed "$F/resumed" \
      --half "$HALF" --steps "$RES_STEPS" --out "$RES/resume.json" rc_straight=$rc_s1 rc_straight2=$rc_s2 \
      rc_half=$rc_half rc_resume=$rc_res seconds="$(since "$t0")" \
      deterministic_flag="$([ ${#DET[@]} -gt 0 ] && echo true || echo false)"
  fi
  record_status resume
fi

# --- g. speed: gan_dist vs PyTorch eager, interleaved -----------------------------------------
section "g. speed: DCGAN-64, gan_dist vs PyTorch eager, $SPEED_ROUNDS round(s)"
if wanted speed && [ "$(left)" -lt 30 ]; then
  put speed status='"fail"' ok=false why="not run: time budget exhausted ($(left) s of $BUDGET left)"
  record_status speed
elif wanted speed; then
  G=$WORK/speed
  rm -rf "$G" && mkdir -p "$G"
  t0=$(now)
  sbatch=$D64_BATCH
  [ $MODE = gpu ] && sbatch=64
  gan_runs=() torch_runs=()
  for r in $(seq 1 "$SPEED_ROUNDS"); do
    order="gan torch"
    [ $((r % 2)) = 0 ] && order="torch gan"
    for who in $order; do
      if [ $who = gan ]; then
        if [ $HAVE_BIN = 1 ] && [ $DATA_OK = 1 ]; then
          gan_train "$G/gan-$r.log" "$(cap 90)" --model dcgan --data "$D64" --out "$G/gan-$r" \
            --steps "$SPEED_STEPS" --batch-size "$sbatch" --log-every "$SPEED_LOG" --sample-every 0 --seed 17
          echo "{\"rc\": $?}" >"$G/gan-$r.rc.json"
          gan_runs+=("$G/gan-$r")
        fi
      else
        t=$(cap 90)
        if [ "$t" -gt 0 ]; then
          timeout -k 5 "$t" "$PY" "$BENCH" --device "$DEVICE" --size 64 --channels "$CH64" --batch "$sbatch" \
            --steps "$((SPEED_STEPS - SPEED_WARM))" --warmup "$SPEED_WARM" --log-every "$SPEED_LOG" --seed 17 --threads "$THREADS" \
            --json "$G/torch-$r.json" >"$G/torch-$r.log" 2>&1 || tail_log "$G/torch-$r.log"
          torch_runs+=("$G/torch-$r.json")
        fi
      fi
    done
  done
  tool eval-speed --gan "$(IFS=,; echo "${gan_runs[*]}")" --torch "$(IFS=,; echo "${torch_runs[*]}")" \
    --warmup "$SPEED_WARM" --batch "$sbatch" --out "$RES/speed.json" seconds="$(since "$t0")" \
    rounds="$SPEED_ROUNDS" steps="$SPEED_STEPS"
  record_status speed
fi

# --- h. projection from one GPU -----------------------------------------------------------------
# benchmarks/scaling/report.py on check d's DCGAN-64 run: its compute times (CUDA events) and the
# gradient messages more ranks would send, projected over two stated networks, NAME:BUSBW_GBps:
# HOP_LATENCY_us, GPU_CHECK_NETS (default below: NVLink inside a node and InfiniBand across
# nodes; benchmarks/gpu/README.md says where the figures come from: state your cluster's).
GPU_CHECK_NETS=${GPU_CHECK_NETS:-nvlink:450:2 ib:35:5}
section "h. scaling projection from the one-rank DCGAN-64 run over stated networks ($GPU_CHECK_NETS)"
if wanted projection; then
  if [ ! -f "$WORK/dcgan64/final.json" ]; then
    put projection status='"skipped"' ok=false why='"the DCGAN-64 run of check d did not finish"'
  elif [ "$(cap 60)" = 0 ]; then
    put projection status='"fail"' ok=false why="not run: time budget exhausted ($(left) s of $BUDGET left)"
  else
    nets=()
    for net in $GPU_CHECK_NETS; do
      IFS=: read -r name busbw hop <<<"$net"
      timeout -k 5 "$(cap 60)" "$PY" "$ROOT/benchmarks/scaling/report.py" "$WORK/dcgan64" \
        --busbw-gbps "$busbw" --hop-latency-us "$hop" --out "$WORK/projection-$name" \
        >"$WORK/projection-$name.log" 2>&1 || tail_log "$WORK/projection-$name.log"
      nets+=("$name=$WORK/projection-$name")
    done
    tool eval-projection --nets "$(IFS=,; echo "${nets[*]}")" --out "$RES/projection.json" \
      stated_networks="\"$GPU_CHECK_NETS\""
  fi
  record_status projection
fi

# --- results -----------------------------------------------------------------------------------
# $OUT holds at most 6 files (a call brings back 8): gpu-check.json, gpu-check.log, build.log,
# the DCGAN-64 grid and metrics, and extras.tar.gz with the projections' folders and logs (their
# figures are in gpu-check.json too).
section "results"
extras=()
for f in "$WORK"/projection-*; do extras+=("$(basename "$f")"); done
[ ${#extras[@]} -gt 0 ] && tar -C "$WORK" -czf "$OUTDIR/extras.tar.gz" "${extras[@]}"
assemble finished="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
tool report "$OUTDIR/gpu-check.json" || true
if [ ${#FAILED[@]} -gt 0 ]; then
  say "FAILED: ${FAILED[*]} ($(($(date +%s) - T0)) s); results in $OUTDIR/gpu-check.json"
  exit 1
fi
say "all checks passed ($(($(date +%s) - T0)) s); results in $OUTDIR/gpu-check.json"
exit 0
