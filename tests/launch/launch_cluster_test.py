#!/usr/bin/python3
"""End-to-end tests of gan_launch with the real gan_dist on a real (local) Slurm cluster,
on local mpirun, and on two network-namespace hosts. One case per invocation:

    launch_cluster_test.py CASE      (CASE: prep, local, complete, complete_mpirun, sweep,
                                      requeue, kill_restart, bad_input, two_hosts,
                                      check_local, check_slurm, scaling_sweep_local,
                                      scaling_sweep_slurm)

Environment: GAN_LAUNCH_BIN, GAN_DIST_BIN, GAN_PREP_BIN, GAN_LAUNCH_SCRIPTS (repo scripts/),
GAN_LAUNCH_TEST_WORK (scratch folder), SLURM_CONF (from scripts/slurm-local.sh),
FASHION_MNIST_DIR. Exit 0 pass, 1 fail, 77 skip (a real part is missing).
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import time

SKIP = 77
WORK = os.path.abspath(os.environ.get("GAN_LAUNCH_TEST_WORK", "/tmp/gan_launch-test"))
DATA = os.path.join(WORK, "fashion-mnist")
LAUNCH = os.environ.get("GAN_LAUNCH_BIN", "gan_launch")
GAN_DIST = os.environ.get("GAN_DIST_BIN", "")
GAN_PREP = os.environ.get("GAN_PREP_BIN", "")
SCRIPTS = os.environ.get("GAN_LAUNCH_SCRIPTS", os.path.join(os.path.dirname(__file__), "../../scripts"))
FMNIST = os.environ.get("FASHION_MNIST_DIR", "/usr/share/datasets/fashion-mnist")
# gan_dist options of every tiny run: DCGAN-28 on Fashion-MNIST, one thread per rank.
EXTRA = os.environ.get("GAN_LAUNCH_TEST_DIST_ARGS", "").split()
# Runs that get interrupted must last long enough to be caught between checkpoints.
LONG_STEPS = int(os.environ.get("GAN_LAUNCH_TEST_LONG_STEPS", "60"))


class Skip(Exception):
    pass


def log(*a):
    print("[test]", *a, flush=True)


def check(cond, msg):
    if not cond:
        raise AssertionError(msg)


def need_gan_dist():
    if not GAN_DIST or not os.access(GAN_DIST, os.X_OK):
        raise Skip(f"real gan_dist not found (GAN_DIST_BIN='{GAN_DIST}')")
    if not os.path.exists(os.path.join(DATA, "manifest.json")):
        raise Skip(f"no Fashion-MNIST shards in {DATA} (the prep case makes them)")


def dist_args(steps, seed=7, batch=16, every=5):
    return [GAN_DIST, "--model", "dcgan", "--data", DATA, "--steps", str(steps),
            "--batch-size", str(batch), "--checkpoint-every", str(every), "--seed", str(seed),
            "--threads", "1", "--log-every", "1", "--sample-every", "0"] + EXTRA


def run(argv, timeout=120, **kw):
    log("$", " ".join(argv))
    p = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)
    return p.returncode, p.stdout, p.stderr


def fresh_dir(name):
    d = os.path.join(WORK, name)
    shutil.rmtree(d, ignore_errors=True)
    return d


def read_json(path):
    with open(path) as f:
        return json.load(f)


def progress(out):
    """Furthest step the run has shown: last metrics line or newest checkpoint."""
    s = metrics_steps(out) if os.path.exists(os.path.join(out, "metrics.jsonl")) else []
    return max(([s[-1]] if s else []) + [latest_checkpoint_step(out) or 0])


def metrics_steps(out):
    steps = []
    with open(os.path.join(out, "metrics.jsonl")) as f:
        for line in f:
            if line.strip():
                steps.append(json.loads(line)["step"])
    return steps


def latest_checkpoint_step(out):
    d = os.path.join(out, "checkpoints")
    if not os.path.isdir(d):
        return None
    best = None
    for name in os.listdir(d):
        meta = os.path.join(d, name, "meta.json")
        if name.startswith("step-") and os.path.exists(meta):
            try:
                step = read_json(meta)["step"]
            except (ValueError, KeyError):
                continue
            best = step if best is None else max(best, step)
    return best


def wait_for(pred, timeout, what):
    t0 = time.time()
    while time.time() - t0 < timeout:
        v = pred()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


# ---- Slurm helpers ---------------------------------------------------------------------

def need_slurm():
    if not os.environ.get("SLURM_CONF") or not shutil.which("squeue"):
        raise Skip("no local Slurm (run scripts/slurm-local.sh up and export SLURM_CONF)")
    rc, out, err = run(["sinfo", "-h", "-o", "%T"])
    if rc != 0:
        raise Skip(f"sinfo fails: {err.strip()}")


def submit(run_dir, launch_opts, dist):
    rc, out, err = run([LAUNCH, "slurm", "--run-dir", run_dir] + launch_opts + ["--"] + dist)
    check(rc == 0, f"gan_launch slurm failed ({rc}): {err}")
    job = out.strip().splitlines()[-1]
    check(re.fullmatch(r"\d+", job), f"gan_launch slurm printed '{out}', not a job id")
    log("submitted job", job)
    return job


def in_queue(job):
    rc, out, _ = run(["squeue", "-h", "-j", job, "-o", "%i %T"])
    return rc == 0 and out.strip() != ""


def wait_job(job, timeout):
    t0 = time.time()
    while in_queue(job):
        if time.time() - t0 > timeout:
            run(["scancel", job])
            raise AssertionError(f"job {job} still in the queue after {timeout}s")
        time.sleep(0.5)
    return time.time() - t0


def status(run_dir):
    rc, out, err = run([LAUNCH, "status", run_dir, "--json"])
    check(rc == 0, f"gan_launch status failed ({rc}): {err}")
    return json.loads(out)


def job_output(run_dir):
    text = ""
    for name in sorted(os.listdir(run_dir)):
        if name.startswith("slurm-") and name.endswith(".out"):
            with open(os.path.join(run_dir, name)) as f:
                text += f.read()
    return text


def known_jobs():
    """Every job id slurmctld knows (queued, running, or finished within MinJobAge)."""
    rc, out, _ = run(["scontrol", "show", "job", "-o"])
    return set(re.findall(r"JobId=(\d+)", out)) if rc == 0 else set()


def config_has(cfg, key, value):
    """True when a checkpoint's config (TOML/INI text or a JSON object) sets key to value."""
    if isinstance(cfg, dict):
        return any(k.replace("_", "-") == key and str(v) == value for k, v in cfg.items()) or \
            any(isinstance(v, dict) and config_has(v, key, value) for v in cfg.values())
    pattern = r'(^|\n)\s*%s\s*=\s*"?%s"?\s*(\n|$)' % (re.escape(key), re.escape(value))
    return re.search(pattern, str(cfg)) is not None


