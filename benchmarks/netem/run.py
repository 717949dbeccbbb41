#!/usr/bin/python3
"""Does the cost model predict step time across real links? Ranks on pretend hosts (network
namespaces on a bridge, scripts/netns-cluster.sh), each host's link shaped by tc's token
bucket (tbf) to 1, 5, 10 and 25 Gbit/s and left unshaped. At each setting, measured in that
setting only:
  - the round trip (TCP ping-pong between two hosts) and the link's TCP throughput;
  - gan_dist DCGAN steps across the hosts under gan_launch hosts, overlap off and on, with
    --comm-curve: step time, its compute part, exposed communication, the gradient messages
    sent per step, and the job's own all-reduce curve at those sizes (allreduce.csv);
  - bench_allreduce's overlap table: the share of an all-reduce that running it beside
    compute hides, for busy CPUs and for idle ones (a compute stand-in that sleeps);
  - bench_overlap (part `buckets`): a stand-in backward through the real Reducer, 16 MB of
    gradients in 16 layers whose backward sleeps (idle CPU) or computes (busy CPU) as long as
    the all-reduce alone takes: backward and exposed communication with overlap off and on
    and bucket caps of 1, 4, 8 and 16 MB (16, 4, 2 and 1 buckets).
Predicted step = compute + the messages' all-reduce times from the run's own curve
(benchmarks/scaling/report.py's model); with overlap on, less the share the overlap table
gives for busy CPUs (at most the backward time). With several host counts, the largest is
also predicted from the smallest one's curve by the report's ring model (column
predicted_from_fewer_ms), which is what the scaling report does beyond the measured sizes.
Writes benchmarks/results/netem/{netem.csv, netem.png, overlap.csv} (part `train`) and
{buckets.csv, buckets.png} (part `buckets`).

Everything here is CPU and TCP on one 2-core machine: ranks on all hosts share its cores, so
more ranks than cores are oversubscribed (marked so), and compute times come from that.
  /usr/bin/python3 benchmarks/netem/run.py [--build DIR] [--hosts 2 4] [--rates 0 1 5 10 25]
                              [--parts train buckets] [--bucket-mb 25 ...] [--out DIR]
"""
import argparse
import csv
import itertools
import json
import os
import re
import shlex
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scaling"))
import report  # noqa: E402  (the scaling report's cost model)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "benchmarks", "results", "netem")
CLUSTER = os.path.join(ROOT, "scripts", "netns-cluster.sh")
AGENT = os.path.join(ROOT, "scripts", "netns-rsh-agent.sh")
PREFIX, NET = "gnb", "10.78.9"


