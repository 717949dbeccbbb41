#!/usr/bin/env python3
"""Helpers of scripts/gpu-check.sh: test data, the reading of gan_dist's run folders, the
pass/fail rules of each check and the one JSON they all end in. Standard library and numpy
only (numpy just for the data), so it runs under Debian's python3 and the GPU machine's.

Each check writes one fragment, RESULTS/<check>.json, with at least
  {"status": "pass" | "warn" | "fail" | "skipped", "ok": bool, ...figures...}
and `assemble` merges the fragments into gpu-check.json. `warn` is a result that is not a
failure but needs a reader (e.g. GPU runs that are not bitwise reproducible).
"""
import argparse
import csv
import datetime
import glob
import gzip
import json
import math
import os
from pathlib import Path
import platform
import re
import statistics
import struct
import subprocess
import sys
import zlib

CHECK_ORDER = ["env", "torch_smoke", "build", "smoke", "data", "zoo", "dcgan64", "cpu_gpu", "resume", "speed"]
DEFAULT_MODELS = "gan dcgan lsgan cgan infogan wgan wgan-gp ebgan began vae".split()
TIMING_KEYS = {"data_ms", "compute_ms", "forward_ms", "backward_ms", "comm_ms", "optimizer_ms",
               "step_ms", "images_per_s", "wall_s"}


# ----------------------------------------------------------------------------------------------
# small utilities
# ----------------------------------------------------------------------------------------------
def parse_value(text):
    """key=value values: JSON when they parse (numbers, true, "str", [..]), else the string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def kv(pairs):
    out = {}
    for p in pairs or []:
        if "=" not in p:
            raise SystemExit("expected key=value, got %r" % p)
        k, v = p.split("=", 1)
        out[k] = parse_value(v)
    return out


def write_json(path, obj):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
    os.replace(tmp, path)


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return default


def read_jsonl(path):
    rows = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        rows.append(json.loads(line))
                    except ValueError:
                        rows.append({"_unparsed": line})
    except OSError:
        pass
    return rows


def finite(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def median(xs):
    xs = [x for x in xs if finite(x)]
    return statistics.median(xs) if xs else None


def mean(xs):
    xs = [x for x in xs if finite(x)]
    return sum(xs) / len(xs) if xs else None


def status(ok, warn=False):
    return {"status": "pass" if ok and not warn else ("warn" if ok else "fail"), "ok": bool(ok)}


def run_cmd(cmd, timeout=20):
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                           universal_newlines=True)
        return p.returncode, p.stdout.strip()
    except (OSError, subprocess.SubprocessError) as e:
        return None, str(e)


def get_field(obj, dotted):
    for part in dotted.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        elif isinstance(obj, list) and part.isdigit() and int(part) < len(obj):
            obj = obj[int(part)]
        else:
            return None
    return obj


# ----------------------------------------------------------------------------------------------
# gan_dist run folders
# ----------------------------------------------------------------------------------------------
LOG_LINE = re.compile(r"^\[[^\]]*\] \[rank (\d+)\] \[(\w+)\] (.*)$")


def log_messages(run_dir, rank=0):
    out = []
    try:
        with open(os.path.join(run_dir, "log", "rank-%d.log" % rank), errors="replace") as f:
            for line in f:
                m = LOG_LINE.match(line.rstrip("\n"))
                out.append((m.group(2), m.group(3)) if m else ("", line.rstrip("\n")))
    except OSError:
        pass
    return out


def parse_versions(messages):
    """gan_dist's start-up line on what it was built with and runs on, e.g. 'built with torch
    2.11.0, CUDA 13.0 compiled in (GAN_TORCH_CUDA), NCCL backend 2.27.7; running torch 2.11.0,
    CUDA runtime 13.0 (driver 13.0), cuDNN 9.10.2, NCCL 2.27.7 on NVIDIA H200' (or '... CPU only,
    no NCCL backend; running torch 1.13.0 (CPU build)'). The raw line is always kept."""
    for _, msg in messages:
        if not re.search(r"\btorch \d", msg) or ("running" not in msg and "CUDA" not in msg
                                                   and "CPU" not in msg):
            continue
        v = {"line": msg}
        built, _, running = msg.partition("; running ")
        if not running:
            built, running = "", msg
        running, _, extra = running.partition("; ")
        if extra:
            v["mode"] = extra
        for key, pat, text in (("torch", r"\btorch ([0-9][^\s,;]*)", running),
                               ("cuda_runtime", r"CUDA runtime ([0-9][^\s,;]*)", running),
                               ("cuda_driver", r"driver ([0-9][^\s,;)]*)", running),
                               ("cudnn", r"cuDNN ([0-9][^\s,;]*|none)", running),
                               ("nccl", r"NCCL ([0-9][^\s,;]*)", running),
                               ("gpu", r" on (.+)$", running),
                               ("built_torch", r"\btorch ([0-9][^\s,;]*)", built),
                               ("built_cuda", r"CUDA ([0-9][^\s,;]*) compiled", built),
                               ("built_nccl", r"NCCL backend ([0-9][^\s,;]*)", built)):
            m = re.search(pat, text)
            if m:
                v[key] = m.group(1)
        if "CPU build" in running or "running on the CPU" in running:
            v["device"] = "cpu"
            v.pop("gpu", None)
        return v
    return None


