#!/usr/bin/python3
"""Scaling report from gan_dist runs at several world sizes, measured where you train.

Make one run folder per world size with the same model and the same batch per rank (weak
scaling), each with --comm-curve, under gan_launch like any job, e.g. on one node:

    for n in 1 2 4 8; do
      gan_launch local -n $n -- gan_dist --model dcgan --data DATA --out bench/np$n \\
          --steps 60 --batch-size $((32 * n)) --sample-every 0 --comm-curve
    done
    /usr/bin/python3 benchmarks/scaling/report.py bench/np* --out bench/report

(benchmarks/scaling/sweep.py does both in one command.)

(gan_launch hosts or slurm the same way; on GPUs add --device cuda: phases are then timed
with CUDA events and the curve is NCCL's.) From each run it reads what gan_dist measured:
the per-phase medians of metrics.jsonl (forward, backward, optimizer, exposed communication,
step), the gradient messages the reducers sent per step (rank 0's log) and the all-reduce
curve of the job's own communicator at those sizes (allreduce.csv).

Cost model, every input measured in these runs:
  step(n)    = compute + exposed(n)
  full(n)    = sum over the messages sent per step of the all-reduce time at their size
  exposed(n) = f * full(n), f = exposed / full in the largest measured run: below 1 when
               overlap with backward hid part of the all-reduces, above 1 when the step also
               waited on skew between ranks and the buffer broadcasts
Beyond the largest measured world size N (a ring all-reduce, as NCCL and Open MPI use for
large messages): t(n, S) = alpha * (n - 1) / (N - 1) + S * 2(n-1)/n / busbw, with busbw the
curve's at its largest size and alpha its latency (the smallest size's time less the
bandwidth part), both at N. The compute time per rank is the largest run's (weak scaling:
the per-rank batch stays); strong scaling (the largest run's global batch split over n)
scales compute with the per-rank batch, linearly, which is optimistic for small batches.

A network stated instead of measured (--busbw-gbps, --hop-latency-us): the projection then
uses it in place of the largest run's curve, e.g. to project a 1-GPU run (whose gan_dist log
still lists the gradient messages more ranks would send) onto NVLink or InfiniBand with
published or vendor figures. The exposed fraction f is then the largest multi-rank run's, or
--exposed-fraction (default 1: nothing hidden). The report says which inputs were stated.

Writes OUT/{scaling.csv, projection.csv, allreduce.csv, scaling.png, report.md}.
"""
import argparse
import csv
import json
import os
import re
import statistics
import sys

PHASES = ("data_ms", "forward_ms", "backward_ms", "optimizer_ms", "comm_ms", "compute_ms", "step_ms")


def read_run(folder):
    """What one gan_dist run measured: ranks, batch, phase medians, messages, curve."""
    log = open(os.path.join(folder, "log", "rank-0.log")).read()
    m = re.search(r"\] (\S+) on (\d+) rank\(s\).*device (\S+), backend (\S+),", log)
    if not m:
        sys.exit(f"{folder}: no start line in log/rank-0.log")
    run = {"folder": folder, "model": m.group(1), "ranks": int(m.group(2)),
           "device": m.group(3), "backend": m.group(4)}
    cfg = dict(re.findall(r'^(\S+)\s*=\s*"?([^"\n]*)"?', open(os.path.join(folder, "config.toml")).read(), re.M))
    run["global_batch"] = int(cfg["batch-size"])
    run["overlap_setting"] = cfg.get("overlap", "auto")
    rows = [json.loads(l) for l in open(os.path.join(folder, "metrics.jsonl")) if l.strip()]
    if len(rows) > 1:
        rows = rows[1:]  # the first interval holds start-up (allocations, connections)
    for k in PHASES:
        run[k] = statistics.median(r[k] for r in rows)
    run["images_per_s"] = statistics.median(r["images_per_s"] for r in rows)
    msg = re.search(r"gradient all-reduces per step[^:]*: (.*)", log)
    run["messages"] = ([(int(b), float(c)) for b, c in re.findall(r"(\d+) B x ([\d.]+)", msg.group(1))]
                       if msg else [])
    run["curve"] = {}
    path = os.path.join(folder, "allreduce.csv")
    if os.path.exists(path):
        run["curve"] = {int(r["bytes"]): float(r["time_us"]) for r in csv.DictReader(open(path))}
    elif run["ranks"] > 1:
        sys.exit(f"{folder}: no allreduce.csv (run gan_dist with --comm-curve)")
    return run