def assert_trained(out, steps, ranks):
    final = os.path.join(out, "final.json")
    check(os.path.exists(final), f"no final.json in {out}")
    f = read_json(final)
    check(f.get("step") == steps, f"final.json step {f.get('step')} != {steps}")
    check(f.get("digest_g") and f.get("digest_d"), f"final.json lacks digests: {f}")
    s = metrics_steps(out)  # one line per log interval, so it may stop short of `steps`
    check(s and 0 < s[-1] <= steps, f"metrics.jsonl ends at step {s[-1] if s else None} (run of {steps})")
    for r in range(ranks):
        check(os.path.exists(os.path.join(out, "log", f"rank-{r}.log")), f"no log/rank-{r}.log in {out}")
    return f


# ---- cases -----------------------------------------------------------------------------

def case_prep():
    if not GAN_PREP or not os.access(GAN_PREP, os.X_OK):
        raise Skip(f"real gan_prep not found (GAN_PREP_BIN='{GAN_PREP}')")
    if os.path.exists(os.path.join(DATA, "manifest.json")):
        log("shards already in", DATA)
        return
    os.makedirs(WORK, exist_ok=True)
    rc, out, err = run([GAN_PREP, "idx",
                        "--images", os.path.join(FMNIST, "train-images-idx3-ubyte.gz"),
                        "--labels", os.path.join(FMNIST, "train-labels-idx1-ubyte.gz"),
                        "--out", DATA], timeout=300)
    check(rc == 0, f"gan_prep failed ({rc}): {err}")
    check(os.path.exists(os.path.join(DATA, "manifest.json")), "gan_prep wrote no manifest.json")


def case_local():
    need_gan_dist()
    out = fresh_dir("local-run")
    rc, so, err = run([LAUNCH, "local", "-n", "2", "--"] + dist_args(8) + ["--out", out], timeout=300)
    check(rc == 0, f"gan_launch local exit {rc}: {err[-3000:]}")
    check("mpirun -np 2" in err, "gan_launch local did not report its mpirun line")
    assert_trained(out, 8, 2)
    # Missing data: gan_dist --check refuses the command before mpirun starts.
    bad = fresh_dir("local-bad-data")
    args = dist_args(2)
    args[args.index("--data") + 1] = os.path.join(WORK, "no-such-data")
    rc, so, err = run([LAUNCH, "local", "-n", "2", "--"] + args + ["--out", bad], timeout=120)
    check(rc == 2, f"missing data: gan_launch local exit {rc}, expected 2 from the check: {err}")
    check("no-such-data: no such folder" in err, f"missing data: message does not name --data: {err}")
    check("mpirun -np 2" not in err, "missing data: mpirun was started anyway")
    # Unchecked (--no-check), gan_launch becomes mpirun: gan_dist's own exit code comes back.
    rc, so, err = run([LAUNCH, "local", "-n", "2", "--no-check", "--"] + args + ["--out", bad],
                      timeout=120)
    check(rc == 2, f"missing data, --no-check: gan_launch local exit {rc}, expected gan_dist's 2")
    check("NOT checked" in err and "mpirun -np 2" in err, f"--no-check: no warning or no mpirun: {err}")
    check(not os.path.exists(os.path.join(bad, "final.json")), "a run without data wrote final.json")


