#!/usr/bin/env bash
# Installs the Debian 12 packages gan_dist needs (as root, or through sudo) and makes sure
# the BLAS that LibTorch uses is OpenBLAS (the reference BLAS makes steps ~4x slower).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libtorch-dev libopenblas0-pthread
  libopenmpi-dev openmpi-bin
  libhdf5-dev hdf5-tools
  libspdlog-dev libcli11-dev nlohmann-json3-dev
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev zlib1g-dev libssl-dev
  libgtest-dev
  dataset-fashion-mnist
  python3-matplotlib python3-numpy python3-torch python3-h5py python3-pil
)

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