def run_summary(run_dir, expect_steps=None, warmup=0):
    """What a gan_dist run folder says: metrics rows and whether every value is finite, first
    and last rows, throughput after warm-up, eval rows, samples, final digests."""
    rows = read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    bad = []
    for r in rows:
        if "_unparsed" in r:
            bad.append({"step": None, "key": "_unparsed", "value": r["_unparsed"][:80]})
            continue
        for k, v in r.items():
            if not finite(v):  # nlohmann writes NaN/inf as null
                bad.append({"step": r.get("step"), "key": k, "value": v})
    steps = [r.get("step") for r in rows if "step" in r]
    s = {
        "rows": len(rows),
        "last_step": steps[-1] if steps else None,
        "all_finite": not bad and bool(rows),
        "non_finite": bad[:10],
    }
    if expect_steps is not None:
        s["complete"] = s["last_step"] == expect_steps
    loss_keys = [k for k in (rows[0] if rows else {}) if k not in TIMING_KEYS
                 and k not in ("step", "epoch", "images_seen", "_unparsed")]
    s["metrics"] = loss_keys
    if rows:
        s["first"] = {k: rows[0].get(k) for k in loss_keys}
        s["last"] = {k: rows[-1].get(k) for k in loss_keys}
    after = [r for r in rows if isinstance(r.get("step"), int) and r["step"] > warmup]
    s["images_per_s_median"] = median([r.get("images_per_s") for r in after])
    s["step_ms_median"] = median([r.get("step_ms") for r in after])
    s["wall_s"] = rows[-1].get("wall_s") if rows else None
    ev = read_jsonl(os.path.join(run_dir, "eval.jsonl"))
    s["eval"] = ev
    s["samples"] = sorted(os.path.basename(p)
                          for p in glob.glob(os.path.join(run_dir, "samples", "step-*.png")))
    fin = read_json(os.path.join(run_dir, "final.json"))
    s["final"] = fin
    msgs = log_messages(run_dir)
    s["versions"] = parse_versions(msgs)
    s["final_digest_lines"] = [m for _, m in msgs if m.startswith("final digest")]
    s["errors"] = [m for lvl, m in msgs if lvl in ("error", "critical")][:5]
    s["warnings"] = [m for lvl, m in msgs if lvl == "warning"][:5]
    return s, rows


def tail_text(path, n=8):
    try:
        with open(path, errors="replace") as f:
            return [l.rstrip("\n") for l in f.readlines()[-n:]]
    except OSError:
        return []


# ----------------------------------------------------------------------------------------------
# commands
# ----------------------------------------------------------------------------------------------
def cmd_put(a):
    obj = read_json(a.out, {}) if a.merge else {}
    obj.update(kv(a.pairs))
    write_json(a.out, obj)


def cmd_field(a):
    v = get_field(read_json(a.file, {}), a.key)
    if v is None:
        sys.exit(1)
    print(json.dumps(v) if not isinstance(v, str) else v)


def cmd_to_json_list(a):
    print(json.dumps(a.items))


def cmd_help_models(a):
    try:
        text = open(a.file, errors="replace").read()
    except OSError:
        sys.exit(1)
    m = re.search(r"--model\b[^\n{]*\{([^}]*)\}", text)
    if not m:
        sys.exit(1)
    names = [x.strip() for x in m.group(1).split(",") if x.strip()]
    print(" ".join(names))


