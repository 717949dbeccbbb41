#!/usr/bin/env bash
# The main job: packs Debian's Fashion-MNIST into HDF5 shards and trains DCGAN on two MPI
# ranks for a few minutes. Leaves sample grids, metrics.jsonl and loss plots in runs/demo.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
STEPS=${STEPS:-1500}

scripts/install-deps.sh
scripts/build.sh

FM=/usr/share/datasets/fashion-mnist
if ! build/bin/gan_prep verify data/fashion-mnist >/dev/null 2>&1; then
  build/bin/gan_prep idx --force --images $FM/train-images-idx3-ubyte.gz \
    --labels $FM/train-labels-idx1-ubyte.gz --out data/fashion-mnist
fi

rm -rf runs/demo
mpirun -np 2 --bind-to core build/bin/gan_dist --model dcgan --data data/fashion-mnist \
  --out runs/demo --steps "$STEPS" --batch-size 64 --log-every 25 --sample-every 250 \
  --checkpoint-every 500

/usr/bin/python3 scripts/plot_metrics.py runs/demo
echo "demo: samples in runs/demo/samples/, metrics in runs/demo/metrics.jsonl, plots runs/demo/*.png"