def curve_time_us(curve, size):
    """All-reduce time at `size` bytes: the measured point, or linear in bytes between two."""
    if size in curve:
        return curve[size]
    pts = sorted(curve.items())
    lo = max((p for p in pts if p[0] < size), default=pts[0])
    hi = min((p for p in pts if p[0] > size), default=pts[-1])
    if hi[0] == lo[0]:
        return lo[1] * size / lo[0]
    return lo[1] + (hi[1] - lo[1]) * (size - lo[0]) / (hi[0] - lo[0])


def full_comm_ms(run):
    """The all-reduces of one step, back to back, from the run's own curve."""
    if run["ranks"] == 1:
        return 0.0
    return sum(c * curve_time_us(run["curve"], b) for b, c in run["messages"]) / 1e3


# A network stated on the command line rather than measured: hop latency (us) and busbw
# (bytes/us), and the exposed fraction; None when the runs' own curve is used.
STATED = None


def ring_model(run):
    """Latency per ring step (us) and busbw (bytes/us), for t(n, S) beyond the run: a ring
    all-reduce takes 2(n-1) steps. From the run's curve, or the stated network."""
    if STATED:
        return STATED["hop_us"], STATED["busbw"]
    pts = sorted(run["curve"].items())
    big_b, big_t = pts[-1]
    n = run["ranks"]
    busbw = big_b * 2 * (n - 1) / n / big_t
    small_b, small_t = pts[0]
    alpha = max(0.0, small_t - small_b * 2 * (n - 1) / n / busbw)
    return alpha / (2 * (n - 1)), busbw


def project(base, n, batch_scale=1.0):
    """Predicted step of `n` ranks from the largest measured run `base`."""
    hop, busbw = ring_model(base)
    lat = band = 0.0
    if n > 1:
        for b, c in base["messages"]:
            lat += c * hop * 2 * (n - 1)
            band += c * b * 2 * (n - 1) / n / busbw
    f = exposure(base)
    compute = base["compute_ms"] * batch_scale
    return {"compute_ms": compute, "latency_ms": f * lat / 1e3, "bandwidth_ms": f * band / 1e3,
            "step_ms": compute + f * (lat + band) / 1e3}


def exposure(run):
    """Exposed communication over the step's all-reduce time (1 when nothing is sent)."""
    if STATED and (STATED["exposed"] is not None or run["ranks"] == 1):
        return 1.0 if STATED["exposed"] is None else STATED["exposed"]
    full = full_comm_ms(run)
    return run["comm_ms"] / full if full > 0 else 1.0