def sh(argv, **kw):
    print("+", " ".join(shlex.quote(str(a)) for a in argv), flush=True)
    r = subprocess.run([str(a) for a in argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, **kw)
    if r.returncode != 0:
        print(r.stdout[-4000:])
        sys.exit(f"failed ({r.returncode})")
    return r.stdout


def on_first_host(argv):
    """argv run inside host 1 with its own host name, as a command on a cluster's first node.

    Binding must be off: the pretend hosts share this machine's cores, and mpirun on each
    would bind its first rank to "its" core 0, the same core for every host (ranks then take
    turns at the scheduler's time slice: all-reduces measured in multiples of ~8 ms). Plain
    mpirun below is given --bind-to none; gan_launch hosts finds in its probe that the hosts
    share one kernel and leaves the ranks unbound itself."""
    cmd = " ".join(shlex.quote(str(a)) for a in argv)
    return ["ip", "netns", "exec", f"{PREFIX}-h1", "unshare", "--uts", "/bin/sh", "-c",
            f"hostname {PREFIX}-h1 && exec {cmd}"]


def mpirun_hosts(n, argv):
    hosts = ",".join(f"{PREFIX}-h{k}" for k in range(1, n + 1))
    return on_first_host(["mpirun", "--allow-run-as-root", "-np", n, "--host", hosts,
                          "--mca", "plm_rsh_agent", AGENT, "--mca", "btl", "tcp,self",
                          "--mca", "btl_tcp_if_include", f"{NET}.0/24",
                          "--mca", "oob_tcp_if_include", f"{NET}.0/24", "--bind-to", "none",
                          "-x", "OMP_NUM_THREADS=1", "-x", "OPENBLAS_NUM_THREADS=1"] + argv)


def hidden_share(overlap_rows, size, compute="cpu"):
    """Share of an all-reduce hidden behind compute (progress thread on) at the nearest size."""
    rows = [r for r in overlap_rows if r["compute"] == compute]
    if not rows:
        return 0.0
    best = min(rows, key=lambda r: abs(int(r["bytes"]) - size))
    return max(0.0, min(1.0, float(best["hidden_on"])))


def train(build, data, n, overlap, bucket_mb, out, steps):
    hostfile = os.path.join(out + ".hosts")
    with open(hostfile, "w") as f:
        f.write("".join(f"{PREFIX}-h{k} slots=1\n" for k in range(1, n + 1)))
    sh(on_first_host([os.path.join(build, "bin", "gan_launch"), "hosts", "--hostfile",
                      hostfile, "-n", n, "--net", f"{NET}.0/24", "--rsh-agent", AGENT, "--",
                      os.path.join(build, "bin", "gan_dist"), "--model", "dcgan", "--data",
                      data, "--out", out, "--steps", steps, "--batch-size", 32 * n,
                      "--log-every", 5, "--sample-every", 0, "--tensorboard", "false",
                      "--threads", 1, "--overlap", overlap, "--bucket-mb", bucket_mb,
                      "--replica-check-every", 0,
                      "--comm-curve"]))
    return report.read_run(out)


def main():
    global OUT
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--data", default=None, help="shards (default: BUILD/testdata/fm10k)")
    ap.add_argument("--hosts", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--rates", type=float, nargs="+", default=[0, 1, 5, 10, 25])
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--parts", nargs="+", choices=["train", "buckets"], default=["train", "buckets"])
    ap.add_argument("--bucket-mb", type=float, nargs="+", default=[25],
                    help="gan_dist's --bucket-mb for the training runs (each with overlap off and on)")
    ap.add_argument("--out", default=OUT, help="where the CSV and PNG files go")
    a = ap.parse_args()
    OUT = a.out
    data = a.data or os.path.join(a.build, "testdata", "fm10k")
    if os.geteuid() != 0:
        sys.exit("needs root (network namespaces and tc)")
    os.makedirs(OUT, exist_ok=True)
    runs_dir = os.path.join(ROOT, "runs", "netem")
    os.makedirs(runs_dir, exist_ok=True)
    cores = os.cpu_count()
    results, overlap_rows, bucket_rows, measured = [], [], [], {}
    for n in sorted(a.hosts):
        sh([CLUSTER, "down", PREFIX])
        sh([CLUSTER, "up", n, PREFIX, NET])
        try:
            for rate in a.rates:
                sh([CLUSTER, "shape", rate, PREFIX])
                link = dict(l.split() for l in sh([CLUSTER, "check", PREFIX]).splitlines()
                            if re.match(r"^(rtt_us|gbit) ", l))
                tag = f"h{n}_r{rate:g}"
                link_cols = {"hosts": n, "bandwidth_gbit": rate if rate > 0 else "unshaped",
                             "latency_us": float(link["rtt_us"]),
                             "link_gbit_measured": float(link["gbit"])}
                if "buckets" in a.parts:
                    b_csv = os.path.join(runs_dir, f"buckets_{tag}.csv")
                    sh(mpirun_hosts(n, [os.path.join(a.build, "benchmarks", "bench_overlap"),
                                        b_csv, 16, 16, 1.0]))
                    bucket_rows += [dict(r, **link_cols) for r in csv.DictReader(open(b_csv))]
                if "train" not in a.parts:
                    continue
                ar_csv = os.path.join(runs_dir, f"allreduce_{tag}.csv")
                ov_csv = os.path.join(runs_dir, f"overlap_{tag}.csv")
                sh(mpirun_hosts(n, [os.path.join(a.build, "benchmarks", "bench_allreduce"),
                                    ar_csv, ov_csv, 16]))
                ov = list(csv.DictReader(open(ov_csv)))
                overlap_rows += [dict(r, hosts=n, bandwidth_gbit=rate) for r in ov]
                for bucket, overlap in ((b, o) for b in a.bucket_mb for o in ("false", "true")):
                    out = os.path.join(runs_dir, f"{tag}_b{bucket:g}_{overlap}")
                    sh(["rm", "-rf", out])
                    run = train(a.build, data, n, overlap, bucket, out, a.steps)
                    measured[(n, rate, bucket, overlap)] = run
                    full = report.full_comm_ms(run)
                    hidden = 0.0
                    if overlap == "true":
                        hidden = min(run["backward_ms"],
                                     sum(c * report.curve_time_us(run["curve"], b) *
                                         hidden_share(ov, b) for b, c in run["messages"]) / 1e3)
                    pred = run["compute_ms"] + full - hidden
                    row = {"ranks": n, "bandwidth_gbit": rate if rate > 0 else "unshaped",
                           "latency_us": float(link["rtt_us"]),
                           "link_gbit_measured": float(link["gbit"]), "bucket_mb": bucket,
                           "overlap": overlap,
                           "oversubscribed": int(n > cores), "compute_ms": run["compute_ms"],
                           "comm_exposed_ms": run["comm_ms"], "comm_predicted_ms": full - hidden,
                           "predicted_ms": pred, "measured_ms": run["step_ms"],
                           "error_pct": 100.0 * (pred - run["step_ms"]) / run["step_ms"],
                           "predicted_from_fewer_ms": "", "error_from_fewer_pct": ""}
                    fewer = [m for m in sorted(a.hosts) if m < n]
                    if fewer and (fewer[0], rate, bucket, overlap) in measured:
                        # The ring model from the smaller job's curve, this job's compute.
                        base = dict(measured[(fewer[0], rate, bucket, overlap)])
                        p = report.project(base, n)
                        pf = run["compute_ms"] + (p["step_ms"] - p["compute_ms"])
                        row["predicted_from_fewer_ms"] = pf
                        row["error_from_fewer_pct"] = 100.0 * (pf - run["step_ms"]) / run["step_ms"]
                    results.append(row)
                    print(json.dumps(row), flush=True)
        finally:
            sh([CLUSTER, "down", PREFIX])

    import matplotlib
    matplotlib.use("Agg")
    if "train" in a.parts:
        report.write_csv(os.path.join(OUT, "netem.csv"), results)
        report.write_csv(os.path.join(OUT, "overlap.csv"), overlap_rows)
        plot_train(results, overlap_rows, sorted(a.hosts))
        print(f"wrote {OUT}/netem.csv, overlap.csv, netem.png")
    if "buckets" in a.parts:
        report.write_csv(os.path.join(OUT, "buckets.csv"), bucket_rows)
        plot_buckets(bucket_rows)
        print(f"wrote {OUT}/buckets.csv, buckets.png")


def plot_train(results, overlap_rows, hosts):
    import matplotlib.pyplot as plt
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(12, 4.5))
    colors = {"false": "tab:blue", "true": "tab:orange"}
    buckets = sorted({r["bucket_mb"] for r in results})
    for n, overlap, bucket in itertools.product(hosts, colors, buckets):
        sel = [r for r in results if r["ranks"] == n and r["overlap"] == overlap and
               r["bucket_mb"] == bucket]
        x = [r["link_gbit_measured"] for r in sel]
        style = "os^vD"[buckets.index(bucket) % 5] + ("-" if n == min(hosts) else "-.")
        what = f"{n} ranks, {bucket:g} MB buckets, overlap {overlap}"
        ax.plot(x, [r["measured_ms"] for r in sel], style, color=colors[overlap],
                label=f"{what}: measured")
        ax.plot(x, [r["predicted_ms"] for r in sel], "x:", color=colors[overlap],
                label=f"{what}: predicted")
    ax.set_xscale("log")
    ax.set_xlabel("link throughput measured by TCP, Gbit/s (tbf 1, 5, 10, 25; unshaped)")
    ax.set_ylabel("DCGAN step, ms (median)")
    ax.set_title("Predicted vs measured step time (CPU ranks, TCP, namespaces, 2 cores)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    for kind, style in (("cpu", "o-"), ("idle", "s--")):
        for n in hosts:
            sel = [r for r in overlap_rows if r["compute"] == kind and r["hosts"] == n and
                   float(r["bandwidth_gbit"]) == 1.0]
            if sel:
                bx.plot([int(r["bytes"]) for r in sel], [float(r["hidden_on"]) for r in sel], style,
                        label=f"{n} ranks, {kind} CPU, 1 Gbit/s")
    bx.axhline(0, color="gray", lw=0.5)
    bx.set(xscale="log", xlabel="all-reduce bytes", ylabel="share hidden behind compute",
           ylim=(-0.5, 1.05), title="Overlap (progress thread on): busy vs idle CPUs")
    bx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "netem.png"), dpi=110)


