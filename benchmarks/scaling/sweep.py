#!/usr/bin/python3
"""A scaling benchmark in one command, on the machines you train on: gan_dist once per world
size under gan_launch (local, hosts or slurm), then the scaling report (report.py).

    /usr/bin/python3 benchmarks/scaling/sweep.py --ranks 1,2,4,8 --per-rank-batch 32 \\
        --out bench/dcgan --launch local -- gan_dist --model dcgan --data data/fm
    ... --launch hosts --launch-args '--hostfile hosts.txt --net 10.1.0.0/24' -- gan_dist ...
    ... --launch slurm --ranks-per-node 4 \\
        --launch-args '--partition gpu --gpus-per-node 4 --time 00:20:00' \\
        -- gan_dist --model dcgan --data /shared/fm --device cuda

World size n runs in OUT/np<n> (gan_dist's --out) with --batch-size per-rank-batch x n (weak
scaling) or --global-batch (strong scaling), --steps, --comm-curve and --sample-every 0 added
to the command; the command must not set those itself. Given both --per-rank-batch and
--global-batch, the sweep measures both series, one after the other: OUT/weak/np<n> and
OUT/weak/report/, then OUT/strong/np<n> and OUT/strong/report/. local and hosts run one job after the
other (`-n n`); slurm submits one job per world size (`--nodes ceil(n/R) --ntasks-per-node
min(n, R)`, R = --ranks-per-node), one at a time so that runs do not share nodes, and waits
for each through `gan_launch status`. A world size whose run folder already holds final.json
is not run again (delete it to measure again); one that holds an unfinished run stops the
sweep before anything runs (exit 2). Then report.py reads every run folder and
writes OUT/report/ (scaling.csv, projection.csv, allreduce.csv, scaling.png, report.md);
--report-args are passed on (e.g. a stated network: '--busbw-gbps 20 --hop-latency-us 5').

Exit codes: 0 done; 2 a bad option (named); otherwise the failing job's own code (gan_launch's
or gan_dist's), with the world size and the run folder named.
"""
import argparse
import json
import math
import os
import shlex
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
# The options the sweep sets per world size; the command must leave them to it.
SET_BY_SWEEP = ("--out", "--batch-size", "--steps", "--comm-curve", "--sample-every")
# States of a job that has not ended yet: squeue's long names, and what `gan_launch status`
# reads from the run folder when Slurm does not answer (UNKNOWN: nothing written yet;
# RESTARTING: the job script restarts gan_dist after a failure).
ACTIVE = {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD",
          "REQUEUE_FED", "RESIZING", "SUSPENDED", "SIGNALING", "STAGE_OUT", "UNKNOWN",
          "RESTARTING"}