def _complete(name, launcher):
    need_gan_dist()
    need_slurm()
    run_dir = fresh_dir(name)
    steps = 10
    job = submit(run_dir, ["--nodes", "1", "--ntasks-per-node", "2", "--launcher", launcher],
                 dist_args(steps))
    took = wait_job(job, 300)
    log(f"job {job} left the queue after {took:.1f}s")
    check(os.path.exists(os.path.join(run_dir, "job.sbatch")), "no job.sbatch in the run folder")
    assert_trained(run_dir, steps, 2)
    st = status(run_dir)
    r = st["runs"][0]
    check(st["job_id"] == job, f"status job id {st['job_id']} != {job}")
    check(r["state"] == "COMPLETED", f"status state {r['state']}, expected COMPLETED\n{job_output(run_dir)}")
    check(r["step"] == steps, f"status step {r['step']} != {steps}")
    check(r["checkpoint_step"] is not None and r["checkpoint_step"] <= steps,
          f"status checkpoint step {r['checkpoint_step']}")
    check(r["restarts"] == 0, f"status restarts {r['restarts']} != 0")


def case_complete():
    _complete("complete-srun", "srun")


def case_complete_mpirun():
    _complete("complete-mpirun", "mpirun")


def case_sweep():
    need_gan_dist()
    need_slurm()
    run_dir = fresh_dir("sweep")
    seeds = ["11", "12", "13"]
    dist = [a for a in dist_args(6)]
    i = dist.index("--seed")
    del dist[i:i + 2]  # the sweep sets it
    job = submit(run_dir, ["--nodes", "1", "--ntasks-per-node", "1", "--sweep", "seed=" + ",".join(seeds)], dist)
    wait_job(job, 300)
    st = status(run_dir)
    check(len(st["runs"]) == 3, f"status lists {len(st['runs'])} tasks, expected 3")
    digests = set()
    for idx, seed in enumerate(seeds):
        out = os.path.join(run_dir, f"task-{idx:03d}")
        check(os.path.isdir(out), f"no task folder {out}")
        task = read_json(os.path.join(out, "task.json"))
        check(task["options"] == {"seed": seed}, f"{out}/task.json options {task['options']}")
        f = assert_trained(out, 6, 1)
        digests.add((f["digest_g"], f["digest_d"]))
        r = st["runs"][idx]
        check(r["task"] == idx and r["state"] == "COMPLETED", f"task {idx} status {r}")
        logtext = open(os.path.join(run_dir, f"slurm-{job}_{idx}.out")).read()
        check(f"--seed {seed}" in logtext, f"task {idx} did not run with --seed {seed}")
        # the checkpoint's config records the option the task ran with
        ck = os.path.join(out, "checkpoints")
        metas = [os.path.join(ck, n, "meta.json") for n in os.listdir(ck)]
        cfg = read_json(metas[0]).get("config", {})
        check(config_has(cfg, "seed", seed), f"task {idx} checkpoint config lacks seed {seed}: {str(cfg)[:300]}")
    check(len(digests) == 3, f"three seeds gave {len(digests)} distinct final digests")


def case_requeue():
    need_gan_dist()
    need_slurm()
    steps = LONG_STEPS
    run_a = fresh_dir("requeue")
    run_b = fresh_dir("requeue-reference")
    opts = ["--nodes", "1", "--ntasks-per-node", "2"]
    job_a = submit(run_a, opts, dist_args(steps, every=10))
    wait_for(lambda: (latest_checkpoint_step(run_a) or 0) >= 1, 240, "a first checkpoint")
    running = status(run_a)["runs"][0]
    check(running["state"] == "RUNNING" and running["state_from"] == "slurm",
          f"status of a running job: {running}")
    check(running["step"] is not None and running["step"] >= 1 and running["checkpoint_step"] is not None,
          f"status of a running job shows no step/checkpoint: {running}")
    done = progress(run_a)
    check(done < steps - 3, f"run reached step {done} of {steps} before the requeue: too fast to interrupt")
    rc, _, err = run(["scontrol", "requeue", job_a])
    check(rc == 0, f"scontrol requeue failed: {err}")
    log(f"requeued job {job_a} at step {done}")
    # the reference run uses the node while the requeued job waits out cred_expire
    job_b = submit(run_b, opts, dist_args(steps, every=10))
    wait_job(job_b, 300)
    wait_job(job_a, 300)
    text = job_output(run_a)
    fa = assert_trained(run_a, steps, 2)
    fb = assert_trained(run_b, steps, 2)
    check("DUE TO JOB REQUEUE" in text or "requeued 1 time" in text, "job A shows no requeue:\n" + text[-3000:])
    check("--resume" in text, "the requeued job did not pass --resume:\n" + text[-3000:])
    st = status(run_a)["runs"][0]
    check(st["state"] == "COMPLETED", f"requeued job state {st['state']}")
    check(st["requeues"] == 1, f"status requeues {st['requeues']} != 1")
    check((fa["digest_g"], fa["digest_d"]) == (fb["digest_g"], fb["digest_d"]),
          f"requeued run's final digests {fa} differ from the uninterrupted run's {fb}")
    log("same final digests:", fa["digest_g"], fa["digest_d"])


def rank_pid(job, rank):
    """pid of gan_dist rank `rank` in the job's first step, from scontrol listpids."""
    rc, out, _ = run(["scontrol", "listpids", job])
    for line in out.splitlines()[1:]:
        f = line.split()
        if len(f) == 5 and f[2] == "0" and f[4] == str(rank):
            try:
                cmd = open(f"/proc/{f[0]}/cmdline").read()
            except OSError:
                continue
            if "gan_dist" in cmd:
                return int(f[0])
    return None