def cmd_env(a):
    e = {"python": sys.executable, "python_version": platform.python_version(),
         "host": platform.node(), "kernel": platform.release(), "cpus": os.cpu_count()}
    try:
        e["glibc"] = os.confstr("CS_GNU_LIBC_VERSION")
    except (ValueError, OSError, AttributeError):
        pass
    try:
        for line in open("/etc/os-release"):
            if line.startswith("PRETTY_NAME="):
                e["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal:"):
                e["mem_gib"] = round(int(line.split()[1]) / 1048576, 1)
    except OSError:
        pass
    rc, out = run_cmd(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,compute_cap",
                       "--format=csv,noheader"])
    if rc != 0:
        rc, out = run_cmd(["nvidia-smi", "--query-gpu=name,driver_version,memory.total",
                           "--format=csv,noheader"])
    gpus = []
    if rc == 0:
        for line in out.splitlines():
            parts = [p.strip() for p in line.split(",")]
            g = {"name": parts[0]}
            if len(parts) > 1:
                g["driver"] = parts[1]
            if len(parts) > 2:
                g["memory"] = parts[2]
            if len(parts) > 3:
                g["compute_cap"] = parts[3]
            gpus.append(g)
    e["nvidia_smi"] = gpus if gpus else {"rc": rc, "output": out[-300:]}
    try:
        import torch  # noqa: E402  (optional here)
        t = {"version": torch.__version__, "cuda": torch.version.cuda,
             "cuda_available": bool(torch.cuda.is_available()),
             "cxx11_abi": bool(getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", False))}
        try:
            t["cmake_prefix_path"] = torch.utils.cmake_prefix_path
        except AttributeError:
            pass
        try:
            t["cudnn"] = torch.backends.cudnn.version()
        except Exception as ex:  # noqa: BLE001
            t["cudnn"] = "error: %s" % ex
        if t["cuda_available"]:
            try:
                t["nccl"] = ".".join(str(x) for x in torch.cuda.nccl.version())
            except Exception as ex:  # noqa: BLE001
                t["nccl"] = "error: %s" % ex
            t["device_count"] = torch.cuda.device_count()
            t["device"] = torch.cuda.get_device_name(0)
            t["capability"] = ".".join(str(x) for x in torch.cuda.get_device_capability(0))
        e["torch"] = t
    except Exception as ex:  # noqa: BLE001
        e["torch"] = {"error": str(ex)}
    for name, cmd, pick in (("cmake", ["cmake", "--version"], 0),
                            ("nvcc", ["nvcc", "--version"], -1),
                            ("gcc", ["c++", "--version"], 0),
                            ("ninja", ["ninja", "--version"], 0)):
        rc, out = run_cmd(cmd)
        if rc == 0 and out:
            e[name] = out.splitlines()[pick]
    if a.repo:
        rc, out = run_cmd(["git", "-C", a.repo, "rev-parse", "HEAD"])
        if rc == 0:
            e["git_commit"] = out
            rc, out = run_cmd(["git", "-C", a.repo, "status", "--porcelain", "--untracked-files=no"])
            e["git_dirty"] = bool(out) if rc == 0 else None
        else:
            # A call carries no .git: the commit is written to .gpu-commit before it
            # (`git rev-parse HEAD > .gpu-commit`; scripts/gpu-rehearsal.sh does).
            f = Path(a.repo) / ".gpu-commit"
            if f.is_file():
                e["git_commit"] = f.read_text().strip()
                e["git_commit_from"] = ".gpu-commit"
    ok = True
    if a.device == "cuda":
        ok = bool(gpus) and e.get("torch", {}).get("cuda_available", False)
    e.update(status(ok))
    write_json(a.out, e)


CACHE_KEYS = ["Torch_DIR", "MPI_C_HEADER_DIR", "MPI_mpi_LIBRARY", "MPI_C_COMPILER",
              "HDF5_C_INCLUDE_DIR", "HDF5_C_LIBRARY_hdf5", "HDF5_hdf5_LIBRARY_RELEASE",
              "HDF5_C_COMPILER_EXECUTABLE", "spdlog_DIR", "fmt_DIR", "CLI11_DIR",
              "nlohmann_json_DIR", "ZLIB_LIBRARY_RELEASE", "ZLIB_INCLUDE_DIR",
              "PNG_LIBRARY_RELEASE", "PNG_PNG_INCLUDE_DIR", "OPENSSL_CRYPTO_LIBRARY",
              "OPENSSL_INCLUDE_DIR", "GTest_DIR", "libjpeg-turbo_DIR", "Protobuf_INCLUDE_DIR",
              "Protobuf_LIBRARY_RELEASE", "Protobuf_PROTOC_EXECUTABLE", "GAN_WITH_NCCL",
              "GAN_NCCL_LIBRARY", "GAN_NCCL_INCLUDE_DIR", "NCCL_LIBRARY", "NCCL_INCLUDE_DIR",
              "CMAKE_CUDA_COMPILER", "CUDAToolkit_NVCC_EXECUTABLE", "CMAKE_CXX_COMPILER",
              "CMAKE_GENERATOR", "CMAKE_BUILD_TYPE"]
# Must come from .gpu-deps when it is used (else the build silently took a host copy).
FROM_DEPS = ["MPI_C_HEADER_DIR", "MPI_mpi_LIBRARY", "HDF5_C_INCLUDE_DIR", "spdlog_DIR",
             "CLI11_DIR", "nlohmann_json_DIR", "libjpeg-turbo_DIR", "GTest_DIR",
             "Protobuf_INCLUDE_DIR", "Protobuf_LIBRARY_RELEASE", "Protobuf_PROTOC_EXECUTABLE"]


def read_cache(path):
    vals = {}
    try:
        for line in open(path, errors="replace"):
            m = re.match(r"^([A-Za-z0-9_.+-]+):[A-Z_]+=(.*)$", line.rstrip("\n"))
            if m:
                vals[m.group(1)] = m.group(2)
    except OSError:
        pass
    return vals


def cmd_torch_smoke(a):
    """The machine's own torch before anything of ours, in seconds: a matmul and a cuDNN
    convolution on the device, and torch.distributed at world size 1 through a FileStore over
    NCCL (gloo on the CPU). If NCCL cannot start inside this machine, this names it first."""
    import tempfile
    import time
    t0 = time.time()
    res = kv(a.pairs)
    import torch
    import torch.distributed as td
    dev = torch.device(a.device)
    try:
        x = torch.randn(256, 256, device=dev)
        conv = torch.nn.Conv2d(3, 8, 3).to(dev)
        y = conv(torch.randn(2, 3, 16, 16, device=dev))
        finite = bool(torch.isfinite((x @ x).sum() + y.sum()).item())
        res["compute"] = "ok" if finite else "non-finite result"
        if dev.type == "cuda":
            res["device_name"] = torch.cuda.get_device_name(dev)
            res["cudnn"] = torch.backends.cudnn.version()
    except Exception as e:  # noqa: BLE001 - the message is the finding
        res["compute"] = "failed: %s" % str(e).strip().splitlines()[0][:300]
    backend = "nccl" if dev.type == "cuda" else "gloo"
    res["backend"] = backend
    try:
        with tempfile.TemporaryDirectory() as d:
            store = td.FileStore(os.path.join(d, "store"), 1)
            td.init_process_group(backend, store=store, rank=0, world_size=1)
            t = torch.arange(4.0, device=dev)
            td.all_reduce(t)
            b = torch.zeros(4, device=dev)
            td.broadcast(b, 0)
            same = t.cpu().tolist() == [0.0, 1.0, 2.0, 3.0] and b.abs().sum().item() == 0
            td.destroy_process_group()
        res["distributed"] = "all_reduce and broadcast at world size 1: " + ("ok" if same else "wrong values")
        if backend == "nccl":
            res["nccl"] = ".".join(map(str, torch.cuda.nccl.version()))
    except Exception as e:  # noqa: BLE001
        res["distributed"] = "failed: %s" % str(e).strip().splitlines()[0][:300]
    res["seconds"] = round(time.time() - t0, 2)
    ok = res["compute"] == "ok" and res["distributed"].endswith(": ok")
    res.update(status(ok))
    if not ok:
        res["why"] = "; ".join(v for k, v in res.items() if k in ("compute", "distributed") and not v.endswith("ok"))
    write_json(a.out, res)


def cmd_build_summary(a):
    b = kv(a.pairs)
    cache = read_cache(a.cache)
    b["cache"] = {k: cache[k] for k in CACHE_KEYS if k in cache}
    for k, v in cache.items():  # FindHDF5 names vary by CMake version
        if k.startswith("HDF5_C_LIBRARY_") and k not in b["cache"]:
            b["cache"][k] = v
    deps = os.path.abspath(a.deps) if a.deps else None
    if deps and not b.get("system_deps"):
        outside = [k for k in FROM_DEPS if k in cache and not cache[k].startswith(deps)]
        b["not_from_deps"] = {k: cache[k] for k in outside}
    lines = tail_text(a.log, 100000)
    b["cmake_messages"] = [l[3:] for l in lines if l.startswith("-- gan_dist")][:6]
    b["warnings"] = sum(1 for l in lines if "warning:" in l)
    errs = [l for l in lines if re.search(r"(error:|Error |CMake Error|undefined reference)", l)]
    b["first_errors"] = errs[:12]
    ok = b.get("configure_rc") == 0 and b.get("build_rc") == 0
    if b.get("configure_only"):
        ok = b.get("configure_rc") == 0
    b.update(status(ok, warn=bool(b.get("not_from_deps"))))
    write_json(a.out, b)


# --- test data --------------------------------------------------------------------------------
def structured_images(n, size, channels, seed):
    """n images of simple structure (class k < 5: stripes at angle 36k degrees; k >= 5: k-4
    Gaussian blobs), uint8 [n, size, size, channels], and labels 0..9."""
    import numpy as np
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 10, size=n).astype(np.uint8)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    out = np.empty((n, size, size, channels), dtype=np.uint8)
    for i in range(n):
        k = int(labels[i])
        if k < 5:
            ang = math.pi * k / 5 + rng.uniform(-0.1, 0.1)
            freq = rng.uniform(2.0, 4.0)
            phase = rng.uniform(0, 2 * math.pi)
            img = 0.5 + 0.5 * np.sin(2 * math.pi * freq * (xx * math.cos(ang) + yy * math.sin(ang)) + phase)
        else:
            img = np.zeros((size, size), np.float32)
            for _ in range(k - 4):
                cy, cx = rng.uniform(0.15, 0.85, size=2)
                sig = rng.uniform(0.06, 0.14)
                img += np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sig * sig))
            img = np.clip(img, 0, 1)
        img = img + rng.normal(0, 0.03, size=img.shape)
        if channels == 1:
            px = img[..., None]
        else:
            color = rng.uniform(0.3, 1.0, size=channels).astype(np.float32)
            bg = rng.uniform(0.0, 0.2, size=channels).astype(np.float32)
            px = bg + img[..., None] * (color - bg)
        out[i] = np.clip(px * 255 + 0.5, 0, 255).astype(np.uint8)
    return out, labels