def plot_buckets(rows):
    """Exposed communication and step time against the bucket cap, at the slowest link."""
    import matplotlib.pyplot as plt
    shaped = sorted({float(r["bandwidth_gbit"]) for r in rows if r["bandwidth_gbit"] != "unshaped"})
    if not shaped:
        return
    rate = shaped[0]
    hosts = sorted({int(r["hosts"]) for r in rows})
    fig, axes = plt.subplots(1, len(hosts), figsize=(6 * len(hosts), 4.5), squeeze=False)
    for ax, n in zip(axes[0], hosts):
        for kind, color in (("idle", "tab:green"), ("cpu", "tab:red")):
            for overlap, style in (("off", "o--"), ("on", "s-")):
                sel = [r for r in rows if int(r["hosts"]) == n and r["compute"] == kind and
                       r["overlap"] == overlap and r["bandwidth_gbit"] != "unshaped" and
                       float(r["bandwidth_gbit"]) == rate]
                x = list(range(len(sel)))
                ax.plot(x, [float(r["exposed_ms"]) for r in sel], style, color=color,
                        label=f"{kind} CPU, overlap {overlap}: exposed")
                med = [float(r["step_ms"]) for r in sel]
                spread = [[m - float(r["step_q1_ms"]) for m, r in zip(med, sel)],
                          [float(r["step_q3_ms"]) - m for m, r in zip(med, sel)]]
                ax.errorbar(x, med, yerr=spread, fmt=style, color=color, alpha=0.35, capsize=3,
                            label=f"{kind} CPU, overlap {overlap}: backward + exposed (q1-q3)")
                ax.set_xticks(x, [f"{r['bucket_mb']} ({r['buckets']})" for r in sel])
        over = " (oversubscribed)" if n > (os.cpu_count() or 1) else ""
        ax.set(xlabel="bucket cap, MB (buckets; the first bucket capped alike)",
               ylabel="ms (median, slowest rank)",
               title=f"{n} hosts{over}, links shaped to {rate:g} Gbit/s")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle("bench_overlap: 16 MB of gradients in 16 layers, a stand-in backward as long as "
                 "the all-reduce; CPU ranks over TCP in network namespaces on one 2-core machine",
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(os.path.join(OUT, "buckets.png"), dpi=110)


if __name__ == "__main__":
    main()
