#!/bin/bash
# Interleaved benchmark of the gan_prep image path (see README in docs/prep.md):
#   (a) full-size TurboJPEG decode (bound), (b) gan_image decode+crop128+resize64,
#   (c) PIL + h5py recipe, (d) Huffman-only floors (bench_prep); ROUNDS rounds, each variant
#   once per round, medians at the end.
# usage: run_bench.sh BUILD_DIR [N_IMAGES=2000] [ROUNDS=5] [OUT_DIR=bench-out]
set -euo pipefail
build=${1:?build dir with benchmarks/prep/bench_prep}
n=${2:-2000}
rounds=${3:-5}
out=${4:-bench-out}
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3  # Debian's python: PIL, numpy, h5py
mkdir -p "$out"
corpus="$out/corpus"
if [ "$(ls "$corpus" 2>/dev/null | wc -l)" != "$n" ]; then
  rm -rf "$corpus"
  "$py" "$here/../../tests/dataio_image/gen_corpus.py" "$corpus" "$n"
fi
raw="$out/rounds.csv"
# The machine and library versions beside the figures.
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ); $(nproc --all) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), $(free -g | awk '/Mem:/ {print $2}') GiB, kernel $(uname -r)"
  echo "libjpeg-turbo $(dpkg-query -W -f '${Version}' libjpeg62-turbo 2>/dev/null), Pillow $("$py" -c 'import PIL; print(PIL.__version__)'), h5py $("$py" -c 'import h5py; print(h5py.__version__)')"
  echo "corpus: $n generated 178x218 q95 4:2:0 JPEGs, $(du -sb "$corpus" | cut -f1) bytes; $rounds rounds pinned to cpu ${BENCH_CPU:-0}"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} > "$out/machine.txt"
echo "round,variant,images,seconds,images_per_s" > "$raw"
# Pin to one core: images/s per core. Warm the page cache first.
cpu=${BENCH_CPU:-0}
cat "$corpus"/* > /dev/null
for r in $(seq 1 "$rounds"); do
  taskset -c "$cpu" "$build/benchmarks/prep/bench_prep" "$corpus" --round "$r" --passes 2 >> "$raw"
  taskset -c "$cpu" "$py" "$here/pil_recipe.py" "$corpus" "$r" 1 "$out/pil.h5" box >> "$raw"
  taskset -c "$cpu" "$py" "$here/pil_recipe.py" "$corpus" "$r" 1 "$out/pil.h5" bilinear >> "$raw"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/machine.txt"
"$py" - "$raw" "$out/summary.csv" <<'PY'
# Medians over rounds, and medians of per-round ratios (each round runs all variants
# back to back, so a per-round ratio cancels most of the machine's drift).
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
rate = {}
for r in rows:
    rate.setdefault(r["variant"], {})[r["round"]] = float(r["images_per_s"])
med = {k: statistics.median(v.values()) for k, v in rate.items()}
def ratio(k, ref):
    rs = [rate[k][r] / rate[ref][r] for r in rate[k] if r in rate[ref]]
    return statistics.median(rs)
with open(sys.argv[2], "w") as fh:
    w = csv.writer(fh)
    w.writerow(["variant", "rounds", "median_images_per_s", "min", "max",
                "median_round_ratio_to_turbojpeg_bound", "median_round_ratio_to_pil_box"])
    for k, v in rate.items():
        w.writerow([k, len(v), "%.1f" % med[k], "%.1f" % min(v.values()), "%.1f" % max(v.values()),
                    "%.3f" % ratio(k, "turbojpeg_full_decode"), "%.2f" % ratio(k, "pil_h5py_box")])
print(open(sys.argv[2]).read())
pil = med["pil_h5py_box"]
print("4x the PIL recipe would be %.0f images/s; Huffman decoding alone reaches %.0f (whole file)"
      " and %.0f (down to the crop's last row)" % (4 * pil, med.get("floor_entropy_whole_file", 0),
                                                  med.get("floor_entropy_to_crop_end", 0)))
PY
# Bar chart of the medians (skipped when matplotlib is missing).
"$py" - "$out/summary.csv" "$out/summary.png" <<'PY' || echo "no PNG (matplotlib missing?)"
import csv, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
rows = list(csv.DictReader(open(sys.argv[1])))
fig, ax = plt.subplots(figsize=(9, 4.5))
ax.barh([r["variant"] for r in rows], [float(r["median_images_per_s"]) for r in rows])
for i, r in enumerate(rows):
    ax.text(float(r["median_images_per_s"]), i, " %sx PIL" % r["median_round_ratio_to_pil_box"], va="center")
pil = [float(r["median_images_per_s"]) for r in rows if r["variant"] == "pil_h5py_box"]
if pil:
    ax.axvline(4 * pil[0], color="r", ls="--", lw=1, label="4x PIL recipe (target)")
    ax.legend(loc="lower right")
ax.set_xlabel("images/s, one core (median of interleaved rounds)")
ax.set_title("gan_prep image path: crop 128 -> 64, 178x218 q95 JPEG")
fig.tight_layout()
fig.savefig(sys.argv[2], dpi=100)
PY