def write_png(path, arr):
    h, w, c = arr.shape
    raw = b"".join(b"\x00" + arr[y].tobytes() for y in range(h))

    def chunk(tag, data):
        return (struct.pack(">I", len(data)) + tag + data +
                struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    colour = {1: 0, 3: 2}[c]
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))


def cmd_make_data(a):
    os.makedirs(a.out, exist_ok=True)
    if a.kind == "idx":
        imgs, labels = structured_images(a.n, a.size, 1, a.seed)
        with gzip.open(os.path.join(a.out, "images-idx3-ubyte.gz"), "wb", compresslevel=1) as f:
            f.write(struct.pack(">IIII", 0x803, a.n, a.size, a.size))
            f.write(imgs.tobytes())
        with gzip.open(os.path.join(a.out, "labels-idx1-ubyte.gz"), "wb", compresslevel=1) as f:
            f.write(struct.pack(">II", 0x801, a.n))
            f.write(labels.tobytes())
    else:
        imgs, _ = structured_images(a.n, a.size, 3, a.seed)
        for i in range(a.n):
            write_png(os.path.join(a.out, "%06d.png" % i), imgs[i])
    print("make-data: %d %s images %dx%d in %s" % (a.n, a.kind, a.size, a.size, a.out))


def cmd_data_summary(a):
    d = kv(a.pairs)
    for name, path in (("s28", a.d28), ("s64", a.d64)):
        m = read_json(os.path.join(path, "manifest.json"))
        d[name] = {"path": path, "images": m.get("total") if m else None,
                   "shape": m.get("image_shape") if m else None,
                   "classes": m.get("num_classes") if m else None}
    ok = d.get("prep28_rc") == 0 and d.get("prep64_rc") == 0 and d["s28"]["images"] and d["s64"]["images"]
    d.update(status(bool(ok)))
    write_json(a.out, d)