def case_kill_restart():
    need_gan_dist()
    need_slurm()
    steps = LONG_STEPS
    run_dir = fresh_dir("kill-restart")
    job = submit(run_dir, ["--nodes", "1", "--ntasks-per-node", "2", "--restarts", "2"],
                 dist_args(steps, every=10))
    wait_for(lambda: (latest_checkpoint_step(run_dir) or 0) >= 1, 240, "a first checkpoint")
    pid = wait_for(lambda: rank_pid(job, 1), 30, "rank 1's pid")
    at = progress(run_dir)
    check(at < steps - 3, f"run reached step {at} of {steps} before the kill: too fast")
    t_kill = time.time()
    os.kill(pid, 9)
    log(f"killed rank 1 (pid {pid}) at step {at}")
    wait_for(lambda: "restart 1 of 2" in job_output(run_dir), 60, "the job script to notice the failure")
    fail_s = time.time() - t_kill
    log(f"job step failed {fail_s:.1f}s after the kill")
    check(fail_s < 20, f"the step took {fail_s:.1f}s to fail after a rank was killed")
    wait_job(job, 300)
    text = job_output(run_dir)
    assert_trained(run_dir, steps, 2)
    after = text.split("restart 1 of 2", 1)[1]
    check("--resume" in after, "the restart did not resume from the checkpoint:\n" + text[-3000:])
    st = status(run_dir)["runs"][0]
    check(st["restarts"] == 1, f"status restarts {st['restarts']} != 1")
    check(st["state"] == "COMPLETED", f"state {st['state']}")
    compare_with_reference(run_dir)


def compare_with_reference(run_dir):
    """A resumed run must end where an uninterrupted one with the same options ends; the
    requeue case leaves such a run (same steps, seed, ranks) in requeue-reference/."""
    ref = os.path.join(WORK, "requeue-reference", "final.json")
    if not os.path.exists(ref):
        log("no uninterrupted reference run here; digest comparison left to the requeue case")
        return
    a, b = read_json(os.path.join(run_dir, "final.json")), read_json(ref)
    check((a["digest_g"], a["digest_d"]) == (b["digest_g"], b["digest_d"]),
          f"resumed run's digests {a} differ from the uninterrupted run's {b}")
    log("same final digests as the uninterrupted run")


def case_usr1_requeue_mpirun():
    """The time-limit warning path: Slurm's --signal=B:USR1 reaches the job script (sent here
    with scancel --signal=USR1 --batch, as slurmctld does), the script passes it through
    mpirun, gan_dist checkpoints and exits 75, the script requeues the job itself, and the
    requeued job resumes to the same final digests as an uninterrupted run."""
    need_gan_dist()
    need_slurm()
    steps = LONG_STEPS
    run_dir = fresh_dir("usr1-requeue-mpirun")
    opts = ["--nodes", "1", "--ntasks-per-node", "2", "--launcher", "mpirun"]
    job = submit(run_dir, opts, dist_args(steps, every=10))
    script = open(os.path.join(run_dir, "job.sbatch")).read()
    check("#SBATCH --signal=B:USR1@90" in script, "the script asks for no USR1 warning")
    wait_for(lambda: (latest_checkpoint_step(run_dir) or 0) >= 1, 240, "a first checkpoint")
    done = progress(run_dir)
    check(done < steps - 3, f"run reached step {done} of {steps} before the signal: too fast")
    rc, _, err = run(["scancel", "--signal=USR1", "--batch", job])
    check(rc == 0, f"scancel --signal=USR1 failed: {err}")
    log(f"sent USR1 to job {job}'s script at step {done}")
    wait_for(lambda: "requeueing job" in job_output(run_dir), 60, "the script to requeue the job")
    wait_job(job, 300)
    text = job_output(run_dir)
    assert_trained(run_dir, steps, 2)
    after = text.split("requeueing job", 1)[1]
    check("--resume" in after, "the requeued job did not resume:\n" + text[-3000:])
    st = status(run_dir)["runs"][0]
    check(st["requeues"] == 1 and st["state"] == "COMPLETED", f"status after USR1 requeue: {st}")
    compare_with_reference(run_dir)


