#!/usr/bin/python3
"""Does the generator's moving average help? Fashion-MNIST, DCGAN, several seeds.

Each seed trains ONE run with --g-ema-kimg; gan_eval then scores its final checkpoint twice,
with the raw generator (--weights raw) and with the average (--weights ema), by FD in the
project's Fashion-MNIST classifier features. Both scores come from the same training run,
so the budget is identical and the difference is the average's alone.

Writes benchmarks/results/ema/{ema.csv, ema.png, summary.txt}.
  /usr/bin/python3 benchmarks/ema/run_ema.py [--steps 1500] [--seeds 1 2 3] [--kimg 10] [--build DIR]
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "benchmarks", "results", "ema")
RUNS = os.path.join(ROOT, "runs", "ema")


def sh(cmd):
    print("+", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print(r.stdout[-3000:])
        sys.exit(f"failed ({r.returncode}): {' '.join(cmd)}")
    return r.stdout


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--kimg", type=float, default=10)
    ap.add_argument("--rampup", type=float, default=0.05)
    ap.add_argument("--n", type=int, default=5000, help="generated images per score")
    ap.add_argument("--np", type=int, default=2)
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "fashion-mnist"))
    ap.add_argument("--build", default=os.path.join(ROOT, "build"), help="CMake build folder")
    a = ap.parse_args()
    global BIN
    BIN = os.path.join(a.build, "bin")
    os.makedirs(OUT, exist_ok=True)
    mpirun = ["mpirun", "-np", str(a.np), "--oversubscribe", "--bind-to", "none"]
    classifier = os.path.join(RUNS, "classifier.pt")
    if not os.path.exists(classifier):
        os.makedirs(RUNS, exist_ok=True)
        sh([os.path.join(BIN, "gan_eval"), "train-classifier", "--data", a.data, "--epochs", "3",
            "--out", classifier])
    rows = []
    for seed in a.seeds:
        run = os.path.join(RUNS, f"seed{seed}")
        sh(["rm", "-rf", run])
        sh(mpirun + [os.path.join(BIN, "gan_dist"), "--model", "dcgan", "--data", a.data,
                     "--out", run, "--steps", str(a.steps), "--batch-size", str(a.batch),
                     "--seed", str(seed), "--sample-every", "0", "--log-every", "100",
                     "--g-ema-kimg", str(a.kimg), "--g-ema-rampup", str(a.rampup)])
        fd = {}
        for w in ("raw", "ema"):
            res = os.path.join(run, f"eval-{w}.json")
            sh(mpirun + [os.path.join(BIN, "gan_eval"), "--checkpoint", run, "--classifier",
                         classifier, "--n", str(a.n), "--weights", w, "--out", res])
            with open(res) as f:
                fd[w] = json.load(f)["fd"]
        rows.append({"seed": seed, "steps": a.steps, "batch": a.batch, "ema_kimg": a.kimg,
                     "ema_rampup": a.rampup, "fd_raw": fd["raw"], "fd_ema": fd["ema"],
                     "ratio_ema_over_raw": fd["ema"] / fd["raw"]})
        print(rows[-1], flush=True)
    with open(os.path.join(OUT, "ema.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    ratios = [r["ratio_ema_over_raw"] for r in rows]
    better = sum(r < 1 for r in ratios)
    med = statistics.median(ratios)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.5))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], [r["fd_raw"] for r in rows], 0.4, label="raw G")
    ax.bar([x + 0.2 for x in xs], [r["fd_ema"] for r in rows], 0.4, label=f"EMA ({a.kimg} kimg)")
    ax.set_xticks(list(xs), [f"seed {r['seed']}" for r in rows])
    ax.set_ylabel("FD (classifier features, lower is better)")
    ax.set_title(f"DCGAN, Fashion-MNIST, {a.steps} steps x {a.batch}: same run, two weights")
    ax.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "ema.png"), dpi=120)
    summary = (f"EMA better on {better} of {len(rows)} seeds; median FD ratio EMA/raw {med:.3f} "
               f"(per seed: {', '.join(f'{r:.3f}' for r in ratios)})")
    print(summary)
    with open(os.path.join(OUT, "summary.txt"), "w") as f:
        f.write(summary + "\n")


if __name__ == "__main__":
    main()