# --- checks -----------------------------------------------------------------------------------
def cmd_eval_zoo(a):
    res = kv(a.pairs)
    models = {}
    versions = None
    for m in a.models.split():
        rc = read_json(os.path.join(a.dir, m + ".rc.json"), {})
        s, _ = run_summary(os.path.join(a.dir, m), expect_steps=a.steps)
        ok = (rc.get("rc") == 0 and s["all_finite"] and s.get("complete", False)
              and bool(s["final"]) and bool(s["samples"]))
        entry = {"ok": ok, "exit": rc.get("rc"), "seconds": rc.get("seconds"), "rows": s["rows"],
                 "all_finite": s["all_finite"], "last_step": s["last_step"],
                 "first": s.get("first"), "last": s.get("last"),
                 "step_ms_median": s["step_ms_median"], "samples": len(s["samples"]),
                 "final_json": bool(s["final"])}
        if s["non_finite"]:
            entry["non_finite"] = s["non_finite"]
        if not ok:
            entry["log_tail"] = tail_text(os.path.join(a.dir, m + ".log"), 8)
        versions = versions or s["versions"]
        models[m] = entry
    res["models"] = models
    res["failed"] = [m for m, e in models.items() if not e["ok"]]
    res["gan_dist_versions"] = versions
    res.update(status(bool(models) and not res["failed"]))
    write_json(a.out, res)


def eval_distance(ev):
    """step-0 and last eval rows (histogram L1, moment RMSE)."""
    rows = [r for r in ev if isinstance(r.get("step"), int)]
    if not rows:
        return None, None
    return rows[0], rows[-1]