def case_bad_input():
    need_slurm()
    need_gan_dist()  # the resource checks come after the command check
    dist = GAN_DIST
    before = known_jobs()
    cpus = max(int(x) for x in re.findall(r"CPUTot=(\d+)", run(["scontrol", "show", "node", "-o"])[1]))
    ro = os.path.join(WORK, "readonly")
    os.makedirs(ro, exist_ok=True)
    mounted = run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", ro])[0] == 0
    afile = os.path.join(WORK, "a-file")
    open(afile, "w").close()
    cases = [
        ("unknown partition", ["--partition", "no-such-part"], [dist], "unknown partition 'no-such-part'"),
        ("too many nodes", ["--nodes", "9"], [dist], "--nodes 9"),
        ("too many CPUs", ["--ntasks-per-node", str(cpus + 1)], [dist], "CPUs per node"),
        ("GPUs", ["--gpus-per-node", "1"], [dist], "--gpus-per-node 1"),
        ("not gan_dist", [], ["/bin/echo", "hi"], "must be gan_dist"),
        ("not gan_dist 2", [], ["python3", "train.py"], "must be gan_dist"),
        ("bad launcher", ["--launcher", "ssh"], [dist], "srun or mpirun"),
        ("--out given", [], [dist, "--out", "/tmp/x"], "--out"),
        ("unwritable run dir", [], [dist], "run folder"),
    ]
    try:
        for name, opts, cmd, want in cases:
            run_dir = fresh_dir("bad-" + name.replace(" ", "-"))
            if name == "unwritable run dir":
                run_dir = os.path.join(afile, "run")
            argv = [LAUNCH, "slurm", "--nodes", "1", "--run-dir", run_dir] + opts + ["--"] + cmd
            if "--nodes" in opts:
                argv = [LAUNCH, "slurm", "--run-dir", run_dir] + opts + ["--"] + cmd
            rc, out, err = run(argv)
            check(rc == 2, f"{name}: exit {rc}, expected 2 (stderr: {err.strip()})")
            check(want in err, f"{name}: message '{err.strip()}' does not name '{want}'")
            check(not os.path.exists(os.path.join(run_dir, "job.sbatch")), f"{name}: a script was written")
            log(f"ok: {name}: {err.strip()}")
        if mounted:
            rc, out, err = run([LAUNCH, "slurm", "--nodes", "1", "--run-dir", os.path.join(ro, "run"), "--", dist])
            check(rc == 2 and "run folder" in err, f"read-only run folder: exit {rc}: {err.strip()}")
            log(f"ok: read-only file system: {err.strip()}")
        after = known_jobs()
        check(after == before, f"new jobs appeared: {sorted(after - before)}")
        check(not in_queue_any(after - before), "bad input reached the queue")
    finally:
        if mounted:
            run(["umount", ro])


# ---- gan_dist --check before anything starts ---------------------------------------------

def path_env():
    """The environment with the real gan_dist first in PATH, so a command can say `gan_dist`
    the way a user types it."""
    env = dict(os.environ)
    env["PATH"] = os.path.dirname(os.path.abspath(GAN_DIST)) + ":" + env.get("PATH", "")
    return env


def unrunnable_gan_dist():
    """A gan_dist that cannot start on this host (its interpreter is missing), as a binary
    without its libraries behaves on a login node."""
    d = fresh_dir("unrunnable-bin")
    os.makedirs(d)
    exe = os.path.join(d, "gan_dist")
    with open(exe, "w") as f:
        f.write("#!/nonexistent/interpreter\n")
    os.chmod(exe, 0o755)
    return exe


def refused(name, argv, code, wants, env=None):
    rc, out, err = run(argv, env=env)
    check(rc == code, f"{name}: exit {rc}, expected {code} (stderr: {err.strip()})")
    for w in wants:
        check(w in err, f"{name}: message does not name '{w}':\n{err.strip()}")
    log(f"ok: {name}: {err.strip()}")
    return out, err


def case_check_local():
    """local and hosts: every command is checked by gan_dist --check before mpirun starts."""
    need_gan_dist()
    env = path_env()
    out_dir = fresh_dir("check-local")
    issue = ["gan_dist", "--model", "nosuch", "--data", "/nonexistent", "--batch-size", "7"]
    so, _ = refused("issue's command, local", [LAUNCH, "local", "-n", "2", "--dry-run", "--"] + issue,
                    2, ["refused the command", "--model: nosuch not in"], env)
    check("mpirun" not in so, f"a refused dry run printed its mpirun line: {so}")
    base = ["gan_dist", "--model", "dcgan", "--data", DATA, "--out", out_dir, "--steps", "2",
            "--batch-size", "16"]
    local = [LAUNCH, "local", "-n", "2", "--dry-run", "--"]
    refused("bad option value", local + base + ["--lr", "abc"], 2, ["--lr"], env)
    refused("batch over the ranks", local + base[:-1] + ["7"], 2,
            ["--batch-size 7 does not divide over 2 ranks"], env)
    data_arg = base.index("--data") + 1
    refused("missing data folder", local + base[:data_arg] + ["/nonexistent/fm"] + base[data_arg + 1:],
            2, ["--data /nonexistent/fm: no such folder"], env)
    empty = fresh_dir("check-local-empty-data")
    os.makedirs(empty)
    refused("folder without a manifest", local + base[:data_arg] + [empty] + base[data_arg + 1:],
            3, [os.path.join(empty, "manifest.json") + ": missing"], env)
    rc, so, err = run(local + base, env=env)
    check(rc == 0 and "mpirun -np 2" in so, f"a valid command: exit {rc}, printed {so!r}: {err}")
    check(not os.path.exists(out_dir), "the check or the dry run created --out")

    # hosts: the world size is -n; paths that exist only on the other hosts need --no-path-check.
    hostfile = os.path.join(WORK, "check-hostfile")
    with open(hostfile, "w") as f:
        f.write("localhost slots=4\n")
    hosts = [LAUNCH, "hosts", "--hostfile", hostfile, "-n", "4", "--no-probe", "--dry-run"]
    refused("hosts: batch over the ranks", hosts + ["--"] + base[:-1] + ["18"], 2,
            ["--batch-size 18 does not divide over 4 ranks"], env)
    remote = base[:data_arg] + ["/cluster/only/fm"] + base[data_arg + 1:]
    refused("hosts: remote data without --no-path-check", hosts + ["--"] + remote, 2,
            ["--data /cluster/only/fm: no such folder"], env)
    rc, so, err = run(hosts + ["--no-path-check", "--"] + remote, env=env)
    check(rc == 0 and "mpirun" in so, f"hosts --no-path-check: exit {rc}: {err}")
    check("not checked here: --data /cluster/only/fm" in err,
          f"hosts --no-path-check does not say what it left unchecked: {err}")
    refused("hosts: --no-path-check keeps the other rules", hosts + ["--no-path-check", "--"] + remote
            + ["--model", "nosuch"], 2, ["--model: nosuch not in"], env)

    # A gan_dist that cannot run here: not a verdict on the command (exit 4), --no-check named.
    broken = unrunnable_gan_dist()
    refused("gan_dist cannot run here", local + [broken] + base[1:], 4,
            ["cannot check the command", "--no-check"], env)
    rc, so, err = run([LAUNCH, "local", "-n", "2", "--dry-run", "--no-check", "--", broken] + base[1:], env=env)
    check(rc == 0 and "NOT checked" in err and broken in so, f"--no-check dry run: exit {rc}: {err}")


