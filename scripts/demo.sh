#!/usr/bin/env bash
# The main job: packs Debian's Fashion-MNIST into HDF5 shards and trains DCGAN on two MPI
# ranks for a few minutes. Leaves sample grids, metrics.jsonl and loss plots in runs/demo.
# It installs and builds only what it runs (the two programs); scripts/test.sh adds the rest.
# Each phase's time is printed and written to runs/demo/demo-times.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
STEPS=${STEPS:-1500}
t0=$(date +%s)
times=()
phase() { times+=("$1 $(( $(date +%s) - t0 )) s"); echo "demo: $1 at $(( $(date +%s) - t0 )) s"; }

scripts/install-deps.sh --programs
phase packages
scripts/build.sh --target gan_dist --target gan_prep
phase build

FM=/usr/share/datasets/fashion-mnist
if ! build/bin/gan_prep verify data/fashion-mnist >/dev/null 2>&1; then
  build/bin/gan_prep idx --force --images $FM/train-images-idx3-ubyte.gz \
    --labels $FM/train-labels-idx1-ubyte.gz --out data/fashion-mnist
fi
phase data

rm -rf runs/demo
mpirun -np 2 --bind-to core build/bin/gan_dist --model dcgan --data data/fashion-mnist \
  --out runs/demo --steps "$STEPS" --batch-size 64 --log-every 25 --sample-every 250 \
  --checkpoint-every 500
phase training
# When the first trained grid (step 250) appeared, from the start of this script.
first=$(ls runs/demo/samples/step-0000250.png 2>/dev/null || true)
[ -n "$first" ] && times+=("first-trained-grid $(( $(stat -c %Y "$first") - t0 )) s")

/usr/bin/python3 scripts/plot_metrics.py runs/demo
phase done
printf '%s\n' "${times[@]}" > runs/demo/demo-times.txt
echo "demo: samples in runs/demo/samples/, metrics in runs/demo/metrics.jsonl, plots runs/demo/*.png"
echo "demo: times (from the start): ${times[*]}"