def cmd_eval_dcgan64(a):
    res = kv(a.pairs)
    s, rows = run_summary(a.run, expect_steps=a.steps, warmup=a.warmup)
    k = min(50, max(1, len(rows) // 4))
    means = {}
    for key in s.get("metrics", []):
        means[key] = {"first%d" % k: mean([r.get(key) for r in rows[:k]]),
                      "last%d" % k: mean([r.get(key) for r in rows[-k:]])}
    res["loss_means"] = means
    ld = means.get("loss_d", {})
    res["loss_d_fell"] = (ld.get("last%d" % k) is not None and ld.get("first%d" % k) is not None
                          and ld["last%d" % k] < ld["first%d" % k])
    dr = means.get("d_real", {})
    res["d_real_rose"] = (dr.get("last%d" % k) is not None and dr.get("first%d" % k) is not None
                          and dr["last%d" % k] > dr["first%d" % k])
    first, last = eval_distance(s["eval"])
    res["eval_first"], res["eval_last"] = first, last
    improved = False
    if first and last and last.get("step", 0) > first.get("step", 0):
        res["histogram_l1_ratio"] = (last["histogram_l1"] / first["histogram_l1"]
                                     if first.get("histogram_l1") else None)
        res["moment_rmse_ratio"] = (last["moment_rmse"] / first["moment_rmse"]
                                    if first.get("moment_rmse") else None)
        improved = (finite(res["histogram_l1_ratio"]) and finite(res["moment_rmse_ratio"])
                    and res["histogram_l1_ratio"] < 1 and res["moment_rmse_ratio"] < 1)
    res["eval_improved"] = improved
    want = ["step-%07d.png" % st for st in range(0, a.steps + 1, a.sample_every)] if a.sample_every else []
    res["samples"] = s["samples"]
    res["samples_missing"] = [w for w in want if w not in s["samples"]]
    res["rows"], res["all_finite"], res["last_step"] = s["rows"], s["all_finite"], s["last_step"]
    res["images_per_s_median"] = s["images_per_s_median"]
    res["step_ms_median"] = s["step_ms_median"]
    res["warmup_steps"] = a.warmup
    res["gan_dist_versions"] = s["versions"]
    runs_ok = (res.get("rc") == 0 and s["all_finite"] and s.get("complete", False)
               and not res["samples_missing"])
    # Learning is judged on a real run only (the CPU dry run is a handful of steps).
    if a.dry:
        res.update(status(runs_ok, warn=not improved))
    else:
        res.update(status(runs_ok and improved))
    if not res["ok"] or res["status"] == "warn":
        res["why"] = ("run failed" if not runs_ok else
                      "the generated images' statistics did not move towards the data's "
                      "(eval.jsonl at the end vs step 0)")
    write_json(a.out, res)


def cmd_compare_trace(a):
    res = kv(a.pairs)
    ta = {r.get("step"): r for r in read_jsonl(a.a)}
    tb = {r.get("step"): r for r in read_jsonl(a.b)}
    steps = [int(x) for x in a.steps.split(",")]
    res.update({"rtol": a.rtol, "atol": a.atol, "rule": "|a-b| <= atol + rtol*|a|"})
    per = {}
    problems = []
    for st in steps:
        ra, rb = ta.get(st), tb.get(st)
        if ra is None or rb is None:
            problems.append("step %d missing in %s" % (st, "a" if ra is None else "b"))
            continue
        for key in sorted(set(ra) | set(rb)):
            if key == "step":
                continue
            va, vb = ra.get(key), rb.get(key)
            e = per.setdefault(key, {"max_abs": 0.0, "max_rel": 0.0, "values": {}, "ok": True})
            e["values"][str(st)] = [va, vb]
            if not (finite(va) and finite(vb)):
                e["ok"] = False
                problems.append("%s at step %d: %r vs %r" % (key, st, va, vb))
                continue
            d = abs(va - vb)
            rel = d / max(abs(va), abs(vb), 1e-30)
            e["max_abs"] = max(e["max_abs"], d)
            e["max_rel"] = max(e["max_rel"], rel)
            if d > a.atol + a.rtol * abs(va):
                e["ok"] = False
    res["metrics"] = per
    res["problems"] = problems
    res["max_abs"] = max([e["max_abs"] for e in per.values()], default=None)
    res["max_rel"] = max([e["max_rel"] for e in per.values()], default=None)
    res["failed_metrics"] = [k for k, e in per.items() if not e["ok"]]
    ok = (res.get("rc_cpu", 0) == 0 and res.get("rc_dev", 0) == 0 and bool(per)
          and not problems and not res["failed_metrics"])
    res.update(status(ok))
    write_json(a.out, res)


def digests(run_dir):
    fin = read_json(os.path.join(run_dir, "final.json")) or {}
    return {k: v for k, v in fin.items() if k.startswith("digest")}, fin.get("step")


def cmd_eval_resume(a):
    res = kv(a.pairs)
    d1, s1 = digests(a.straight)
    d2, s2 = digests(a.straight2)
    dr, sr = digests(a.resumed)
    res["final_step"] = {"straight": s1, "straight2": s2, "resumed": sr}
    res["digests"] = {"straight": d1, "straight2": d2, "resumed": dr}
    res["bitwise_equal"] = bool(d1) and d1 == dr
    res["straight_runs_equal"] = bool(d1) and d1 == d2
    # The losses after the resume point, straight vs resumed.
    ra = {r.get("step"): r for r in read_jsonl(os.path.join(a.straight, "metrics.jsonl"))}
    rb = {r.get("step"): r for r in read_jsonl(os.path.join(a.resumed, "metrics.jsonl"))}
    max_abs, same_rows, compared = 0.0, 0, 0
    for st in range(a.half + 1, a.steps + 1):
        x, y = ra.get(st), rb.get(st)
        if not x or not y:
            continue
        compared += 1
        keys = [k for k in x if k not in TIMING_KEYS and k in y and finite(x[k]) and finite(y[k])]
        if all(x[k] == y[k] for k in keys):
            same_rows += 1
        for k in keys:
            max_abs = max(max_abs, abs(x[k] - y[k]))
    res["rows_after_resume"] = {"compared": compared, "identical": same_rows,
                                "max_abs_loss_diff": max_abs}
    resumed_log = [m for _, m in log_messages(a.resumed)]
    res["resumed_at"] = next((int(m.split()[-1]) for m in resumed_log
                              if m.startswith("resumed at step")), None)
    rcs = [res.get(k) for k in ("rc_straight", "rc_straight2", "rc_half", "rc_resume")]
    ran = all(r == 0 for r in rcs) and s1 == a.steps and sr == a.steps and res["resumed_at"] == a.half
    det = bool(res.get("deterministic_flag"))
    if not ran:
        res.update(status(False))
        res["why"] = "a run failed or the resumed run did not continue from step %d" % a.half
    elif res["bitwise_equal"]:
        res.update(status(True))
        res["note"] = "resumed run bitwise equal to the straight one"
    elif res["straight_runs_equal"]:
        res.update(status(False))
        res["why"] = ("two straight runs agree bitwise but the resumed one differs: "
                      "the checkpoint misses state")
    elif det:
        res.update(status(False))
        res["why"] = "with --deterministic, two identical straight runs still differ bitwise"
    else:
        res.update(status(True, warn=True))
        res["note"] = ("not bitwise equal, but two straight runs differ too (GPU kernels are not "
                       "deterministic without --deterministic): resume cannot be judged bitwise")
    write_json(a.out, res)


def cmd_eval_speed(a):
    res = kv(a.pairs)
    gan_runs = [p for p in a.gan.split(",") if p]
    torch_runs = [p for p in a.torch.split(",") if p]
    g = []
    for p in gan_runs:
        s, _ = run_summary(p, warmup=a.warmup)
        rc = read_json(p + ".rc.json", {}).get("rc")
        g.append({"run": os.path.basename(p), "rc": rc,
                  "images_per_s": s["images_per_s_median"], "step_ms": s["step_ms_median"],
                  "versions": (s["versions"] or {}).get("line")})
    t = []
    for p in torch_runs:
        j = read_json(p, {})
        t.append({"run": os.path.basename(p), "images_per_s": j.get("images_per_s_median"),
                  "step_ms": j.get("step_ms_median"), "torch": j.get("torch"),
                  "device_name": j.get("device_name"), "error": j.get("error")})
    res["gan_dist"] = {"runs": g, "images_per_s_median": median([x["images_per_s"] for x in g]),
                       "step_ms_median": median([x["step_ms"] for x in g])}
    res["pytorch"] = {"runs": t, "images_per_s_median": median([x["images_per_s"] for x in t]),
                      "step_ms_median": median([x["step_ms"] for x in t])}
    gi, ti = res["gan_dist"]["images_per_s_median"], res["pytorch"]["images_per_s_median"]
    res["batch"] = a.batch
    res["warmup_steps"] = a.warmup
    # >1: gan_dist's step takes longer than PyTorch's
    res["ratio_gan_dist_step_time_over_pytorch"] = (ti / gi) if gi and ti else None
    res["definition"] = ("images/s = batch x 10 steps / wall time of each 10-step interval after "
                         "warm-up, median over intervals, then median over rounds; the ratio is "
                         "PyTorch images/s over gan_dist images/s (= gan_dist step time / PyTorch's)")
    ok = bool(gi) and bool(ti) and all(x["rc"] == 0 for x in g)
    res.update(status(ok))
    if not ok:
        res["why"] = ("no gan_dist figures" if not gi else "") + \
                     (" and " if not gi and not ti else "") + ("no PyTorch figures" if not ti else "") + \
                     ("; a gan_dist run failed" if any(x["rc"] != 0 for x in g) else "")
    write_json(a.out, res)


def cmd_eval_projection(a):
    """The scaling report's projection from the one-GPU run, per stated network: weak- and
    strong-scaling efficiency at a few world sizes and where adding ranks stops paying."""
    res = kv(a.pairs)
    nets, ok = {}, True
    for spec in a.nets.split(","):
        name, folder = spec.split("=", 1)
        path = os.path.join(folder, "projection.csv")
        if not os.path.exists(path):
            nets[name] = {"error": "no projection.csv (see the log next to it)"}
            ok = False
            continue
        with open(path) as f:
            rows = list(csv.DictReader(f))
        net = {"report": os.path.join("extras.tar.gz", os.path.basename(folder), "report.md"),
               "png": os.path.exists(os.path.join(folder, "scaling.png"))}
        for mode in ("weak", "strong"):
            sel = [r for r in rows if r["mode"] == mode]
            net[mode] = {r["ranks"]: round(float(r["efficiency"]), 3) for r in sel
                         if r["ranks"] in ("8", "64", "512")}
            below = [r for r in sel if float(r["efficiency"]) < a.min_efficiency]
            net[mode + "_stops_paying_at"] = (
                {"ranks": int(below[0]["ranks"]), "bound": below[0]["bound"]} if below else None)
        nets[name] = net
    res["networks"] = nets
    res["definition"] = ("benchmarks/scaling/report.py on the DCGAN-64 run of check d (its compute "
                         "times and the gradient messages more ranks would send) with each "
                         "network stated, not measured; efficiency against linear")
    res.update(status(ok))
    if not ok:
        res["why"] = "; ".join(f"{n}: {v['error']}" for n, v in nets.items() if "error" in v)
    write_json(a.out, res)


def cmd_assemble(a):
    out = kv(a.pairs)
    checks = {}
    for path in sorted(glob.glob(os.path.join(a.results, "*.json"))):
        name = os.path.splitext(os.path.basename(path))[0]
        checks[name] = read_json(path, {"status": "fail", "ok": False, "why": "unreadable result"})
    ordered = {k: checks[k] for k in CHECK_ORDER if k in checks}
    ordered.update({k: v for k, v in checks.items() if k not in ordered})
    summary = {k: v.get("status", "?") for k, v in ordered.items()}
    doc = {"schema": 1, "tool": "scripts/gpu-check.sh",
           "written": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")}
    doc.update(out)
    # The versions seen by python's torch and by gan_dist itself, side by side.
    env = ordered.get("env", {})
    tv = env.get("torch", {}) if isinstance(env.get("torch"), dict) else {}
    smi = env.get("nvidia_smi")
    gd = None
    for name in ("zoo", "dcgan64", "speed"):
        gd = gd or ordered.get(name, {}).get("gan_dist_versions")
    doc["versions"] = {
        "gpu": smi[0] if isinstance(smi, list) and smi else None,
        "python_torch": {k: tv.get(k) for k in ("version", "cuda", "cudnn", "nccl", "device")},
        "gan_dist": gd,
        "build_s": ordered.get("build", {}).get("build_s"),
    }
    doc["summary"] = summary
    doc["failed"] = [k for k, s in summary.items() if s == "fail"]
    doc["ok"] = not doc["failed"] and bool(summary)
    doc["checks"] = ordered
    write_json(a.out, doc)


def fmt(v, nd=4):
    if isinstance(v, float):
        return ("%." + str(nd) + "g") % v
    return str(v)


def cmd_report(a):
    d = read_json(a.file)
    if not d:
        print("no results")
        return
    c = d.get("checks", {})
    print("gpu-check (%s, %s/%s), %s s:" % (d.get("mode"), d.get("device"), d.get("backend"),
                                           d.get("wall_s")))
    env = c.get("env", {})
    tv = env.get("torch", {})
    smi = env.get("nvidia_smi")
    gpu = smi[0].get("name") if isinstance(smi, list) and smi else "no GPU"
    print("  env      %-5s %s, torch %s, CUDA %s, cuDNN %s, NCCL %s" % (
        env.get("status", "-"), gpu, tv.get("version"), tv.get("cuda"), tv.get("cudnn"), tv.get("nccl")))
    b = c.get("build", {})
    if b:
        print("  build    %-5s configure %s s, build %s s" % (b.get("status"), b.get("configure_s"),
                                                          b.get("build_s")))
    for name in ("smoke", "data"):
        if name in c:
            print("  %-8s %s" % (name, c[name].get("status")))
    z = c.get("zoo", {})
    if z:
        ms = z.get("models", {})
        print("  zoo      %-5s %d/%d models ok%s" % (z.get("status"), sum(1 for e in ms.values() if e.get("ok")),
                                                    len(ms), (" failed: " + ",".join(z.get("failed", []))) if z.get("failed") else ""))
    g = c.get("dcgan64", {})
    if g:
        print("  dcgan64  %-5s %s img/s, hist L1 ratio %s, moment RMSE ratio %s" % (
            g.get("status"), fmt(g.get("images_per_s_median")), fmt(g.get("histogram_l1_ratio")),
            fmt(g.get("moment_rmse_ratio"))))
    e = c.get("cpu_gpu", {})
    if e:
        print("  cpu_gpu  %-5s max abs %s, max rel %s%s" % (e.get("status"), fmt(e.get("max_abs")),
                                                          fmt(e.get("max_rel")),
                                                          (" failed: " + ",".join(e.get("failed_metrics", []))) if e.get("failed_metrics") else ""))
    r = c.get("resume", {})
    if r:
        print("  resume   %-5s bitwise %s (straight runs equal: %s)" % (
            r.get("status"), r.get("bitwise_equal"), r.get("straight_runs_equal")))
    s = c.get("speed", {})
    if s:
        print("  speed    %-5s gan_dist %s img/s, PyTorch %s img/s, step-time ratio %s" % (
            s.get("status"), fmt(s.get("gan_dist", {}).get("images_per_s_median")),
            fmt(s.get("pytorch", {}).get("images_per_s_median")),
            fmt(s.get("ratio_gan_dist_step_time_over_pytorch"))))
    pr = c.get("projection", {})
    for name, net in (pr.get("networks") or {}).items():
        if "weak" in net:
            print("  project  %-5s %s: weak efficiency %s, strong stops paying at %s" % (
                pr.get("status"), name, net["weak"], net.get("strong_stops_paying_at")))
    for name, v in c.items():
        why = v.get("why") or v.get("note") if v.get("status") in ("fail", "warn") else None
        if why:
            print("  %-8s %s: %s" % (name, v.get("status"), why))
    print("  => %s" % ("all passed" if d.get("ok") else "FAILED: " + ", ".join(d.get("failed", []))))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd")
    sub.required = True

    p = sub.add_parser("eval-projection")
    p.add_argument("--nets", required=True, help="NAME=FOLDER,... (report.py --out folders)")
    p.add_argument("--min-efficiency", type=float, default=0.5)
    p.add_argument("--out", required=True)
    p.add_argument("pairs", nargs="*")
    p.set_defaults(fn=cmd_eval_projection)

    p = sub.add_parser("put")
    p.add_argument("--out", required=True)
    p.add_argument("--merge", action="store_true")
    p.add_argument("pairs", nargs="*")
    p.set_defaults(fn=cmd_put)

    p = sub.add_parser("field")
    p.add_argument("file")
    p.add_argument("key")
    p.set_defaults(fn=cmd_field)

    p = sub.add_parser("to-json-list")
    p.add_argument("items", nargs="*")
    p.set_defaults(fn=cmd_to_json_list)

    p = sub.add_parser("help-models")
    p.add_argument("file")
    p.set_defaults(fn=cmd_help_models)

    p = sub.add_parser("env")
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("--repo")
    p.set_defaults(fn=cmd_env)

    p = sub.add_parser("torch-smoke")
    p.add_argument("--out", required=True)
    p.add_argument("--device", default="cuda")
    p.add_argument("pairs", nargs="*")
    p.set_defaults(fn=cmd_torch_smoke)

    p = sub.add_parser("build-summary")
    p.add_argument("--cache", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--deps")
    p.add_argument("--out", required=True)
    p.add_argument("pairs", nargs="*")
    p.set_defaults(fn=cmd_build_summary)

    p = sub.add_parser("make-data")
    p.add_argument("--kind", choices=["idx", "png"], required=True)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--n", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(fn=cmd_make_data)

    p = sub.add_parser("data-summary")
    p.add_argument("--out", required=True)
    p.add_argument("--d28", required=True)
    p.add_argument("--d64", required=True)
    p.add_argument("pairs", nargs="*")
    p.set_defaults(fn=cmd_data_summary)

    p = sub.add_parser("eval-zoo")
    p.add_argument("--dir", required=True)
    p.add_argument("--models", default=" ".join(DEFAULT_MODELS))
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("pairs", nargs="*")
    p.set_defaults(fn=cmd_eval_zoo)

    p = sub.add_parser("eval-dcgan64")
    p.add_argument("--run", required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--sample-every", type=int, default=100)
    p.add_argument("--dry", action="store_true", help="a short CPU run: learning is not required")
    p.add_argument("--out", required=True)
    p.add_argument("pairs", nargs="*")
    p.set_defaults(fn=cmd_eval_dcgan64)

    p = sub.add_parser("compare-trace")
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--steps", default="1,2")
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--atol", type=float, default=1e-4)
    p.add_argument("--out", required=True)
    p.add_argument("pairs", nargs="*")
    p.set_defaults(fn=cmd_compare_trace)

    p = sub.add_parser("eval-resume")
    p.add_argument("--straight", required=True)
    p.add_argument("--straight2", required=True)
    p.add_argument("--resumed", required=True)
    p.add_argument("--half", type=int, required=True)
    p.add_argument("--steps", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("pairs", nargs="*")
    p.set_defaults(fn=cmd_eval_resume)

    p = sub.add_parser("eval-speed")
    p.add_argument("--gan", default="")
    p.add_argument("--torch", default="")
    p.add_argument("--warmup", type=int, default=50)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--out", required=True)
    p.add_argument("pairs", nargs="*")
    p.set_defaults(fn=cmd_eval_speed)

    p = sub.add_parser("assemble")
    p.add_argument("--results", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("pairs", nargs="*")
    p.set_defaults(fn=cmd_assemble)

    p = sub.add_parser("report")
    p.add_argument("file")
    p.set_defaults(fn=cmd_report)

    a = ap.parse_args(argv)
    a.fn(a)


if __name__ == "__main__":
    main()