def bound(p):
    terms = {"compute (the per-rank batch)": p["compute_ms"], "bandwidth": p["bandwidth_ms"],
             "latency": p["latency_ms"]}
    return max(terms, key=terms.get)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="gan_dist run folders, one per world size: the same "
                    "batch per rank (weak scaling) or the same global batch (strong)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--project-to", type=int, default=512)
    ap.add_argument("--min-efficiency", type=float, default=0.5,
                    help="adding ranks stops paying below this efficiency against linear")
    ap.add_argument("--busbw-gbps", type=float,
                    help="stated network: all-reduce bus bandwidth in GB/s (with --hop-latency-us)")
    ap.add_argument("--hop-latency-us", type=float,
                    help="stated network: latency of one ring step in us (an all-reduce over n ranks "
                    "takes 2(n-1) of them)")
    ap.add_argument("--exposed-fraction", type=float,
                    help="with a stated network: exposed communication over all-reduce time "
                    "(default: the largest multi-rank run's, or 1)")
    a = ap.parse_args()
    global STATED
    if (a.busbw_gbps is None) != (a.hop_latency_us is None):
        sys.exit("--busbw-gbps and --hop-latency-us state the network together: give both")
    if a.busbw_gbps is not None:
        if a.busbw_gbps <= 0 or a.hop_latency_us < 0:
            sys.exit("--busbw-gbps must be positive and --hop-latency-us not negative")
        STATED = {"busbw": a.busbw_gbps * 1e3, "hop_us": a.hop_latency_us,
                  "exposed": a.exposed_fraction}
    elif a.exposed_fraction is not None:
        sys.exit("--exposed-fraction goes with a stated network (--busbw-gbps, --hop-latency-us)")
    runs = sorted((read_run(f) for f in a.runs), key=lambda r: r["ranks"])
    # Weak scaling: the same batch per rank; strong: the same global batch.
    weak = {(r["model"], r["global_batch"] // r["ranks"]) for r in runs}
    strong = {(r["model"], r["global_batch"]) for r in runs}
    if len(weak) == 1:
        series = "weak"
    elif len(strong) == 1:
        series = "strong"
    else:
        sys.exit(f"runs differ in model or batch per rank: {sorted(weak)} (one weak-scaling "
                 "series, the same batch per rank, or one strong-scaling series, the same "
                 "global batch)")
    os.makedirs(a.out, exist_ok=True)
    base = runs[-1]
    one = runs[0] if runs[0]["ranks"] == 1 else None
    per_rank = base["global_batch"] // base["ranks"]

    def efficiency(r):
        # Against linear from the smallest run: weak, the same step time; strong, the step
        # time falling as 1/ranks. Without a 1-rank run, the largest run's compute stands in.
        ref = one or {"ranks": base["ranks"], "step_ms": base["compute_ms"]}
        if series == "weak":
            return ref["step_ms"] / r["step_ms"]
        return ref["step_ms"] * ref["ranks"] / (r["step_ms"] * r["ranks"])

    rows = []
    for r in runs:
        full = full_comm_ms(r)
        rows.append({"ranks": r["ranks"], "device": r["device"], "backend": r["backend"],
                     "batch_per_rank": r["global_batch"] // r["ranks"], **{k: r[k] for k in PHASES},
                     "comm_full_ms": full, "exposed_over_allreduce": exposure(r),
                     "images_per_s": r["images_per_s"],
                     "efficiency": efficiency(r)})
    write_csv(os.path.join(a.out, "scaling.csv"), rows)
    with open(os.path.join(a.out, "allreduce.csv"), "w") as f:
        # nccl-tests' definitions: algbw = bytes / time, busbw = algbw x 2(n-1)/n.
        f.write("ranks,bytes,time_us,algbw_GBps,busbw_GBps\n")
        for r in runs:
            n = r["ranks"]
            for b, t in sorted(r["curve"].items()):
                f.write(f"{n},{b},{t:.3f},{b / t / 1e3:.4f},{b * 2 * (n - 1) / n / t / 1e3:.4f}\n")

    proj, stop = [], {}
    if STATED and not base["messages"]:
        sys.exit(f"{base['folder']}: its log lists no gradient messages to project")
    if base["ranks"] > 1 or STATED:
        n = 1
        while n <= a.project_to:
            for mode, scale in (("weak", 1.0), ("strong", base["ranks"] / n)):
                if mode == "strong" and base["global_batch"] < n:
                    continue  # fewer than one image per rank
                p = project(base, n, scale)
                images = (per_rank * n if mode == "weak" else base["global_batch"])
                eff = (base["compute_ms"] * scale) / p["step_ms"]
                row = {"mode": mode, "ranks": n, "batch_per_rank": per_rank * scale,
                       **{k: round(v, 4) for k, v in p.items()},
                       "images_per_s": 1e3 * images / p["step_ms"], "efficiency": eff,
                       "measured": int(any(r["ranks"] == n for r in runs)), "bound": bound(p)}
                proj.append(row)
                if eff < a.min_efficiency and mode not in stop:
                    stop[mode] = row
            n *= 2
        write_csv(os.path.join(a.out, "projection.csv"), proj)
    plot(a.out, rows, proj, base)
    report(a.out, runs, rows, proj, stop, base, a.min_efficiency, series)
    print(open(os.path.join(a.out, "report.md")).read())


def write_csv(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.4g}" if isinstance(v, float) else v) for k, v in r.items()})


def plot(out, rows, proj, base):
    try:
        import matplotlib
    except ImportError:  # e.g. a GPU machine's torch environment: the CSVs and report.md stand
        print("report.py: no matplotlib here: scaling.png not written", file=sys.stderr)
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    ns = [r["ranks"] for r in rows]
    ax.plot(ns, [r["images_per_s"] for r in rows], "o-", label="measured")
    for mode, style in (("weak", "--"), ("strong", ":")):
        sel = [p for p in proj if p["mode"] == mode]
        if sel:
            ax.plot([p["ranks"] for p in sel], [p["images_per_s"] for p in sel], style,
                    label=f"projected, {mode} scaling")
    if proj:
        weak = [p for p in proj if p["mode"] == "weak"]
        ax.plot([p["ranks"] for p in weak],
                [weak[0]["images_per_s"] * p["ranks"] for p in weak], color="gray", lw=0.7,
                label="linear")
    ax.set(xscale="log", yscale="log", xlabel="ranks", ylabel="images/s",
           title=f"{base['model']}, {base['device']} / {base['backend']}")
    ax.set_xscale("log", base=2)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    bottom = [0.0] * len(rows)
    for k in ("data_ms", "forward_ms", "backward_ms", "optimizer_ms", "comm_ms"):
        vals = [max(0.0, r[k]) for r in rows]
        bx.bar([str(n) for n in ns], vals, bottom=bottom, label=k[:-3] if k != "comm_ms" else "exposed comm")
        bottom = [b + v for b, v in zip(bottom, vals)]
    bx.set(xlabel="ranks (measured)", ylabel="ms per step (median)", title="where a step's time goes")
    bx.legend(fontsize=8)
    # Where the figures come from, on the plot itself: what was measured, and what the
    # projection beyond it assumes.
    beyond = (f"a stated network (busbw {STATED['busbw'] / 1e3:g} GB/s, {STATED['hop_us']:g} us "
              "per ring step)" if STATED else
              f"the {base['ranks']}-rank run's own all-reduce curve ({base['backend']})")
    fig.suptitle(f"Measured: {', '.join(str(n) for n in ns)} rank(s) on {base['device']} with "
                 f"{base['backend']}; projected beyond with {beyond}", fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(out, "scaling.png"), dpi=110)


def report(out, runs, rows, proj, stop, base, min_eff, series):
    what = (f"{base['global_batch'] // base['ranks']} images per rank" if series == "weak"
            else f"global batch {base['global_batch']}")
    L = [f"# Scaling report: {base['model']}, {what} ({series} scaling, measured)",
         "", f"Device {base['device']}, backend {base['backend']}, runs: "
         + ", ".join(r["folder"] for r in runs) + ".", "",
         "| ranks | step ms | forward | backward | optimizer | exposed comm | all-reduces if not hidden | images/s | efficiency |",
         "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        L.append(f"| {r['ranks']} | {r['step_ms']:.1f} | {r['forward_ms']:.1f} | {r['backward_ms']:.1f} | "
                 f"{r['optimizer_ms']:.1f} | {r['comm_ms']:.1f} | {r['comm_full_ms']:.1f} | "
                 f"{r['images_per_s']:.0f} | {r['efficiency']:.2f} |")
    L += ["", "Efficiency against linear scaling from the 1-rank run (without one, from the largest "
          "run's compute time): 1.0 is linear."]
    if proj:
        hop, busbw = ring_model(base)
        msgs = ", ".join(f"{b / 1e6:.2f} MB x {c:g}" for b, c in base["messages"])
        if STATED:
            net = (f"**stated, not measured**: busbw {busbw / 1e3:.2f} GB/s, {hop:.1f} us per ring "
                   f"step; exposed communication / all-reduce time {exposure(base):.2f} "
                   + ("(stated)" if STATED["exposed"] is not None or base["ranks"] == 1 else "(measured)"))
        else:
            net = (f"busbw {busbw / 1e3:.2f} GB/s, latency {hop * 2 * (base['ranks'] - 1):.0f} us, "
                   f"exposed communication / all-reduce time {exposure(base):.2f} (below 1: overlap "
                   "hid part of it; above 1: the step also waited on skew between ranks and buffer "
                   "broadcasts)")
        L += ["", "## Projection", "",
              f"Inputs measured at {base['ranks']} rank(s): compute {base['compute_ms']:.1f} ms per step, "
              f"gradient all-reduces per step {msgs}. Network: {net}.", ""]
        for mode in ("weak", "strong"):
            if mode in stop:
                s = stop[mode]
                L.append(f"- {mode} scaling: adding ranks stops paying at about **{s['ranks']} ranks** "
                         f"(efficiency {s['efficiency']:.2f} < {min_eff}), bound by **{s['bound']}**.")
            else:
                last = [p for p in proj if p["mode"] == mode][-1]
                L.append(f"- {mode} scaling: efficiency stays above {min_eff} up to {last['ranks']} ranks "
                         f"({last['efficiency']:.2f}; the step is then mostly {last['bound']}).")
        L += ["", "The projection's limits: busbw and latency are the largest run's, or the stated ones (a ring's busbw holds "
              "as ranks grow on the same fabric; crossing into a slower network, e.g. from NVLink to "
              "InfiniBand, does not), the ratio of exposed communication to all-reduce time is assumed to stay, and strong scaling assumes "
              "compute linear in the per-rank batch (small batches use a GPU less well)."]
    with open(os.path.join(out, "report.md"), "w") as f:
        f.write("\n".join(L) + "\n")


if __name__ == "__main__":
    main()