def fail(code, message):
    print(f"sweep: error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def parse_args(argv):
    if "--" not in argv:
        fail(2, "give the training command after --: ... -- gan_dist --model M --data DIR")
    cut = argv.index("--")
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ranks", required=True, help="world sizes, e.g. 1,2,4,8")
    ap.add_argument("--per-rank-batch", type=int, help="weak scaling: images per rank")
    ap.add_argument("--global-batch", type=int,
                    help="strong scaling: images per step (with --per-rank-batch: both series)")
    ap.add_argument("--steps", type=int, default=60, help="steps per run (default 60)")
    ap.add_argument("--out", required=True, help="folder of the runs and the report")
    ap.add_argument("--launch", choices=("local", "hosts", "slurm"), default="local")
    ap.add_argument("--launch-args", default="", help="more gan_launch options, one string")
    ap.add_argument("--ranks-per-node", type=int, help="slurm: ranks (GPUs) per node")
    ap.add_argument("--gan-launch", default=os.environ.get("GAN_LAUNCH_BIN", "gan_launch"),
                    help="the gan_launch program (default: $GAN_LAUNCH_BIN or gan_launch)")
    ap.add_argument("--poll-s", type=float, default=5.0,
                    help="slurm: seconds between two looks at a job's state (default 5)")
    ap.add_argument("--max-wait-h", type=float, default=24.0,
                    help="slurm: hours a job may take, queueing included, before the sweep "
                    "gives up on it (default 24)")
    ap.add_argument("--report-args", default="", help="options passed on to report.py")
    a = ap.parse_args(argv[:cut])
    a.command = argv[cut + 1:]
    if a.per_rank_batch is None and a.global_batch is None:
        fail(2, "give --per-rank-batch (weak scaling), --global-batch (strong) or both")
    try:
        a.ranks = sorted({int(x) for x in a.ranks.split(",")})
    except ValueError:
        fail(2, f"--ranks {a.ranks}: give whole numbers separated by commas, e.g. 1,2,4")
    if not a.ranks or a.ranks[0] < 1:
        fail(2, "--ranks: world sizes must be at least 1")
    for name in ("per_rank_batch", "global_batch", "steps", "ranks_per_node"):
        v = getattr(a, name)
        if v is not None and v < 1:
            fail(2, f"--{name.replace('_', '-')} must be at least 1, not {v}")
    if a.global_batch is not None:
        odd = [n for n in a.ranks if a.global_batch % n]
        if odd:
            fail(2, f"--global-batch {a.global_batch} does not split evenly over {odd} rank(s)")
    if a.launch == "slurm":
        if a.ranks_per_node is None:
            fail(2, "--launch slurm needs --ranks-per-node (ranks, or GPUs, per node)")
        odd = [n for n in a.ranks if n > a.ranks_per_node and n % a.ranks_per_node]
        if odd:
            fail(2, f"world sizes {odd} are not whole nodes of --ranks-per-node {a.ranks_per_node}")
    if not a.command or os.path.basename(a.command[0]) != "gan_dist":
        fail(2, "the command after -- must start with gan_dist")
    taken = [o for o in SET_BY_SWEEP if any(w == o or w.startswith(o + "=") for w in a.command)]
    if taken:
        fail(2, f"the command sets {', '.join(taken)}: the sweep sets them for each world size")
    return a


def job_argv(a, n, out):
    """gan_launch's command line for world size n."""
    batch = a.per_rank_batch * n if a.per_rank_batch else a.global_batch
    dist = a.command + ["--batch-size", str(batch), "--steps", str(a.steps), "--comm-curve",
                        "--sample-every", "0"]
    extra = shlex.split(a.launch_args)
    if a.launch == "slurm":  # gan_launch slurm gives gan_dist --out from --run-dir
        nodes = math.ceil(n / a.ranks_per_node)
        per_node = min(n, a.ranks_per_node)
        where = ["--run-dir", out, "--nodes", str(nodes), "--ntasks-per-node", str(per_node)]
        return [a.gan_launch, "slurm"] + where + extra + ["--"] + dist
    return [a.gan_launch, a.launch, "-n", str(n)] + extra + ["--"] + dist + ["--out", out]


def slurm_state(a, out):
    p = subprocess.run([a.gan_launch, "status", out, "--json"], capture_output=True, text=True)
    if p.returncode != 0:
        fail(p.returncode, f"gan_launch status {out}: {p.stderr.strip()}")
    runs = json.loads(p.stdout)["runs"]
    return runs[0]["state"] if runs else "UNKNOWN"


def run_one(a, n, out):
    argv = job_argv(a, n, out)
    print(f"sweep: {n} rank(s): {shlex.join(argv)}", flush=True)
    p = subprocess.run(argv, stdout=subprocess.PIPE if a.launch == "slurm" else None, text=True)
    if p.returncode != 0:
        fail(p.returncode, f"{n} rank(s): gan_launch exited {p.returncode} (run folder {out})")
    if a.launch == "slurm":
        job = (p.stdout or "").strip().splitlines()
        print(f"sweep: {n} rank(s): job {job[-1] if job else '?'} submitted", flush=True)
        deadline = time.time() + a.max_wait_h * 3600
        state = slurm_state(a, out)
        while state in ACTIVE:
            if time.time() > deadline:
                fail(1, f"{n} rank(s): the job is still {state} after {a.max_wait_h} h "
                     f"(run folder {out}); the sweep stops waiting, the job is left alone")
            time.sleep(a.poll_s)
            state = slurm_state(a, out)
        if state != "COMPLETED":
            fail(1, f"{n} rank(s): the job ended {state} (run folder {out}, its slurm-*.out)")
    if not os.path.exists(os.path.join(out, "final.json")):
        fail(1, f"{n} rank(s): the run wrote no final.json (see {out}/log)")


def refuse_unfinished(a):
    """A world size whose folder holds a run that did not finish: its timings would be a
    resumed run's, so it is neither resumed nor overwritten; said before anything runs."""
    for n in a.ranks:
        out = os.path.join(a.out, f"np{n}")
        if os.path.isdir(out) and os.listdir(out) and \
                not os.path.exists(os.path.join(out, "final.json")):
            fail(2, f"{out} holds a run that did not finish: delete it to measure {n} rank(s) again")


def sweep(a):
    """One series (weak or strong) into a.out, then its report; returns report.py's exit code."""
    os.makedirs(a.out, exist_ok=True)
    folders = []
    for n in a.ranks:
        out = os.path.join(a.out, f"np{n}")
        if os.path.exists(os.path.join(out, "final.json")):
            print(f"sweep: {n} rank(s): {out} is finished, kept", flush=True)
        else:
            run_one(a, n, out)
        folders.append(out)
    report = [sys.executable, os.path.join(HERE, "report.py")] + folders + \
        ["--out", os.path.join(a.out, "report")] + shlex.split(a.report_args)
    print(f"sweep: {shlex.join(report)}", flush=True)
    return subprocess.run(report).returncode


def main():
    a = parse_args(sys.argv[1:])
    series = [a]
    if a.per_rank_batch is not None and a.global_batch is not None:
        series = [argparse.Namespace(**dict(vars(a), global_batch=None,
                                            out=os.path.join(a.out, "weak"))),
                  argparse.Namespace(**dict(vars(a), per_rank_batch=None,
                                            out=os.path.join(a.out, "strong")))]
    for s in series:
        refuse_unfinished(s)
    for s in series:
        rc = sweep(s)
        if rc != 0:
            sys.exit(rc)


if __name__ == "__main__":
    main()
