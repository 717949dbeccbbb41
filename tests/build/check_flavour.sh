#!/usr/bin/env bash
# What a build flavour links and says it is, read off the real binary:
#   check_flavour.sh cpu  GAN_DIST            no CUDA runtime, no NCCL in the closure
#   check_flavour.sh cuda GAN_DIST NCCL_LIB   GAN_TORCH_CUDA compiled in; exactly one NCCL
#       and one CUDA runtime in the dependency closure, NCCL the one torch loads (NCCL_LIB);
#       every LibTorch library from one install; an RPATH (not RUNPATH) that reaches them
set -euo pipefail
flavour=$1 bin=$2
fail() { echo "FAIL: $*" >&2; exit 1; }

version=$("$bin" --version)
echo "$version"
deps=$(ldd "$bin")
echo "$deps" | grep -E 'nccl|cudart|libtorch|libc10' || true
count() { echo "$deps" | grep -c "$1" || true; }

if [ "$flavour" = cpu ]; then
  [[ "$version" == *"CPU only"* ]] || fail "--version does not say CPU only"
  [ "$(count 'libnccl')" = 0 ] || fail "a CPU build links NCCL"
  [ "$(count 'libcudart')" = 0 ] || fail "a CPU build links the CUDA runtime"
  echo "ok: CPU flavour, no CUDA runtime, no NCCL"
  exit 0
fi

nccl_lib=$3
[[ "$version" == *"compiled in (GAN_TORCH_CUDA)"* ]] || fail "GAN_TORCH_CUDA was not compiled in"
[[ "$version" == *"NCCL backend"* && "$version" != *"no NCCL backend"* ]] || fail "no NCCL backend"
if echo "$deps" | grep -q 'not found'; then fail "unresolved libraries: $(echo "$deps" | grep 'not found')"; fi
[ "$(count 'libnccl\.so')" = 1 ] || fail "$(count 'libnccl\.so') NCCL libraries in the closure"
[ "$(count 'libcudart\.so')" = 1 ] || fail "$(count 'libcudart\.so') CUDA runtimes in the closure"
nccl_path=$(echo "$deps" | awk '/libnccl\.so/ {print $3}')
[ "$(realpath "$nccl_path")" = "$(realpath "$nccl_lib")" ] ||
  fail "NCCL resolves to $nccl_path, torch's is $nccl_lib"
torch_dirs=$(echo "$deps" | awk '/libtorch|libc10/ {print $3}' | xargs -n1 dirname | sort -u)
[ "$(echo "$torch_dirs" | wc -l)" = 1 ] || fail "LibTorch libraries from several folders: $torch_dirs"
readelf -d "$bin" | grep -q '(RPATH)' || fail "no DT_RPATH (torch's libraries need it)"
echo "ok: CUDA flavour, one NCCL ($nccl_path), one CUDA runtime, LibTorch from $torch_dirs"
