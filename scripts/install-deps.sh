#!/usr/bin/env bash
# Installs the Debian 12 packages gan_dist needs (as root, or through sudo) and makes sure
# the BLAS that LibTorch uses is OpenBLAS (the reference BLAS makes steps ~4x slower).
#   (no flag)   everything: building and running the programs, the tests' tools and readers
#               (GoogleTest, clang for fuzzing, clang-format, Debian's PyTorch as the
#               benchmarks' peer, h5py, debootstrap for bare roots, the TensorBoard venv)
#   --programs  only what building and running the programs and the demo's plots need
#               (scripts/demo.sh: about a minute less on a fresh machine)
#   --cuda      everything, and the pinned CUDA build of torch from PyPI into $GAN_TORCH_VENV
#               (scripts/env.sh), once per user and version, for `scripts/build.sh --cuda`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
CUDA=0 PROGRAMS_ONLY=0
case "${1:-}" in
  --cuda) CUDA=1 ;;
  --programs) PROGRAMS_ONLY=1 ;;
  "") ;;
  *) echo "usage: scripts/install-deps.sh [--programs|--cuda]" >&2; exit 2 ;;
esac

# Configure and build (ccache and ninja keep rebuilds short), link, run, plot. GoogleTest is
# here because configuring defines the tests (the demo builds only its programs).
PACKAGES=(
  build-essential cmake pkg-config ninja-build ccache
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libhdf5-dev
  libspdlog-dev libcli11-dev nlohmann-json3-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev libssl-dev
  libgtest-dev
  protobuf-compiler libprotobuf-dev
  dataset-fashion-mnist
  python3-matplotlib python3-numpy
)
# The tests, fuzzing and the benchmarks' peers.
if [ $PROGRAMS_ONLY = 0 ]; then
  PACKAGES+=(hdf5-tools clang libclang-rt-14-dev clang-format python3-venv
             python3-torch python3-h5py python3-pil debootstrap)
fi
if [ $CUDA = 1 ]; then PACKAGES+=(binutils); fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

alt=libblas.so.3-x86_64-linux-gnu
openblas=/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3
if ! update-alternatives --query "$alt" 2>/dev/null | grep -q "^Value: $openblas"; then
  $SUDO update-alternatives --set "$alt" "$openblas"
fi
echo "install-deps: ok (BLAS: $(update-alternatives --query "$alt" | sed -n 's/^Value: //p'))"

if [ $PROGRAMS_ONLY = 1 ]; then exit 0; fi

# The project's own virtual environment (.venv/, git-ignored): the real readers the tests
# check written files with (TensorBoard's event-file loader), pinned.
if [ ! -f "$GAN_VENV/.tensorboard-$GAN_TENSORBOARD_PIN" ]; then
  echo "install-deps: tensorboard==$GAN_TENSORBOARD_PIN into $GAN_VENV"
  [ -x "$GAN_VENV/bin/python" ] || /usr/bin/python3 -m venv "$GAN_VENV"
  "$GAN_VENV/bin/python" -m pip install -q --progress-bar off "tensorboard==$GAN_TENSORBOARD_PIN" numpy pillow
  touch "$GAN_VENV/.tensorboard-$GAN_TENSORBOARD_PIN"   # only a finished install is reused
fi

if [ $CUDA = 1 ]; then
  # The toolkit (nvcc) only compiles and links; torch's CUDA major must match it (CMake checks).
  if ! command -v nvcc >/dev/null && [ ! -x /usr/local/cuda/bin/nvcc ]; then
    echo "install-deps --cuda: no CUDA toolkit (nvcc) on PATH or in /usr/local/cuda" >&2
    exit 1
  fi
  if [ ! -f "$GAN_TORCH_VENV/.complete" ]; then
    echo "install-deps: torch==$GAN_TORCH_PIN (CUDA build, several GB) into $GAN_TORCH_VENV"
    rm -rf "$GAN_TORCH_VENV"
    mkdir -p "$(dirname "$GAN_TORCH_VENV")"
    /usr/bin/python3 -m venv "$GAN_TORCH_VENV"
    "$GAN_TORCH_VENV/bin/python" -m pip install -q --progress-bar off "torch==$GAN_TORCH_PIN"
    touch "$GAN_TORCH_VENV/.complete"   # only a finished install is reused
  fi
  echo "install-deps: $("$GAN_TORCH_VENV/bin/python" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "NCCL", ".".join(map(str, torch.cuda.nccl.version())))' 2>/dev/null) in $GAN_TORCH_VENV"
fi