def case_check_slurm():
    """slurm: the issue's command, each rule, and --no-path-check; nothing written or queued."""
    need_slurm()
    need_gan_dist()
    env = path_env()
    before = known_jobs()
    run_dir = fresh_dir("check-slurm")
    slurm = [LAUNCH, "slurm", "--nodes", "1", "--ntasks-per-node", "2", "--run-dir", run_dir]
    issue = ["--sweep", "lr=0.0001,abc", "--", "gan_dist", "--model", "nosuch", "--data",
             "/nonexistent", "--batch-size", "7"]
    for mode in (["--dry-run"], []):  # a dry run, then a real submission
        refused(f"issue's command {mode}", slurm + mode + issue, 2,
                ["refused 2 of 2 task(s)", "task 0 (lr=0.0001): --model: nosuch not in",
                 "task 1 (lr=abc): --model: nosuch not in"], env)
        check(not os.path.exists(run_dir), f"a refused command left {run_dir} behind")

    base = ["gan_dist", "--model", "dcgan", "--data", DATA, "--steps", "2", "--batch-size", "16"]
    _, err = refused("only the bad sweep point", slurm + ["--dry-run", "--sweep", "lr=0.0001,abc", "--"]
                     + base, 2, ["refused 1 of 2 task(s)", "task 1 (lr=abc): --lr"], env)
    check("task 0" not in err, f"a good sweep point was named: {err}")
    # The world size is --nodes x --ntasks-per-node: a batch of 7 suits one rank, not two.
    odd = base[:-1] + ["7"]
    refused("batch over nodes x ranks per node", slurm + ["--dry-run", "--"] + odd, 2,
            ["--batch-size 7 does not divide over 2 ranks"], env)
    one_dir = fresh_dir("check-slurm-one-rank")
    rc, so, err = run([LAUNCH, "slurm", "--nodes", "1", "--ntasks-per-node", "1", "--run-dir", one_dir,
                       "--dry-run", "--"] + odd, env=env)
    check(rc == 0 and os.path.exists(os.path.join(one_dir, "job.sbatch")),
          f"batch 7 on one rank: exit {rc}: {err}")
    refused("missing data folder", slurm + ["--dry-run", "--"] + base[:4] + ["/nonexistent/fm"] + base[5:],
            2, ["--data /nonexistent/fm: no such folder"], env)
    check(not os.path.exists(run_dir), f"a refused command left {run_dir} behind")
    # An existing run folder is left as it was: no script, no task folders.
    os.makedirs(run_dir)
    open(os.path.join(run_dir, "keep"), "w").close()
    refused("existing run folder", slurm + ["--dry-run", "--sweep", "lr=0.0001,abc", "--"] + base,
            2, ["task 1 (lr=abc)"], env)
    check(sorted(os.listdir(run_dir)) == ["keep"], f"a refused command wrote into {run_dir}: {os.listdir(run_dir)}")

    # A valid sweep still dry-runs: script and task folders, nothing queued.
    ok_dir = fresh_dir("check-slurm-ok")
    rc, so, err = run([LAUNCH, "slurm", "--nodes", "1", "--ntasks-per-node", "2", "--run-dir", ok_dir,
                       "--dry-run", "--sweep", "lr=0.0001,0.0002", "--"] + base, env=env)
    check(rc == 0, f"a valid sweep: exit {rc}: {err}")
    check(os.path.exists(os.path.join(ok_dir, "job.sbatch")), "a valid sweep wrote no script")
    check(os.path.isdir(os.path.join(ok_dir, "task-001")), "a valid sweep made no task folders")

    # Paths that exist only on the nodes: --no-path-check checks the rest and says what it left out.
    remote_dir = fresh_dir("check-slurm-remote")
    remote = base[:4] + ["/cluster/only/fm"] + base[5:]
    rc, so, err = run([LAUNCH, "slurm", "--nodes", "1", "--ntasks-per-node", "2", "--run-dir", remote_dir,
                       "--dry-run", "--no-path-check", "--sweep", "seed=1,2", "--"] + remote, env=env)
    check(rc == 0, f"--no-path-check: exit {rc}: {err}")
    check("not checked here: --data /cluster/only/fm" in err, f"--no-path-check says nothing: {err}")
    script = open(os.path.join(remote_dir, "job.sbatch")).read()
    check("/cluster/only/fm" in script, "the script lacks the remote data path")
    refused("--no-path-check keeps the other rules", [LAUNCH, "slurm", "--nodes", "1", "--ntasks-per-node",
            "2", "--run-dir", fresh_dir("check-slurm-remote-bad"), "--dry-run", "--no-path-check",
            "--sweep", "seed=1,abc", "--"] + remote, 2, ["task 1 (seed=abc): Could not convert: --seed = abc"], env)

    # gan_dist that cannot run on the submit host: exit 4 naming --no-check, nothing written.
    broken = unrunnable_gan_dist()
    broken_dir = fresh_dir("check-slurm-broken")
    refused("gan_dist cannot run here", [LAUNCH, "slurm", "--nodes", "1", "--run-dir", broken_dir,
            "--dry-run", "--", broken, "--model", "dcgan"], 4, ["--no-check"], env)
    check(not os.path.exists(broken_dir), f"{broken_dir} was left behind")

    # Jobs of earlier tests may leave slurmctld's memory meanwhile (MinJobAge): only new ids count.
    new = known_jobs() - before
    check(not new, f"new jobs appeared: {sorted(new)}")


