# Sourced by the scripts: Open MPI as root (containers, CI) and one BLAS thread per rank.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# The CUDA flavour (`--cuda` in install-deps.sh, build.sh, test.sh): one pinned torch wheel from
# PyPI (a CUDA build of LibTorch, ~5 GB with its nvidia-* wheels) in a virtual environment
# kept per user, outside the clone, so that every fresh clone on the machine reuses it.
export GAN_TORCH_PIN=${GAN_TORCH_PIN:-2.15.0}
export GAN_TORCH_VENV=${GAN_TORCH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/gan_dist/torch-$GAN_TORCH_PIN}
# The project's virtual environment (git-ignored, inside the clone): tools the tests use as the
# real readers of what gan_dist writes (TensorBoard's event loader).
GAN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export GAN_VENV=${GAN_VENV:-$GAN_ROOT/.venv}
export GAN_TENSORBOARD_PIN=${GAN_TENSORBOARD_PIN:-2.21.0}
