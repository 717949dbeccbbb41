#!/usr/bin/python3
"""Benchmark driver: all-reduce microbenchmark, per-phase step breakdown, weak and strong
scaling, gan_dist against PyTorch DDP (Gloo) side by side. Projections to more ranks come from
measured runs only: benchmarks/scaling/report.py.
Everything is measured in this run, interleaved where two things are compared, and reported
as medians. Writes CSV and PNG under benchmarks/results/ (or --out).

    /usr/bin/python3 benchmarks/run.py [--quick] [--only allreduce,breakdown,scaling,ddp,overlap,loader]
"""
import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build"
ENV = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
           OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
CORES = os.cpu_count() or 1


def mpirun(np_, *cmd):
    bind = ["--bind-to", "core"] if np_ <= CORES else ["--oversubscribe", "--bind-to", "none"]
    return ["mpirun", "-np", str(np_), *bind, *map(str, cmd)]


def sh(cmd, **kw):
    cmd = [str(c) for c in cmd]
    r = subprocess.run(cmd, env=ENV, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit(f"run.py: {' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def save_plot(fig, ax, path):
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
    print(f"  wrote {path}")


def machine():
    cpu = "unknown"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (f"{platform.node()}: {CORES} cores ({cpu}), {mem:.0f} GiB, {platform.platform()}; "
            f"load average at start {load}")


def data_dir(out):
    d = out / "fm10k"
    if not (d / "manifest.json").exists():
        fm = "/usr/share/datasets/fashion-mnist"
        sh([BUILD / "bin/gan_prep", "idx", "--force", "--images", f"{fm}/t10k-images-idx3-ubyte.gz",
            "--labels", f"{fm}/t10k-labels-idx1-ubyte.gz", "--out", d])
    return d


def train(out, np_, model, global_batch, steps, extra=()):
    """Runs gan_dist; returns the medians of each timing column over the logged intervals,
    the first interval (warm-up) left out."""
    run_dir = out / "runs" / f"{model}-np{np_}-b{global_batch}"
    shutil.rmtree(run_dir, ignore_errors=True)
    sh(mpirun(np_, BUILD / "bin/gan_dist", "--model", model, "--data", data_dir(out),
              "--out", run_dir, "--steps", steps, "--batch-size", global_batch,
              "--log-every", max(1, steps // 6), "--sample-every", 0, "--threads", 1, *extra))
    rows = [json.loads(l) for l in (run_dir / "metrics.jsonl").read_text().splitlines()][1:]
    keys = [k for k in rows[0] if k.endswith("_ms") or k == "images_per_s"]
    return {k: statistics.median(r[k] for r in rows) for k in keys}


def bench_allreduce(out, quick):
    print("all-reduce microbenchmark")
    rows = []
    overlap = []
    for np_ in (2,) if quick else (2, 3):
        csv_path = out / f"allreduce_np{np_}.csv"
        ov_path = out / f"allreduce_overlap_np{np_}.csv"
        print(sh(mpirun(np_, BUILD / "benchmarks/bench_allreduce", csv_path, ov_path)))
        rows += list(csv.DictReader(open(csv_path)))
        overlap += list(csv.DictReader(open(ov_path)))
    fig, ax = plt.subplots(figsize=(7, 4))
    for np_ in sorted({r["ranks"] for r in rows}):
        for path in ("mpi_allreduce", "mpi_iallreduce", "reducer"):
            sel = [r for r in rows if r["ranks"] == np_ and r["path"] == path]
            ax.plot([int(r["bytes"]) for r in sel], [float(r["busbw_GBps"]) for r in sel],
                    marker="o", label=f"{path}, {np_} ranks")
    ax.set(xscale="log", xlabel="bytes", ylabel="busbw, GB/s", title="all-reduce bus bandwidth (CPU, shared memory)")
    save_plot(fig, ax, out / "allreduce.png")
    # Share of the all-reduce hidden behind compute, progress thread off and on.
    fig, ax = plt.subplots(figsize=(7, 4))
    for np_ in sorted({r["ranks"] for r in overlap}):
        for kind in ("cpu", "idle"):
            sel = [r for r in overlap if r["ranks"] == np_ and r["compute"] == kind]
            for col, style in (("hidden_off", ":"), ("hidden_on", "-")):
                ax.plot([int(r["bytes"]) for r in sel], [float(r[col]) for r in sel], style, marker="o",
                        label=f"{np_} ranks, {kind} compute, progress {col[7:]}")
    ax.axhline(0, color="gray", lw=0.5)
    ax.set(xscale="log", xlabel="bytes", ylabel="share of all-reduce hidden", ylim=(-1, 1.1),
           title="MPI_Iallreduce during compute: progress thread off / on")
    save_plot(fig, ax, out / "allreduce_overlap.png")


def bench_breakdown(out, quick, models):
    print("step-time breakdown")
    rows = []
    for model in models:
        for np_ in (1, 2) if quick else (1, 2, 3):
            t = train(out, np_, model, 32 * np_, 30 if quick else 60)
            rows.append({"model": model, "ranks": np_, "oversubscribed": np_ > CORES, "local_batch": 32,
                         **{k: round(v, 2) for k, v in t.items()}})
            print(f"  {model} np={np_}: " + ", ".join(f"{k} {v:.1f}" for k, v in t.items()))
    write_csv(out / "breakdown.csv", rows)
    plot_breakdown(rows, out / "breakdown.png")


def plot_breakdown(rows, path):
    """Horizontal bars, one per model and rank count: each phase's share of the step, with the
    step's milliseconds at the end, so a 13 ms MLP step and a 1 s BEGAN step read alike."""
    phases = ["data_ms", "forward_ms", "backward_ms", "comm_ms", "optimizer_ms"]
    fig, ax = plt.subplots(figsize=(8, 0.8 + 0.22 * len(rows)))
    labels = [f"{r['model']} np={r['ranks']}" for r in rows]
    left = [0.0] * len(rows)
    for p in phases:
        share = [100 * max(0.0, float(r.get(p, 0))) / float(r["step_ms"]) for r in rows]
        ax.barh(labels, share, left=left, label=p[:-3])
        left = [a + b for a, b in zip(left, share)]
    for i, r in enumerate(rows):
        ax.text(101, i, f"{float(r['step_ms']):.0f} ms", va="center", fontsize=7)
    ax.invert_yaxis()
    ax.set(xlim=(0, 112), xlabel="% of the step (median); step time at the right",
           title="where a step goes (local batch 32; np=3 is 3 ranks on 2 cores)")
    ax.tick_params(axis="y", labelsize=7)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=5, fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def bench_scaling(out, quick):
    print("weak and strong scaling (DCGAN-28)")
    rows = []
    nps = (1, 2, 3) if quick else (1, 2, 3, 4)
    for mode in ("weak", "strong"):
        for np_ in nps:
            gb = 32 * np_ if mode == "weak" else 96
            t = train(out, np_, "dcgan", gb, 30 if quick else 60)
            rows.append({"mode": mode, "ranks": np_, "oversubscribed": np_ > CORES, "global_batch": gb,
                         "step_ms": round(t["step_ms"], 2), "images_per_s": round(t["images_per_s"], 1)})
            print(f"  {mode} np={np_} batch {gb}: {t['images_per_s']:.0f} img/s, step {t['step_ms']:.1f} ms")
    for r in rows:
        base = next(b for b in rows if b["mode"] == r["mode"] and b["ranks"] == 1)
        r["speedup"] = round(r["images_per_s"] / base["images_per_s"], 3)
        r["efficiency"] = round(r["speedup"] / r["ranks"], 3)
    write_csv(out / "scaling.csv", rows)
    fig, ax = plt.subplots(figsize=(6, 4))
    for mode in ("weak", "strong"):
        sel = [r for r in rows if r["mode"] == mode]
        ax.plot([r["ranks"] for r in sel], [r["speedup"] for r in sel], marker="o", label=mode)
    ax.plot(nps, nps, "k:", label="ideal")
    ax.axvline(CORES + 0.5, color="gray", lw=0.5)
    ax.text(CORES + 0.6, 1, f"> {CORES} ranks: oversubscribed", fontsize=8)
    ax.set(xlabel="ranks", ylabel="throughput speedup", title="DCGAN-28 scaling, 1 thread per rank")
    save_plot(fig, ax, out / "scaling.png")


def bench_ddp(out, quick):
    print("gan_dist vs PyTorch DDP (Gloo), DCGAN-28, local batch 32, interleaved")
    rows = []
    reps = 2 if quick else 3
    for np_ in (1, 2):
        ours, theirs = [], []
        for rep in range(reps):
            ours.append(train(out, np_, "dcgan", 32 * np_, 40)["step_ms"])
            line = sh(mpirun(np_, "/usr/bin/python3", ROOT / "benchmarks/pytorch_ddp_dcgan.py",
                             "--local-batch", 32, "--steps", 40, "--port", 29533 + rep))
            theirs.append(json.loads(line.strip().splitlines()[-1])["step_ms"])
        o, t = statistics.median(ours), statistics.median(theirs)
        rows.append({"ranks": np_, "gan_dist_step_ms": round(o, 2), "pytorch_ddp_step_ms": round(t, 2),
                     "ratio_gan_dist_over_ddp": round(o / t, 3), "images_per_s_ratio": round(t / o, 3),
                     "runs_each": reps})
        print(f"  np={np_}: gan_dist {o:.1f} ms, DDP {t:.1f} ms, ratio {o / t:.3f}")
    write_csv(out / "ddp.csv", rows)
    fig, ax = plt.subplots(figsize=(5, 4))
    x = [r["ranks"] for r in rows]
    ax.bar([v - 0.2 for v in x], [r["gan_dist_step_ms"] for r in rows], 0.4, label="gan_dist (C++)")
    ax.bar([v + 0.2 for v in x], [r["pytorch_ddp_step_ms"] for r in rows], 0.4, label="PyTorch DDP")
    ax.set(xticks=x, xlabel="ranks", ylabel="ms per step (median)", title="DCGAN-28 step, local batch 32")
    save_plot(fig, ax, out / "ddp.png")


def bench_overlap(out, quick):
    """Does the all-reduce really run during backward? Exposed communication and step time
    with overlap on and off, alternated, at np=2; D is made wide so there is something to hide."""
    print("overlap on/off, DCGAN-28 with D width 128, np=2, interleaved")
    rows = []
    extra = ("--d-width", 128, "--bucket-mb", 1)
    for rep in range(2 if quick else 3):
        for ov in ("true", "false"):
            t = train(out, 2, "dcgan", 64, 40, extra + ("--overlap", ov))
            rows.append({"overlap": ov, "rep": rep, **{k: round(v, 2) for k, v in t.items()}})
    summary = []
    for ov in ("true", "false"):
        sel = [r for r in rows if r["overlap"] == ov]
        summary.append({"overlap": ov, "comm_ms": statistics.median(r["comm_ms"] for r in sel),
                        "backward_ms": statistics.median(r["backward_ms"] for r in sel),
                        "step_ms": statistics.median(r["step_ms"] for r in sel)})
        print(f"  overlap {ov}: exposed comm {summary[-1]['comm_ms']:.1f} ms, "
              f"backward {summary[-1]['backward_ms']:.1f} ms, step {summary[-1]['step_ms']:.1f} ms")
    write_csv(out / "overlap.csv", rows)
    write_csv(out / "overlap_summary.csv", summary)


def bench_loader(out, quick):
    """Loader images/s (one core for the reader thread and the consumer) and peak RSS for a
    dataset and one ten times larger, against an h5py per-image reader; alternated, medians."""
    print("loader: 64x64x3 shards, 20k and 200k images, vs h5py per-image reads")
    sizes = (20000, 200000)
    rows = []
    for rep in range(2 if quick else 3):
        for n in sizes:
            r = json.loads(sh([BUILD / "benchmarks/bench_loader", out / f"loader{n}", n]).strip())
            rows.append({"reader": "gan_dist Loader", "dataset_images": n, "rep": rep, **r})
        r = json.loads(sh(["/usr/bin/python3", ROOT / "benchmarks/h5py_reader_bench.py",
                           out / f"loader{sizes[0]}", 10000]).strip())
        rows.append({"reader": "h5py per image", "dataset_images": sizes[0], "rep": rep, **r})
    for n in sizes:
        sel = [r for r in rows if r["reader"] == "gan_dist Loader" and r["dataset_images"] == n]
        print(f"  Loader, {n} images: {statistics.median(r['images_per_s'] for r in sel):.0f} img/s, "
              f"peak RSS {statistics.median(r['peak_rss_mb'] for r in sel):.0f} MB")
    h5 = [r["images_per_s"] for r in rows if r["reader"] == "h5py per image"]
    print(f"  h5py per image: {statistics.median(h5):.0f} img/s")
    for n in sizes:
        shutil.rmtree(out / f"loader{n}", ignore_errors=True)
    write_csv(out / "loader.csv", [{k: r.get(k) for k in ("reader", "dataset_images", "rep", "images_per_s", "seconds", "peak_rss_mb")} for r in rows])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results"))
    ap.add_argument("--quick", action="store_true", help="fewer ranks, steps and repetitions")
    ap.add_argument("--only", default="allreduce,breakdown,scaling,ddp,overlap,loader")
    ap.add_argument("--models", default="gan,dcgan,cgan,lsgan,infogan,wgan,wgan-gp,ebgan,began,vae",
                    help="models of the breakdown part")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    only = set(a.only.split(","))
    t0 = time.time()
    (out / "machine.txt").write_text(machine() + "\n")
    print(machine())
    if "allreduce" in only:
        bench_allreduce(out, a.quick)
    if "breakdown" in only:
        bench_breakdown(out, a.quick, a.models.split(","))
    if "scaling" in only:
        bench_scaling(out, a.quick)
    if "ddp" in only:
        bench_ddp(out, a.quick)
    if "overlap" in only:
        bench_overlap(out, a.quick)
    if "loader" in only:
        bench_loader(out, a.quick)
    shutil.rmtree(out / "runs", ignore_errors=True)
    shutil.rmtree(out / "fm10k", ignore_errors=True)
    end_load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    with open(out / "machine.txt", "a") as f:
        f.write(f"load average at end {end_load}; run took {time.time() - t0:.0f} s\n")
    print(f"benchmarks done in {time.time() - t0:.0f} s; results in {out}")


if __name__ == "__main__":
    main()
