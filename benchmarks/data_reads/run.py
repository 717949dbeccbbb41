#!/usr/bin/python3
"""Bytes read per rank and per node in one epoch, by sampling mode and world size.

Runs build/benchmarks/bench_data_reads on a shard folder (default: the demo's Fashion-MNIST,
made by scripts/demo.sh or `gan_prep idx`) for 1, 2, 4 and 8 ranks of each sampling mode:
the real loader of every rank, one after the other in one process. Measured: the bytes each
rank's loader read, and the distinct bytes all ranks of a node touched together (all N ranks
on one node). Projected beyond the measured world sizes from those figures: invariant, a rank
keeps reading its measured fraction of the dataset; sharded, a rank reads 1/N of it plus the
measured excess (the blocks it shares a window with).

Writes benchmarks/results/data_reads/{data_reads.csv, summary.csv, data_reads.png}.
  /usr/bin/python3 benchmarks/data_reads/run.py [--build DIR] [--data DIR] [--batch 64]
"""
import argparse
import csv
import io
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "benchmarks", "results", "data_reads")
PROJECTED = [16, 32, 64, 128, 256, 512]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "fashion-mnist"))
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2, 4, 8])
    a = ap.parse_args()
    exe = os.path.join(a.build, "benchmarks", "bench_data_reads")
    if not os.path.exists(os.path.join(a.data, "manifest.json")):
        sys.exit(f"{a.data}: no manifest.json (run scripts/demo.sh or gan_prep idx first)")
    r = subprocess.run([exe, a.data, str(a.batch)] + [str(n) for n in a.ranks],
                       stdout=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit(f"{exe} failed ({r.returncode})")
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "data_reads.csv"), "w") as f:
        f.write(r.stdout)

    dataset = float(rows[0]["dataset_mb"])
    summary = []
    for mode in ("invariant", "sharded"):
        for n in a.ranks:
            mine = [x for x in rows if x["sampling"] == mode and int(x["ranks"]) == n]
            reads = [float(x["read_mb"]) for x in mine]
            summary.append({"sampling": mode, "ranks": n, "kind": "measured",
                            "rank_read_mb_mean": statistics.mean(reads),
                            "rank_read_mb_max": max(reads),
                            "node_distinct_mb": float(mine[0]["node_distinct_mb"]),
                            "dataset_mb": dataset})
        last = [s for s in summary if s["sampling"] == mode][-1]
        n0 = last["ranks"]
        for n in PROJECTED:
            if n <= n0:
                continue
            if mode == "invariant":
                per_rank = last["rank_read_mb_mean"]
            else:  # 1/N of the data plus the excess measured at the largest world size
                per_rank = dataset / n + (last["rank_read_mb_mean"] - dataset / n0)
            summary.append({"sampling": mode, "ranks": n, "kind": "projected",
                            "rank_read_mb_mean": per_rank, "rank_read_mb_max": "",
                            "node_distinct_mb": "", "dataset_mb": dataset})
    with open(os.path.join(OUT, "summary.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0].keys()))
        w.writeheader()
        for s in summary:
            w.writerow({k: (f"{v:.3f}" if isinstance(v, float) else v) for k, v in s.items()})
    for s in summary:
        print(f"{s['sampling']:9s} {s['ranks']:4d} ranks ({s['kind']}): a rank reads "
              f"{s['rank_read_mb_mean']:.1f} MB of {dataset:.1f} MB "
              f"({s['rank_read_mb_mean'] / dataset:.3f} of the data)")

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for mode, color in (("invariant", "tab:blue"), ("sharded", "tab:orange")):
        for kind, style in (("measured", "o-"), ("projected", "x--")):
            pts = [s for s in summary if s["sampling"] == mode and
                   (s["kind"] == kind or (kind == "projected" and s is
                    [t for t in summary if t["sampling"] == mode and t["kind"] == "measured"][-1]))]
            ax.plot([s["ranks"] for s in pts], [s["rank_read_mb_mean"] / dataset for s in pts],
                    style, color=color, label=f"{mode}, {kind}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("ranks")
    ax.set_ylabel("bytes read per rank per epoch / dataset")
    ax.set_title(f"Shard reads per rank, one epoch ({dataset:.0f} MB, global batch {a.batch})\n"
                 "CPU, one process per measured world size; beyond it projected")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "data_reads.png"), dpi=120)
    print(f"wrote {OUT}/data_reads.csv, summary.csv, data_reads.png")


if __name__ == "__main__":
    main()