def in_queue_any(jobs):
    return any(in_queue(j) for j in jobs)


def case_two_hosts():
    need_gan_dist()
    if os.geteuid() != 0 or not shutil.which("ip") or not shutil.which("unshare"):
        raise Skip("needs root, iproute2 and unshare")
    netns = os.path.join(SCRIPTS, "netns-hosts.sh")
    agent = os.path.join(SCRIPTS, "netns-rsh-agent.sh")
    prefix, net = "gltest", os.environ.get("GAN_LAUNCH_TEST_NET24", "10.77.7")
    rc, out, err = run([netns, "up", prefix, net])
    if rc != 0:
        raise Skip(f"cannot make network namespaces: {err.strip()}")
    try:
        hosts = dict(line.split() for line in out.split("\n") if line.strip())
        out_dir = fresh_dir("two-hosts")
        os.makedirs(out_dir)
        hostfile = os.path.join(out_dir, "hostfile")
        with open(hostfile, "w") as f:
            f.write(f"{prefix}-a slots=1\n{prefix}-b slots=1\n")
        steps = 8
        cmd = [LAUNCH, "hosts", "--hostfile", hostfile, "-n", "2", "--net", f"{net}.0/24",
               "--rsh-agent", agent, "--"] + dist_args(steps) + ["--out", out_dir]
        # mpirun itself runs on host a, as it would on the first node of a real host list
        shell = f"hostname {prefix}-a && exec " + " ".join(_q(c) for c in cmd)
        argv = ["ip", "netns", "exec", f"{prefix}-a", "unshare", "--uts", "/bin/sh", "-c", shell]
        log("$", " ".join(argv))
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        seen, cpus = {}, {}
        t0 = time.time()
        while p.poll() is None and time.time() - t0 < 300:
            for ns in (f"{prefix}-a", f"{prefix}-b"):
                pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
                for pid in pids:
                    try:
                        args = open(f"/proc/{pid}/cmdline").read().split("\0")
                        if GAN_DIST in args[:2]:  # the binary, or a script's interpreter
                            seen[ns] = pid
                            status = open(f"/proc/{pid}/status").read()
                            cpus[ns] = re.search(r"Cpus_allowed_list:\s*(\S+)", status).group(1)
                    except OSError:
                        pass
            time.sleep(0.2)
        if p.poll() is None:
            p.kill()
        so, se = p.communicate()
        check(p.returncode == 0, f"gan_launch hosts exit {p.returncode}:\n{se[-4000:]}")
        probe = re.findall(r"gan_launch-probe rank=(\d+) host=(\S+) kernel=\S+ addrs=(\S+)", so)
        check(len(probe) == 2, f"expected 2 probe lines, got: {so}")
        addrs = {int(r): (h, a) for r, h, a in probe}
        log("ranks:", addrs)
        check(addrs[0][1] != addrs[1][1], f"both ranks report address {addrs[0][1]}")
        check({addrs[0][1], addrs[1][1]} == set(hosts.values()), f"rank addresses {addrs} are not {hosts}")
        check(addrs[0][0] != addrs[1][0], f"both ranks report host {addrs[0][0]}")
        check(set(seen) == set(hosts), f"gan_dist ran in namespaces {sorted(seen)}, expected {sorted(hosts)}")
        # The two pretend hosts are one machine: gan_launch saw it in the probe and left the
        # ranks unbound, so they are not both pinned to "their host's" core 0.
        check("are one machine (the same kernel)" in se and "--bind-to none" in se,
              f"gan_launch did not unbind the ranks of two hosts on one machine:\n{se[-3000:]}")
        check(len(set(cpus.values())) > 1 or all("-" in c or "," in c for c in cpus.values()),
              f"the ranks' allowed CPUs {cpus} pin them to one core")
        assert_trained(out_dir, steps, 2)
    finally:
        run([netns, "down", prefix, net])


def _q(s):
    return "'" + s.replace("'", "'\\''") + "'"


SWEEP = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../benchmarks/scaling/sweep.py")


def _scaling_sweep(name, launch_opts):
    """benchmarks/scaling/sweep.py: one run per world size under gan_launch, then the report."""
    out = fresh_dir(name)
    dist = [GAN_DIST, "--model", "dcgan", "--data", DATA, "--threads", "1", "--log-every", "2",
            "--g-width", "16", "--d-width", "16"] + EXTRA
    argv = ["/usr/bin/python3", SWEEP, "--ranks", "1,2", "--per-rank-batch", "16", "--steps", "12",
            "--out", out, "--gan-launch", LAUNCH] + launch_opts + ["--"] + dist
    rc, so, err = run(argv, timeout=600)
    check(rc == 0, f"sweep exit {rc}: {so[-2000:]} {err[-3000:]}")
    for n in (1, 2):
        assert_trained(os.path.join(out, f"np{n}"), 12, n)
        cfg = open(os.path.join(out, f"np{n}", "config.toml")).read()
        check(re.search(rf"^batch-size\s*=\s*{16 * n}$", cfg, re.M), f"np{n}: batch-size is not {16 * n}")
    rows = list(csv.DictReader(open(os.path.join(out, "report", "scaling.csv"))))
    check([int(r["ranks"]) for r in rows] == [1, 2], f"scaling.csv ranks: {[r['ranks'] for r in rows]}")
    for r in rows:
        check(int(r["batch_per_rank"]) == 16 and float(r["images_per_s"]) > 0, f"scaling.csv row {r}")
    curve = list(csv.DictReader(open(os.path.join(out, "report", "allreduce.csv"))))
    two = [c for c in curve if c["ranks"] == "2"]
    check(two and int(two[0]["bytes"]) == 4096, f"allreduce.csv has no 2-rank curve from 4 KB: {curve[:3]}")
    for c in two:  # busbw = algbw x 2(n-1)/n, which is 1 at n = 2
        check(float(c["algbw_GBps"]) > 0 and c["algbw_GBps"] == c["busbw_GBps"], f"allreduce.csv row {c}")
    proj = list(csv.DictReader(open(os.path.join(out, "report", "projection.csv"))))
    check({int(p["ranks"]) for p in proj} >= {1, 2, 4, 512}, "projection.csv does not reach 512 ranks")
    with open(os.path.join(out, "report", "scaling.png"), "rb") as f:
        check(f.read(8) == b"\x89PNG\r\n\x1a\n", "scaling.png is not a PNG")
    report = open(os.path.join(out, "report", "report.md")).read()
    check("| 2 |" in report and "## Projection" in report, f"report.md: {report[:500]}")
    # Run again: the finished world sizes are kept, only the report is made again.
    rc, so, err = run(argv, timeout=300)
    check(rc == 0 and so.count("is finished, kept") == 2, f"second sweep exit {rc}: {so[-2000:]}")
    # A world size left unfinished is named, not resumed or overwritten.
    os.remove(os.path.join(out, "np2", "final.json"))
    rc, so, err = run(argv, timeout=60)
    check(rc == 2 and "np2 holds a run that did not finish" in err, f"unfinished np2: exit {rc}: {err}")
    # The sweep sets the batch: a command that sets it is refused before anything runs.
    rc, so, err = run(argv[:-len(dist)] + dist + ["--batch-size", "8"], timeout=60)
    check(rc == 2 and "--batch-size" in err, f"--batch-size in the command: exit {rc}: {err}")


def case_scaling_sweep_local():
    need_gan_dist()
    _scaling_sweep("scaling-sweep-local", ["--launch", "local"])
    # Both series in one sweep: weak (16 images per rank) and strong (32 images per step).
    out = fresh_dir("scaling-sweep-both")
    dist = [GAN_DIST, "--model", "dcgan", "--data", DATA, "--threads", "1", "--log-every", "2",
            "--g-width", "8", "--d-width", "8"] + EXTRA
    rc, so, err = run(["/usr/bin/python3", SWEEP, "--ranks", "1,2", "--per-rank-batch", "16",
                       "--global-batch", "32", "--steps", "6", "--out", out, "--gan-launch", LAUNCH,
                       "--launch", "local", "--"] + dist, timeout=600)
    check(rc == 0, f"weak and strong sweep exit {rc}: {so[-2000:]} {err[-3000:]}")
    for series, per_rank in (("weak", {1: 16, 2: 16}), ("strong", {1: 32, 2: 16})):
        rows = list(csv.DictReader(open(os.path.join(out, series, "report", "scaling.csv"))))
        got = {int(r["ranks"]): int(r["batch_per_rank"]) for r in rows}
        check(got == per_rank, f"{series}/report/scaling.csv batch per rank {got}, not {per_rank}")
        report = open(os.path.join(out, series, "report", "report.md")).read()
        check(f"({series} scaling, measured)" in report, f"{series}/report/report.md: {report[:300]}")


def case_scaling_sweep_slurm():
    need_gan_dist()
    need_slurm()
    _scaling_sweep("scaling-sweep-slurm", ["--launch", "slurm", "--ranks-per-node", "2",
                                           "--poll-s", "0.5"])


CASES = {n[5:]: f for n, f in globals().items() if n.startswith("case_")}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in CASES:
        print(f"usage: {sys.argv[0]} {'|'.join(CASES)}", file=sys.stderr)
        sys.exit(2)
    try:
        t0 = time.time()
        CASES[sys.argv[1]]()
        log(f"PASS {sys.argv[1]} in {time.time() - t0:.1f}s")
        sys.exit(0)
    except Skip as e:
        log(f"SKIP {sys.argv[1]}: {e}")
        sys.exit(SKIP)
    except (AssertionError, subprocess.TimeoutExpired) as e:
        log(f"FAIL {sys.argv[1]}: {e}")
        sys.exit(1)
